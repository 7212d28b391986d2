"""The worker side of `deflicker batch --ray`: one engine per Ray actor, shots one at a time.

A worker is the engine's host, like the server: it loads the networks once when the actor starts and
then deflickers whole shots by path (inputs and outputs on storage every node mounts at the same
path), through the engine's public `Deflicker.process`, so a shot comes out as `deflicker run` makes
it and its output is written atomically. Errors the engine raises on purpose (a corrupt input, a bad
parameter) are final and come back as a failed result; anything else (a crash, storage trouble)
raises, so Ray retries the shot. `status()` and `cancel()` run on a thread of their own beside the
shot, for the driver's progress bar and for Ctrl-C.

`ShotWorker` is plain Python (tests use it without Ray); `ShotActor` is the same class as a Ray actor.
"""
from __future__ import annotations

import importlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

import ray

from .manifest import COUNTER


class EngineSpecError(ValueError):
    """An --engine value that does not name an importable `module:factory`."""


def make_engine(device: str, spec: Optional[str] = None) -> Any:
    """The real engine on `device`, or the factory named by `spec` ("package.module:callable") called with it.

    A factory returns an object with the engine's `process(input, output, analysis_params, render_params,
    progress, cancel)`; tests use one to inject faults, studios could wrap the engine.
    """
    if not spec:
        from deflicker_engine import Deflicker

        return Deflicker(device=device)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EngineSpecError(f"--engine '{spec}' must look like package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise EngineSpecError(f"cannot load engine '{spec}' on {socket.gethostname()}: {error}") from error
    return factory(device)


def missing_on_this_node(source: str) -> Optional[str]:
    """Why `source` cannot be seen from this node (shared storage not mounted here), or None."""
    path = Path(source)
    seen = path.parent if COUNTER.search(path.name) else path
    if seen.exists():
        return None
    return (f"{seen} does not exist on worker node {socket.gethostname()}: inputs and outputs must be on "
            f"storage that every node mounts at the same path")


class ShotWorker:
    """Holds one engine; deflickers one shot per `process` call."""

    def __init__(self, device: str = "cpu", engine_spec: Optional[str] = None) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `deflicker` does: spinning threads starve neighbours
        self.engine = make_engine(device, engine_spec)
        self.host = socket.gethostname()
        self._progress: Optional[Dict[str, Any]] = None
        self._cancel = threading.Event()

    def ready(self) -> Dict[str, Any]:
        """Where this worker runs; returning at all means its engine is loaded."""
        return {"host": self.host, "pid": os.getpid(), "node": _node_id(),
                "device": str(getattr(self.engine, "device", "?"))}

    def process(self, source: str, output: str, analysis_values: Dict[str, Any],
                render_values: Dict[str, Any]) -> Dict[str, Any]:
        """Deflicker `source` into `output`; a dict with status done | failed | cancelled."""
        from deflicker_engine import AnalysisParams, Cancelled, DeflickerError, RenderParams
        from deflicker_engine.config import from_dict

        started = time.monotonic()
        self._cancel.clear()
        self._progress = {"stage": "start", "done": 0, "total": 0, "frames": 0}
        place = {"host": self.host, "pid": os.getpid(), "node": _node_id()}
        try:
            missing = missing_on_this_node(source)
            if missing:
                return dict(place, status="failed", reason=missing, seconds=time.monotonic() - started)
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            analysis = self.engine.process(source, output, from_dict(AnalysisParams, analysis_values),
                                           from_dict(RenderParams, render_values), progress=self._on_progress,
                                           cancel=self._cancel)
        except Cancelled:
            return dict(place, status="cancelled", reason="cancelled", seconds=time.monotonic() - started)
        except DeflickerError as error:    # raised on purpose: trying again cannot help
            return dict(place, status="failed", reason=str(error) or type(error).__name__,
                        seconds=time.monotonic() - started)
        finally:
            self._progress = None
        return dict(place, status="done", frames=int(getattr(analysis, "count", 0)),
                    seconds=time.monotonic() - started)

    def status(self) -> Optional[Dict[str, Any]]:
        """The shot at hand: stage, done/total of that stage and frames rendered so far; None when idle."""
        return dict(self._progress) if self._progress else None

    def cancel(self) -> None:
        """Stop the shot at hand between frames; it leaves no output."""
        self._cancel.set()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        frames = done if stage == "render" else 0
        self._progress = {"stage": stage, "done": done, "total": total, "frames": frames}


def _node_id() -> str:
    # outside a worker (ShotWorker alone) asking would start a local Ray instance
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


@ray.remote(concurrency_groups={"control": 1})
class ShotActor(ShotWorker):
    """ShotWorker as a Ray actor: shots in the default group, status and cancel on their own thread."""

    @ray.method(retry_exceptions=True)
    def process(self, source: str, output: str, analysis_values: Dict[str, Any],
                render_values: Dict[str, Any]) -> Dict[str, Any]:
        return super().process(source, output, analysis_values, render_values)

    @ray.method(concurrency_group="control")
    def status(self) -> Optional[Dict[str, Any]]:
        return super().status()

    @ray.method(concurrency_group="control")
    def cancel(self) -> None:
        super().cancel()

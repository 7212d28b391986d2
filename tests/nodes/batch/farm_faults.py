"""An engine factory for the Ray workers that injects faults by shot name, around the real engine.

`deflicker batch --ray ... --engine tests.nodes.batch.farm_faults:engine` (the workers find this module on
PYTHONPATH). Each shot's tries are counted in a file beside it (shared storage), so the test can see
how often Ray ran it:

    crash*    the first try kills the worker process (Ray restarts the actor and retries the shot)
    flaky*    the first try raises RuntimeError (Ray retries the shot: retry_exceptions)
    always*   every try raises RuntimeError (retries run out; the shot is reported failed)
    hold*     waits until a file `release` appears beside the shot (so a test can kill the batch meanwhile),
              its worker's process id in a file beside the shot
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def tries_file(source: str) -> Path:
    path = Path(source)
    return path.parent / f".{path.name}.tries"


def holder_file(source: str) -> Path:
    """Where a held shot leaves the process id of the worker holding it."""
    path = Path(source)
    return path.parent / f".{path.name}.pid"


def tries(source: str) -> int:
    file = tries_file(source)
    return int(file.read_text()) if file.exists() else 0


class FaultyEngine:
    def __init__(self, device: str) -> None:
        from deflicker_engine import Deflicker

        self.real = Deflicker(device=device)
        self.device = self.real.device

    def process(self, source, output, analysis_params, render_params, progress=None, cancel=None):
        name = Path(source).name
        count = tries(source) + 1
        tries_file(source).write_text(str(count))
        if name.startswith("crash") and count == 1:
            os._exit(3)
        if name.startswith("flaky") and count == 1:
            raise RuntimeError("flaky storage: first read failed")
        if name.startswith("always"):
            raise RuntimeError(f"always fails (try {count})")
        if name.startswith("hold"):
            holder_file(source).write_text(str(os.getpid()))
            deadline = time.monotonic() + 300
            while not (Path(source).parent / "release").exists() and time.monotonic() < deadline:
                if cancel is not None and cancel.is_set():
                    break
                time.sleep(0.2)
        return self.real.process(source, output, analysis_params, render_params, progress=progress, cancel=cancel)


def engine(device: str) -> FaultyEngine:
    return FaultyEngine(device)

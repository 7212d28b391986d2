"""Shots through one server, one after another: open, analyse + render to the output, record.

The server writes each output atomically and keeps analyses in its cache, so a shot interrupted
half-way leaves nothing behind and costs little to redo. Every failure is caught per shot and
reported with its reason; only Ctrl-C stops the batch (and cancels the job on the server).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import deflicker_bridge as bridge

from .manifest import Manifest
from .shots import Shot

# what a progress display needs: start(shot), update(stage, done, total), end()
Display = Any


@dataclass
class Result:
    shot: Shot
    status: str                 # done | skipped | failed
    reason: str = ""
    seconds: float = 0.0
    frames: int = 0


class QuietDisplay:
    def start(self, shot: Shot, index: int, count: int) -> None: ...
    def update(self, stage: str, done: int, total: int) -> None: ...
    def end(self, result: Result) -> None: ...
    def close(self) -> None: ...


class TqdmDisplay:
    """An overall bar (shots) and a bar for the shot at hand (frames of its current stage)."""

    def __init__(self, count: int) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.overall = tqdm(total=count, unit="shot", desc="batch", position=0, dynamic_ncols=True)
        self.shot_bar = None

    def start(self, shot: Shot, index: int, count: int) -> None:
        self.shot_bar = self._tqdm(total=0, unit="frame", desc=shot.name, position=1, leave=False,
                                   dynamic_ncols=True)

    def update(self, stage: str, done: int, total: int) -> None:
        bar = self.shot_bar
        if bar is None:
            return
        if bar.total != total:
            bar.reset(total=total)
        bar.set_postfix_str(stage, refresh=False)
        bar.n = done
        bar.refresh()

    def end(self, result: Result) -> None:
        if self.shot_bar is not None:
            self.shot_bar.close()
            self.shot_bar = None
        self.overall.update(1)
        if result.status == "failed":
            self.overall.write(f"FAILED {result.shot.source}: {result.reason}", file=sys.stderr)

    def close(self) -> None:
        self.overall.close()


class LogDisplay:
    """Plain lines for a farm's log (stderr not a terminal): each shot's stages through the engine's
    ProgressPrinter (a line per stage, at most one every few seconds), then one line with its result."""

    def __init__(self, count: int, stream=None) -> None:
        from deflicker_engine.progress import ProgressPrinter

        self.printer = ProgressPrinter(stream)

    def start(self, shot: Shot, index: int, count: int) -> None:
        self.printer.reset(prefix=f"[{index + 1}/{count}] {shot.name}")

    def update(self, stage: str, done: int, total: int) -> None:
        self.printer(stage, done, total)

    def end(self, result: Result) -> None:
        if result.status == "failed":
            self.printer.prefix = ""
            self.printer.note(f"FAILED {result.shot.source}: {result.reason}")
        elif result.status == "done":
            self.printer.note(f"done, {result.frames} frames in {result.seconds:.1f} s")
        else:
            self.printer.note("skipped (already done)")

    def close(self) -> None: ...


def make_display(count: int, quiet: bool = False, stream=None) -> Display:
    """Nothing when quiet, bars on a terminal, plain lines in a log (see deflicker_engine.progress)."""
    from deflicker_engine.progress import is_terminal

    if quiet:
        return QuietDisplay()
    return TqdmDisplay(count) if is_terminal(stream or sys.stderr) else LogDisplay(count, stream)


def process_shot(conn: bridge.Connection, shot: Shot, params: Dict[str, Any],
                 progress: Callable[[str, int, int], None]) -> int:
    """Open, analyse and render one shot to its output on the server; returns its frame count."""
    Path(shot.output).parent.mkdir(parents=True, exist_ok=True)
    clip = conn.open(path=shot.source)
    try:
        pending = conn.submit("render", {"clip": clip.id, "params": params, "output": shot.output})
        try:
            result, _ = conn.wait(pending, None, progress)
        except KeyboardInterrupt:
            conn.cancel(pending)
            raise
        return int(result.get("frames", 0))
    finally:
        try:
            clip.close()
        except bridge.BridgeError:
            pass


def run_batch(conn: bridge.Connection, shots: List[Shot], params: Dict[str, Any], manifest: Manifest,
              force: bool = False, display: Optional[Display] = None) -> List[Result]:
    display = display or QuietDisplay()
    results = []
    try:
        for index, shot in enumerate(shots):
            display.start(shot, index, len(shots))
            started = time.monotonic()
            if shot.error:
                result = Result(shot, "failed", shot.error)
            elif not force and manifest.done(shot.source, shot.output, params):
                result = Result(shot, "skipped", "already done")
            else:
                try:
                    frames = process_shot(conn, shot, params, display.update)
                    result = Result(shot, "done", seconds=time.monotonic() - started, frames=frames)
                except bridge.BridgeError as error:
                    result = Result(shot, "failed", str(error) or type(error).__name__)
                except OSError as error:
                    result = Result(shot, "failed", f"cannot create {Path(shot.output).parent}: {error.strerror}")
            if result.status != "skipped":
                manifest.record(shot.source, shot.output, params, result.status, result.reason or None,
                                frames=result.frames, seconds=round(result.seconds, 3))
            display.end(result)
            results.append(result)
    finally:
        display.close()
    return results


def summary(results: List[Result]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    lines = [f"deflicker batch: {len(results)} shot(s): {counts['done']} done, {counts['skipped']} skipped "
             f"(already done), {counts['failed']} failed"]
    lines += [f"FAILED {r.shot.source}: {r.reason}" for r in results if r.status == "failed"]
    return "\n".join(lines)

"""Progress reporting and cancellation, shared by the CLI, the server (events), the batch and the nodes.

A job reports `progress(stage, done, total)` and polls `cancel.is_set()` between frames; a
`threading.Event` is a valid cancel token, and so is anything with an `is_set()` method.

How progress is *shown* is decided here, once, by `stage_progress()`: bars (tqdm) on a terminal, and
plain lines where stderr is a file or a pipe (render-farm logs): a line when a stage starts, at most one
line every few seconds while it runs, and a line when it completes. Carriage-return bar updates would
otherwise put thousands of "lines" into a farm's log for one shot.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Dict, Optional, Protocol, TextIO

from .errors import Cancelled

ProgressFn = Callable[[str, int, int], None]

DEFAULT_INTERVAL = 5.0          # seconds between two lines of one stage in a log
_UNITS = {"atlas": "steps"}     # what a stage counts; everything else counts frames


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """Default progress sink: report nothing."""


def check_cancel(cancel: Optional[CancelToken]) -> None:
    """Raise Cancelled if the caller asked to stop. Call between frames, never inside one."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the caller")


def unit_of(stage: str) -> str:
    """What `done`/`total` count for a stage ("frames", or "steps" for the atlas fit)."""
    return _UNITS.get(stage, "frames")


class StageProgress:
    """A progress sink with a lifetime: call it with (stage, done, total), `note` free text, `close` at the end.

    This base class shows nothing (quiet mode); subclasses show bars or log lines.
    """

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report that `done` of `total` units of `stage` are finished."""

    def note(self, message: str) -> None:
        """A line of text for the person or the log (summaries, per-shot results)."""

    def close(self) -> None:
        """Finish the display (close bars); safe to call twice."""

    def __enter__(self) -> "StageProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProgressPrinter(StageProgress):
    """Progress as plain lines for logs: one when a stage starts, at most one per `interval` seconds
    while it runs, and one when it completes.

    Stages that come back (each shot of a clip runs flow, atlas, filter and refine again, with counts
    that keep growing over the clip) print no new start line, so a long multi-shot reel stays short.
    `prefix` names the job in every line (a shot's name in a batch).
    """

    def __init__(self, stream: Optional[TextIO] = None, interval: float = DEFAULT_INTERVAL, prefix: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = float(interval)
        self.prefix = prefix
        self._clock = clock
        self._started: Dict[str, float] = {}
        self._finished: set = set()
        self._last_line = float("-inf")

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self._clock()
        if stage not in self._started:
            self._started[stage] = now
            self._line(f"{stage}: started ({total} {unit_of(stage)})", now)
            if not (total and done >= total):
                return
        if total and done >= total:
            if stage not in self._finished:
                self._finished.add(stage)
                self._line(f"{stage}: done, {done} {unit_of(stage)} in {now - self._started[stage]:.1f} s", now)
            return
        if now - self._last_line >= self.interval:
            percent = f" ({100.0 * done / total:.0f}%)" if total else ""
            self._line(f"{stage}: {done}/{total} {unit_of(stage)}{percent}, {now - self._started[stage]:.1f} s", now)

    def note(self, message: str) -> None:
        self._line(message, self._clock())

    def reset(self, prefix: Optional[str] = None) -> None:
        """Start over for another job (the next shot of a batch), optionally under another prefix."""
        self._started.clear()
        self._finished.clear()
        self._last_line = float("-inf")
        if prefix is not None:
            self.prefix = prefix

    def _line(self, text: str, now: float) -> None:
        self._last_line = now
        lead = f"{self.prefix}: " if self.prefix else ""
        print(f"{lead}{text}", file=self.stream, flush=True)


class ProgressBars(StageProgress):
    """One tqdm bar per stage on a terminal; a stage's bar is replaced when the next stage starts."""

    def __init__(self, stream: Optional[TextIO] = None, prefix: str = "") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.prefix = prefix
        self.stage: Optional[str] = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self._close_bar()
            from tqdm import tqdm

            self.stage = stage
            label = f"{self.prefix} {stage:>7}" if self.prefix else f"{stage:>7}"
            self.bar = tqdm(total=total, desc=label, unit=unit_of(stage)[:-1], file=self.stream, leave=False,
                            dynamic_ncols=True)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def note(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=self.stream)

    def close(self) -> None:
        self._close_bar()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = None


def is_terminal(stream: TextIO) -> bool:
    """True for an interactive terminal; False for files, pipes and streams without `isatty`."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def stage_progress(quiet: bool = False, stream: Optional[TextIO] = None, interval: float = DEFAULT_INTERVAL,
                   prefix: str = "") -> StageProgress:
    """The progress display for a command: nothing when quiet, bars on a terminal, log lines otherwise."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return StageProgress()
    if is_terminal(stream):
        return ProgressBars(stream, prefix)
    return ProgressPrinter(stream, interval, prefix)

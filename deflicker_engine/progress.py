"""Progress reporting and cancellation, shared by the CLI (tqdm), the server (events) and the nodes.

A job reports `progress(stage, done, total)` and polls `cancel.is_set()` between frames; a
`threading.Event` is a valid cancel token, and so is anything with an `is_set()` method.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol

from .errors import Cancelled

ProgressFn = Callable[[str, int, int], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """Default progress sink: report nothing."""


def check_cancel(cancel: Optional[CancelToken]) -> None:
    """Raise Cancelled if the caller asked to stop. Call between frames, never inside one."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the caller")

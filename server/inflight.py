"""Request ids in flight per session, for requests answered later than at once (opens on the probe
pool, puts on a stream's ingest thread); jobs are found in the queue itself.

A client matches replies to requests by id, so two requests in flight with one id would get
replies it cannot tell apart: whatever its kind, a request reusing an id still in flight is refused
with `duplicate-id`. An id is released just before its final reply is sent, so a client may reuse
it as soon as it has that reply.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Set

from .errors import RequestError


class InFlight:
    """Thread-safe: the I/O thread claims, the threads that send final replies release."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: Dict[str, Set[Any]] = {}

    def holds(self, session: str, rid: Any) -> bool:
        with self._lock:
            return rid in self._ids.get(session, ())

    def claim(self, session: str, rid: Any) -> None:
        """Mark `rid` in flight in `session`, or refuse it (duplicate-id)."""
        with self._lock:
            ids = self._ids.setdefault(session, set())
            if rid in ids:
                raise duplicate(rid)
            ids.add(rid)

    def release(self, session: str, rid: Any) -> None:
        with self._lock:
            ids = self._ids.get(session)
            if ids is not None:
                ids.discard(rid)
                if not ids:
                    del self._ids[session]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(ids) for ids in self._ids.values())


def duplicate(rid: Any) -> RequestError:
    return RequestError("duplicate-id", f"request id {rid!r} is already in flight in this session; use a new id "
                                        "for every request until its final reply")

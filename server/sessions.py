"""Who is connected: one session per client connection object, kept alive by its heartbeats.

A session that has been silent longer than the client timeout is gone (killed process, lost
network): the server cancels its jobs and closes its clips. Only the I/O thread uses this.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class Session:
    name: str
    identity: Optional[bytes] = None        # routing id of its request socket (changes on reconnect)
    client: str = ""
    created: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self) -> None:
        self._sessions: Dict[str, Session] = {}

    def touch(self, name: str, identity: Optional[bytes] = None, client: Optional[str] = None) -> Session:
        session = self._sessions.get(name)
        if session is None:
            session = self._sessions[name] = Session(name)
        session.last_seen = time.monotonic()
        if identity is not None:
            session.identity = identity
        if client:
            session.client = client[:200]
        return session

    def expire(self, timeout: float) -> List[Session]:
        """Remove and return the sessions silent for more than `timeout` seconds."""
        now = time.monotonic()
        gone = [s for s in self._sessions.values() if now - s.last_seen > timeout]
        for s in gone:
            del self._sessions[s.name]
        return gone

    def __len__(self) -> int:
        return len(self._sessions)

    def names(self) -> set:
        return set(self._sessions)

    def snapshot(self, only: Optional[str] = None) -> List[Dict[str, object]]:
        """Every session, or only the one named `only`."""
        now = time.monotonic()
        return [{"session": s.name[:12], "client": s.client, "idle": round(now - s.last_seen, 3),
                 "age": round(now - s.created, 3)} for s in self._sessions.values() if only in (None, s.name)]

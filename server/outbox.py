"""The one way other threads send to clients: a single FIFO that the I/O thread drains into the ROUTER.

ZeroMQ sockets are not thread-safe and the ROUTER belongs to the I/O thread. Every other thread
(device workers, probe pool, stream ingests) appends [identity, header, buffer...] to one queue and,
when it was empty, writes a byte to a pipe the I/O thread polls beside the ROUTER. One queue for
everyone keeps each request's messages in the order they were made even when its job moves between
threads (the compute lane, then the render lane): a per-thread socket into a fair-queued PULL could
let a job's final reply overtake its last frames. Buffers travel as the objects given (numpy arrays,
zmq frames): the ROUTER sends them with copy=False, so a rendered frame is never copied by us.
"""
from __future__ import annotations

import collections
import os
import threading
from typing import Any, Deque, Dict, List, Sequence

from . import wire


class Outbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Deque[List[Any]] = collections.deque()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._closed = False

    def fileno(self) -> int:
        """The end the I/O thread polls: readable when messages wait."""
        return self._read_fd

    def send(self, identity: bytes, header: Dict[str, Any], buffers: Sequence[Any] = ()) -> None:
        """Queue [identity, header, buffer...] for the ROUTER, from any thread. Never blocks."""
        message = [identity, wire.pack(header), *buffers]
        with self._lock:
            if self._closed:
                return
            wake = not self._pending
            self._pending.append(message)
            if wake:
                try:
                    os.write(self._write_fd, b"\0")
                except BlockingIOError:
                    pass    # the pipe is full of wake-ups already

    def take(self, limit: int) -> List[List[Any]]:
        """Up to `limit` queued messages, oldest first (the I/O thread calls this when woken)."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._lock:
            count = min(limit, len(self._pending))
            return [self._pending.popleft() for _ in range(count)]

    def waiting(self) -> int:
        with self._lock:
            return len(self._pending)

    def release(self) -> None:
        """Kept for threads that end (stream ingests): nothing per thread to free any more."""

    def close(self) -> None:
        """Stop taking messages; call once the threads that send have stopped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pending.clear()
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass

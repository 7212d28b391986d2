"""The one way worker threads send to clients: an inproc PUSH per thread into the I/O thread's PULL.

ZeroMQ sockets are not thread-safe and the ROUTER belongs to the I/O thread, so every other
thread gets its own PUSH socket (created on first use) and the I/O thread forwards what arrives
to the ROUTER. Buffers travel with copy=False end to end: a rendered frame is never copied by us.
"""
from __future__ import annotations

import threading
import uuid
from typing import Any, Dict, List, Sequence

import zmq

from . import wire


class Outbox:
    def __init__(self, context: zmq.Context) -> None:
        self._context = context
        self.address = f"inproc://deflicker-outbox-{uuid.uuid4().hex}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sockets: List[zmq.Socket] = []
        self._closed = False

    def receiver(self) -> zmq.Socket:
        """The PULL end, for the I/O thread (bind before any worker sends)."""
        sock = self._context.socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.bind(self.address)
        return sock

    def send(self, identity: bytes, header: Dict[str, Any], buffers: Sequence[Any] = ()) -> None:
        """Queue [identity, header, buffer...] for the ROUTER. Never blocks (no high-water mark)."""
        sock = getattr(self._local, "sock", None)
        if sock is None:
            with self._lock:
                if self._closed:
                    return
                sock = self._context.socket(zmq.PUSH)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.SNDHWM, 0)
                sock.connect(self.address)
                self._sockets.append(sock)
            self._local.sock = sock
        sock.send_multipart([identity, wire.pack(header), *buffers], copy=False)

    def release(self) -> None:
        """Close the calling thread's socket (threads that end, like stream ingests, call this so
        sockets do not pile up); what it sent is still delivered (linger)."""
        sock = getattr(self._local, "sock", None)
        if sock is None:
            return
        self._local.sock = None
        with self._lock:
            if sock in self._sockets:
                self._sockets.remove(sock)
                sock.close(linger=2000)

    def close(self) -> None:
        """Close every PUSH socket; call once the threads that used them have stopped."""
        with self._lock:
            self._closed = True
            for sock in self._sockets:
                sock.close(0)
            self._sockets.clear()

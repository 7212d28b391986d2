"""A heartbeat of its own: a background thread with its own socket pings the server every interval.

It runs beside whatever the host's thread is doing (a Nuke render, a long write), so the server
keeps this client's jobs alive, and the client learns that the server died or restarted (its
instance id changes) without waiting on a request. Sockets are not thread-safe: this thread owns
its socket from creation to close.
"""
import threading
import time

import zmq

from . import wire


class Heartbeat(threading.Thread):
    """Ping `address` every `interval` seconds; `silence()` is the time since the last answer."""

    def __init__(self, context, address, session, interval, configure_socket, version):
        threading.Thread.__init__(self, name="deflicker-bridge-heartbeat")
        self.daemon = True
        self._context = context
        self._address = address
        self._session = session
        self._interval = float(interval)
        self._configure = configure_socket
        self._version = version
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._last_seen = time.monotonic()
        self._instance = None

    def silence(self):
        """Seconds since the server last answered a heartbeat (or since the thread started)."""
        with self._lock:
            return time.monotonic() - self._last_seen

    def instance(self):
        """The server instance id of the last answer, None before the first one."""
        with self._lock:
            return self._instance

    def stop(self, timeout=2.0):
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self):
        sock = self._context.socket(zmq.DEALER)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 4)
            self._configure(sock)
            sock.connect(self._address)
            ping = wire.pack(wire.notice("heartbeat", self._session, self._version))
            while not self._stop_event.is_set():
                try:
                    sock.send(ping, zmq.NOBLOCK)
                except zmq.Again:
                    pass  # not connected yet or the server is gone: silence() grows
                self._drain(sock, time.monotonic() + self._interval)
        except zmq.ZMQError:
            pass  # the context was terminated under us: the connection is closing
        finally:
            sock.close(0)

    def _drain(self, sock, until):
        while not self._stop_event.is_set():
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            if not sock.poll(int(min(remaining, 0.1) * 1000) + 1):
                continue
            try:
                header = wire.unpack(sock.recv(zmq.NOBLOCK))
            except Exception:
                continue  # a bad answer is not a heartbeat
            if header.get("kind") == "heartbeat":
                with self._lock:
                    self._last_seen = time.monotonic()
                    self._instance = header.get("server")

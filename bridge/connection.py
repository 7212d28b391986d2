"""A connection to the deflicker server: requests with ids, streamed replies, heartbeats, reconnects.

One DEALER socket carries any number of requests in flight; every reply carries its request's id,
so replies of different requests are sorted into their own queues here. A separate heartbeat
thread (bridge.heartbeat) tells whether the server is alive; a request that the server stops
answering fails with ConnectionLost, and the socket is closed and reopened (Lazy Pirate), with
idempotent requests retried. Not thread-safe: use one Connection per thread (interrupt() excepted).
"""
import collections
import itertools
import os
import sys
import time
import uuid

import zmq

from . import wire
from .errors import (BridgeError, Cancelled, ConnectionLost, ProtocolError, RequestTimeout, ServerUnavailable,
                     server_error)
from .frames import Frame, as_frame
from .heartbeat import Heartbeat

DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"
CLIENT_NAME = "deflicker-bridge/1 (python {}.{})".format(sys.version_info[0], sys.version_info[1])
IDEMPOTENT = frozenset(["hello", "describe", "status", "open", "close", "echo"])
POLL_SLICE = 0.05


class CurveKeys(object):
    """CurveZMQ keys for a server that requires them: its public key and this client's key pair (z85)."""

    def __init__(self, server_public, client_public, client_secret):
        self.server_public = _as_bytes(server_public)
        self.client_public = _as_bytes(client_public)
        self.client_secret = _as_bytes(client_secret)

    @classmethod
    def from_files(cls, server_public_file, client_secret_file):
        """Load keys written by `deflicker serve --generate-keys` (zmq.auth certificate files)."""
        import zmq.auth
        server_public, _ = zmq.auth.load_certificate(server_public_file)
        client_public, client_secret = zmq.auth.load_certificate(client_secret_file)
        if client_secret is None:
            raise BridgeError("{} holds no secret key; pass the client's .key_secret file".format(client_secret_file))
        return cls(server_public, client_public, client_secret)


def _as_bytes(key):
    return key.encode("ascii") if isinstance(key, str) else bytes(key)


class Pending(object):
    """A request in flight: its id, and the messages that arrived for it and are not yet read."""

    __slots__ = ("rid", "op", "instance", "messages", "done", "lost", "cancelled", "interrupted")

    def __init__(self, rid, op, instance):
        self.rid = rid
        self.op = op
        self.instance = instance
        self.messages = collections.deque()
        self.done = False
        self.lost = None
        self.cancelled = False
        self.interrupted = False


class Connection(object):
    """Talk to one server. `timeout` bounds quick requests; long jobs wait while the server is alive."""

    def __init__(self, address=DEFAULT_ADDRESS, timeout=10.0, heartbeat_interval=1.0, heartbeat_timeout=6.0,
                 retries=2, curve=None, context=None, name=None):
        self.address = address
        self.timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.retries = retries
        self.curve = curve
        self.name = name or os.path.basename(sys.argv[0] or "python")
        self.session = uuid.uuid4().hex
        self.version = wire.PROTOCOL_VERSIONS[-1]
        self.server = None
        self._context = context or zmq.Context.instance()
        self._ids = itertools.count(1)
        self._pending = {}
        self._sock = None
        self._heart = None
        self._effect = None

    # ----------------------------------------------------------------- lifecycle
    def connect(self):
        """Open the sockets and say hello; raise ServerUnavailable when nobody answers."""
        if self._sock is None:
            self._sock = self._new_socket()
        if self._heart is None:
            self._heart = Heartbeat(self._context, self.address, self.session, self.heartbeat_interval,
                                    self._configure, self.version)
            self._heart.start()
        if self.server is None:
            try:
                self._hello()
            except (RequestTimeout, ConnectionLost) as error:
                raise ServerUnavailable("no deflicker server answers at {} ({})".format(self.address, error))
        return self.server

    def close(self):
        """Stop the heartbeat and close the sockets at once (LINGER 0): nothing is left queued."""
        if self._heart is not None:
            self._heart.stop()
            self._heart = None
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        for pending in self._pending.values():
            pending.lost = "the connection was closed"
        self._pending.clear()
        self.server = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def reset(self, reason="reconnecting"):
        """Lazy Pirate: drop the socket and every request in flight, reopen, and say hello again."""
        for pending in self._pending.values():
            pending.lost = reason
        self._pending.clear()
        if self._sock is not None:
            self._sock.close(0)
        self._sock = self._new_socket()
        self.server = None
        self._effect = None

    # ----------------------------------------------------------------- high level
    def describe(self):
        """The effect as the server describes it (clips, typed parameters, temporal needs)."""
        from .effect import Effect
        if self._effect is None:
            result, _ = self.call("describe")
            self._effect = Effect.from_describe(result)
        return self._effect

    def open(self, path=None, paths=None, frames=None, encoding=None, start=None, stop=None, fps=None):
        """Open a clip by path (file, folder or printf pattern), by a list of image paths, or by
        streaming `frames` (an iterable of numpy arrays / Frames) to the server. Returns a Clip."""
        from .clip import Clip
        return Clip.open(self, path=path, paths=paths, frames=frames, encoding=encoding, start=start,
                         stop=stop, fps=fps)

    def status(self):
        result, _ = self.call("status")
        return result

    def shutdown(self):
        """Ask the server to stop (it cancels every job first)."""
        result, _ = self.call("shutdown")
        return result

    def echo(self, frames, timeout=None):
        """Send frames and get the same frames back: a check (and benchmark) of the transport alone."""
        _, back = self.call("echo", frames=frames, timeout=timeout)
        return back

    # ----------------------------------------------------------------- requests
    def call(self, op, args=None, frames=(), timeout=-1, progress=None):
        """Send a request and wait for its final reply: (result map, frames). Idempotent requests are
        retried on a fresh socket when the server does not answer. timeout=-1: the default for `op`."""
        if timeout == -1:
            timeout = self.timeout if op in IDEMPOTENT or op in ("cancel", "shutdown", "put") else None
        attempts = self.retries + 1 if op in IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                pending = self.submit(op, args, frames)
                return self.wait(pending, timeout, progress)
            except (ConnectionLost, RequestTimeout) as error:
                if attempt + 1 >= attempts:
                    raise
                self.reset("retrying {} after: {}".format(op, error))

    def submit(self, op, args=None, frames=()):
        """Send a request without waiting; read its messages with events() or wait()."""
        if op != "hello":
            self._ensure_ready()
        frames = [as_frame(f) for f in frames]
        rid = next(self._ids)
        version = wire.PROTOCOL_VERSIONS[0] if op == "hello" else self.version   # hello always speaks v1
        header = wire.request(op, rid, self.session, version, args, [f.descriptor() for f in frames])
        # a request is lost if the server instance changes under it (hello itself learns the instance)
        instance = None if op == "hello" else (self.server or {}).get("instance")
        pending = Pending(rid, op, instance)
        self._pending[rid] = pending
        try:
            self._send([wire.pack(header)] + [f.buffer for f in frames], "request {} ({})".format(rid, op))
        except RequestTimeout:
            self._pending.pop(rid, None)
            raise
        return pending

    def wait(self, pending, timeout=None, progress=None):
        """Read `pending` to its end: progress goes to `progress(stage, done, total)`; frames that
        arrive as events are dropped (use events() for streams). Returns (result, frames)."""
        for header, frames in self.events(pending, timeout):
            if header.get("kind") == "progress" and progress is not None:
                progress(header.get("stage", ""), header.get("done", 0), header.get("total", 0))
            elif header.get("kind") == "ok":
                return header.get("result") or {}, frames
        raise ProtocolError("request {} ended without a final reply".format(pending.rid))

    def events(self, pending, timeout=None):
        """Yield (header, frames) for every message of `pending`, the final "ok" last; an "error"
        final raises the matching ServerError. `timeout` bounds the whole request (None: no bound,
        but the server must stay alive)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                header, frames = self._next(pending, deadline)
                kind = header.get("kind")
                if kind == "error":
                    pending.done = True
                    error = header.get("error") or {}
                    raise server_error(str(error.get("code", "error")), str(error.get("message", "server error")))
                yield header, frames
                if kind == "ok":
                    pending.done = True
                    return
        finally:
            if pending.done or pending.lost:
                self._pending.pop(pending.rid, None)

    def cancel(self, pending, wait=True):
        """Ask the server to cancel a request in flight; its own final reply will be 'cancelled'."""
        if pending.done or pending.lost or self._sock is None:
            return False
        self._pending.pop(pending.rid, None)  # late messages of the cancelled request are dropped
        pending.lost, pending.cancelled = "cancelled by the client", True
        try:
            reply = self.submit("cancel", {"request": pending.rid})
            if not wait:
                self._pending.pop(reply.rid, None)
                return True
            result, _ = self.wait(reply, self.timeout)
            return bool(result.get("cancelled"))
        except BridgeError:
            return False

    def interrupt(self, pending):
        """The one call another thread may make: the thread waiting on `pending` raises Cancelled
        within a poll slice and should then call cancel() itself to tell the server."""
        pending.interrupted = True

    def credit(self, pending, frames=1):
        """Let the server send `frames` more frames of a streamed render (flow control)."""
        if pending.done or pending.lost or self._sock is None:
            return
        header = wire.notice("credit", self.session, self.version, {"request": pending.rid, "frames": int(frames)})
        self._send([wire.pack(header)], "credit for request {}".format(pending.rid))

    # ----------------------------------------------------------------- internals
    def _hello(self):
        pending = self.submit("hello", {"versions": list(wire.PROTOCOL_VERSIONS), "client": CLIENT_NAME,
                                        "name": self.name})
        result, _ = self.wait(pending, self.timeout)
        version = result.get("version")
        if version not in wire.PROTOCOL_VERSIONS:
            raise ProtocolError("the server speaks protocol {} and this bridge {}".format(
                result.get("versions"), list(wire.PROTOCOL_VERSIONS)))
        self.version = version
        self.server = result

    def _ensure_ready(self):
        if self._sock is None or self._heart is None or self.server is None:
            self.connect()
            return
        instance = self._heart.instance()
        if instance is not None and instance != self.server.get("instance"):
            self.reset("the server restarted")
            self.connect()

    def _configure(self, sock):
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        if self.curve is not None:
            sock.curve_serverkey = self.curve.server_public
            sock.curve_publickey = self.curve.client_public
            sock.curve_secretkey = self.curve.client_secret

    def _send(self, parts, what):
        """Send one message; a socket with no peer to take it (a server that refused this client's CURVE
        keys drops the connection) would block for ever, so the send is bounded by `timeout`."""
        try:
            self._sock.send_multipart(parts, copy=False)
        except zmq.Again:
            raise RequestTimeout("the server at {} did not take {} within {} s (is it running, and does it accept "
                                 "this client's keys?)".format(self.address, what, self.timeout))

    def _new_socket(self):
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.SNDTIMEO, -1 if self.timeout is None else int(self.timeout * 1000))
        self._configure(sock)
        sock.connect(self.address)
        return sock

    def _next(self, pending, deadline):
        while not pending.messages:
            if pending.interrupted and not pending.cancelled:
                raise Cancelled("request {} ({}) was interrupted".format(pending.rid, pending.op), "cancelled")
            if pending.cancelled:
                raise Cancelled("request {} ({}) was cancelled by this client".format(pending.rid, pending.op),
                                "cancelled")
            if pending.lost:
                raise ConnectionLost("request {} ({}) was lost: {}".format(pending.rid, pending.op, pending.lost))
            self._check_alive(pending)
            slice_s = POLL_SLICE
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RequestTimeout("no reply to {} from {} within the time limit".format(pending.op,
                                                                                             self.address))
                slice_s = min(slice_s, remaining)
            self._pump(slice_s)
        return pending.messages.popleft()

    def _check_alive(self, pending):
        silence = self._heart.silence()
        if silence > self.heartbeat_timeout:
            reason = "no heartbeat from {} for {:.0f} s".format(self.address, silence)
            self.reset(reason)
            raise ConnectionLost("request {} ({}) was lost: {}".format(pending.rid, pending.op, reason))
        instance = self._heart.instance()
        if pending.instance is not None and instance is not None and instance != pending.instance:
            reason = "the server restarted"
            self.reset(reason)
            raise ConnectionLost("request {} ({}) was lost: {}".format(pending.rid, pending.op, reason))

    def _pump(self, timeout_s):
        """Receive at most one message and file it under its request id."""
        if not self._sock.poll(max(1, int(timeout_s * 1000))):
            return
        parts = self._sock.recv_multipart(copy=False)
        header = wire.unpack(parts[0].buffer)
        pending = self._pending.get(header.get("id"))
        if pending is None:
            return  # a late reply to a request that was cancelled or given up on
        frames = []
        descriptors = header.get("parts") or []
        if len(descriptors) != len(parts) - 1:
            raise ProtocolError("the server sent {} buffers for {} descriptors".format(len(parts) - 1,
                                                                                      len(descriptors)))
        for desc, part in zip(descriptors, parts[1:]):
            shape, dtype = wire.check_part(desc, len(part))
            frames.append(Frame(part.buffer, shape, dtype, header.get("index"), owner=part))
        pending.messages.append((header, frames))

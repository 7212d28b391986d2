"""The server: binds the ROUTER socket, owns it on one I/O thread, and wires the parts together.

Threads: this I/O thread (the ROUTER, the outbox PULL, sessions, dispatch), one device worker
(heavy compute from the fair queue), a small probe pool (opening clips: file headers, fingerprints)
and one ingest thread per streamed clip upload. Only this thread touches the ROUTER; the others
send through the outbox. Any failure while handling a message becomes an error reply: nothing a
client sends can stop the loop.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

import zmq

from deflicker_engine.errors import DeflickerError, ParameterError

from . import handlers, wire
from .cache import AnalysisCache
from .clips import ClipRegistry
from .config import ServerConfig
from .effect import effect_description
from .engine_adapter import load_engine
from .errors import RequestError, error_code
from .jobs import FairQueue
from .outbox import Outbox
from .security import CurveGuard, Roots, check_bind
from .sessions import Sessions
from .tasks import TaskContext
from .worker import DeviceWorker

log = logging.getLogger("deflicker.server")

SERVER_VERSION = "0.1.0"
BATCH = 128                 # messages handled per socket per loop turn, so neither direction starves
HOUSEKEEPING_S = 0.25
SEND_HWM = 100_000          # messages queued for one peer


class Server:
    def __init__(self, config: ServerConfig, engine: Any = None) -> None:
        self.config = config
        self.limits = config.limits
        self.instance = uuid.uuid4().hex
        self.engine = engine
        self.roots = Roots(config.roots)
        self.sessions = Sessions()
        self.clips = ClipRegistry()
        self.queue = FairQueue()
        self.context = zmq.Context()
        self.outbox = Outbox(self.context)
        self.ready = threading.Event()
        self.endpoint: Optional[str] = None
        self.started_at = time.time()
        self.stop_reason = ""
        self._stop = threading.Event()
        self._idle_since: Optional[float] = None

    # ----------------------------------------------------------------------------- lifecycle
    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to end (thread-safe; signal handlers call it too)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def run(self) -> None:
        """Bind, load the engine, serve until asked to stop, then cancel everything and close."""
        router = pull = light = worker = guard = None
        try:
            curve = check_bind(self.config.bind, self.config.curve_secret_file, self.config.curve_clients_dir)
            if self.config.require_curve and not curve:
                raise ParameterError("--require-curve needs --curve-secret and --curve-clients")
            if curve:
                guard = CurveGuard(self.context, self.config.curve_secret_file, self.config.curve_clients_dir)
            router = self._bind(guard)
            if self.engine is None:
                log.info("loading the engine on device '%s'", self.config.device)
                self.engine = load_engine(self.config.engine, self.config.device)
            self.cache = AnalysisCache(self.config.analyses_dir, self.config.memory_budget_bytes, self.engine.save,
                                       self.engine.load)
            swept = self.cache.sweep()
            if swept:
                log.info("removed %d partial cache files left by an earlier server", swept)
            self.tasks = TaskContext(self.engine, self.cache, self.clips, self.queue, self.outbox)
            self.effect = effect_description(self.engine, SERVER_VERSION)
            pull = self.outbox.receiver()
            worker = self.worker = DeviceWorker(self.queue, self.outbox, self.engine.device)
            light = self.light = ThreadPoolExecutor(2, thread_name_prefix="probe")
            worker.start()
            log.info("deflicker server %s listening on %s (device %s, cache %s, roots %s, curve %s)", self.instance[:8],
                     self.endpoint, self.engine.device, self.config.cache_dir,
                     ", ".join(str(r) for r in self.roots) or "none", "on" if curve else "off")
            self.ready.set()
            self._loop(router, pull)
        finally:
            self._close(router, pull, worker, light, guard)

    def _bind(self, guard: Optional[CurveGuard]) -> zmq.Socket:
        router = self.context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # frames are bounded by credit; the high-water mark only stops a peer that never reads
        # from growing the server's memory (its messages beyond it are dropped)
        router.setsockopt(zmq.SNDHWM, SEND_HWM)
        router.setsockopt(zmq.MAXMSGSIZE, max(self.limits.max_part_bytes, self.limits.max_header_bytes))
        router.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        if guard is not None:
            guard.secure(router)
        try:
            router.bind(self.config.bind)
        except zmq.ZMQError as error:
            router.close(0)
            raise DeflickerError(f"cannot bind {self.config.bind}: {error}; is another server running there?") from None
        self.endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        return router

    def _close(self, router, pull, worker, light, guard) -> None:
        log.info("stopping: %s", self.stop_reason or "error at startup")
        for job in self.queue.all():
            self.queue.cancel(job)
        if worker is not None:
            worker.stop()
        if light is not None:
            light.shutdown(wait=True, cancel_futures=True)
        for record in self.clips.all():
            self.clips.remove(record.id)
        if pull is not None and router is not None:
            self._forward(router, pull)        # the final replies of cancelled jobs
        self.outbox.close()
        for sock in (pull, router):
            if sock is not None:
                sock.close(linger=500 if sock is router else 0)
        if guard is not None:
            guard.stop()
        self.context.term()
        log.info("stopped")

    # ----------------------------------------------------------------------------- the loop
    def _loop(self, router: zmq.Socket, pull: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        next_housekeeping = 0.0
        while not self._stop.is_set():
            events = dict(poller.poll(100))
            if pull in events:
                self._forward(router, pull)
            if router in events:
                self._receive(router)
            now = time.monotonic()
            if now >= next_housekeeping:
                next_housekeeping = now + HOUSEKEEPING_S
                self._housekeeping(now)

    def _receive(self, router: zmq.Socket) -> None:
        for _ in range(BATCH):
            try:
                message = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                self._handle(router, message)
            except Exception:  # last line of defence: log and keep serving
                log.exception("unexpected error while handling a message")

    def _forward(self, router: zmq.Socket, pull: zmq.Socket) -> None:
        for _ in range(BATCH):
            try:
                message = pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._send(router, message)

    def _send(self, router: zmq.Socket, message: List[Any]) -> None:
        identity = message[0].bytes if hasattr(message[0], "bytes") else message[0]
        try:
            router.send_multipart(message, copy=False, flags=zmq.NOBLOCK)
        except zmq.Again:
            log.warning("dropped a message for %s: it does not read its replies", identity.hex()[:12])
        except zmq.ZMQError as error:
            if error.errno == zmq.EHOSTUNREACH:
                self._peer_gone(identity)
            else:
                log.warning("could not send to %s: %s", identity.hex()[:12], error)

    def _reply(self, router: zmq.Socket, identity: bytes, header: Dict[str, Any], buffers: List[Any] = ()) -> None:
        self._send(router, [identity, wire.pack(header), *buffers])

    def _handle(self, router: zmq.Socket, message: List[Any]) -> None:
        identity = message[0].bytes
        if len(message) < 2:
            self._reply(router, identity, wire.error_reply(None, "bad-request", "empty message: a header is required"))
            return
        try:
            request = wire.decode([identity, *message[1:]], self.limits)
        except RequestError as error:
            log.info("rejected a message from %s: %s", identity.hex()[:12], error)
            self._reply(router, identity, wire.error_reply(error.rid, error.code, str(error)))
            return
        self.sessions.touch(request.session, identity if request.op != "heartbeat" else None)
        try:
            answer = handlers.HANDLERS[request.op](self, request)
        except (RequestError, DeflickerError) as error:
            answer = None
            if request.rid is not None:
                self._reply(router, identity, wire.error_reply(request.rid, error_code(error), str(error)))
        except Exception as error:
            log.exception("handler of %s failed", request.op)
            answer = None
            if request.rid is not None:
                self._reply(router, identity, wire.error_reply(request.rid, "internal",
                                                               f"internal error: {type(error).__name__}: {error}"))
        for header, buffers in ([answer] if isinstance(answer, tuple) else answer or []):
            self._reply(router, identity, header, buffers)

    # ----------------------------------------------------------------------------- sessions
    def _housekeeping(self, now: float) -> None:
        for session in self.sessions.expire(self.config.client_timeout):
            self._drop_session(session.name)
        alive = self.sessions.names()
        for record in self.clips.all():
            if record.session not in alive:
                self.clips.remove(record.id)
        if self.config.idle_exit:
            busy = len(self.sessions) or self.queue.all() or len(self.clips)
            if busy:
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = now
            elif now - self._idle_since > self.config.idle_exit:
                self.request_stop(f"idle for {self.config.idle_exit:.0f} s")

    def _drop_session(self, name: str) -> None:
        jobs, clips = self.queue.of_session(name), self.clips.of_session(name)
        if jobs or clips:
            log.info("session %s went silent: cancelling %d job(s), closing %d clip(s)", name[:12], len(jobs),
                     len(clips))
        for job in jobs:
            self.queue.cancel(job)
        for record in clips:
            self.clips.remove(record.id)

    def _peer_gone(self, identity: bytes) -> None:
        jobs = self.queue.of_identity(identity)
        if jobs:
            log.info("client %s is gone; cancelling %d job(s)", identity.hex()[:12], len(jobs))
        for job in jobs:
            self.queue.cancel(job)

    # ----------------------------------------------------------------------------- for handlers
    def queue_job(self, request: wire.Request, op: str, body: Callable, label: str, credit: int = 0):
        handlers.queue_guard(self, request)
        job = handlers.make_job(request, op, body, label, credit)
        self.queue.push(job)
        return job

    def submit_light(self, request: wire.Request, work: Callable[[], Dict[str, Any]]) -> None:
        """Run `work` on the probe pool; its result (or error) becomes the request's final reply."""
        def run() -> None:
            try:
                header = handlers.light_reply(request, work())
            except BaseException as error:
                if not isinstance(error, DeflickerError):
                    log.exception("%s failed", request.op)
                header = handlers.light_reply(request, error=error)
            self.outbox.send(request.identity, header)
        self.light.submit(run)

    def ack_put(self, token: Any, error: Optional[BaseException]) -> None:
        identity, rid, clip_id, version = token
        if error is not None:
            header = wire.error_reply(rid, error_code(error), str(error) or type(error).__name__)
        else:
            try:
                record = self.clips.get(clip_id)
                result = {"clip": clip_id, "received": record.ingest.written if record.ingest else 0,
                          "ready": record.ready, "info": record.describe(self.engine)}
                header = wire.reply(rid, "ok", version, result=result)
            except RequestError as missing:
                header = wire.error_reply(rid, missing.code, str(missing))
        self.outbox.send(identity, header)

    def hello_info(self, version: int) -> Dict[str, Any]:
        return {
            "version": version, "versions": list(wire.PROTOCOL_VERSIONS),
            "server": f"deflicker-server/{SERVER_VERSION}",
            "instance": self.instance, "pid": os.getpid(), "device": self.engine.device,
            "engine": self.engine.engine_id,
            "capabilities": {"stream_frames": True, "paths": True, "render_to_path": True, "echo": True,
                             "dtypes": sorted(wire.DTYPE_SIZES), "curve": self.config.curve_secret_file is not None},
            "limits": {"max_header_bytes": self.limits.max_header_bytes, "max_parts": self.limits.max_parts,
                       "max_part_bytes": self.limits.max_part_bytes,
                       "max_message_bytes": self.limits.max_message_bytes, "max_window": self.limits.max_window,
                       "max_in_flight": self.limits.max_in_flight, "max_puts_pending": self.limits.max_puts_pending,
                       "max_clips": self.limits.max_clips},
            "heartbeat": {"interval": self.config.heartbeat_interval, "timeout": self.config.client_timeout},
            "roots": [str(r) for r in self.roots],
        }

    def status(self) -> Dict[str, Any]:
        jobs = self.queue.all()
        current = getattr(getattr(self, "worker", None), "current", None)
        return {
            "server": f"deflicker-server/{SERVER_VERSION}", "instance": self.instance, "pid": os.getpid(),
            "endpoint": self.endpoint, "device": self.engine.device, "engine": self.engine.engine_id,
            "uptime": round(time.time() - self.started_at, 3), "cache_dir": str(self.config.cache_dir),
            "roots": [str(r) for r in self.roots],
            "memory": self.cache.snapshot(),
            "clips": [r.describe(self.engine) | {"session": r.session[:12], "names": None} for r in self.clips.all()],
            "jobs": [j.snapshot() for j in jobs],
            "running": current.rid if current is not None else None,
            "sessions": self.sessions.snapshot(),
        }

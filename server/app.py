"""The server: binds the ROUTER socket, owns it on one I/O thread, and wires the parts together.

Threads: this I/O thread (the ROUTER, the outbox, sessions, dispatch, housekeeping), two device
workers (the compute lane, and a render lane for jobs whose analysis is cached), a small probe pool
(opening clips: file headers, fingerprints; each open bounded in time) and one ingest thread per
streamed clip upload. Only this thread touches the ROUTER; the others send through the outbox (one
FIFO, so a job's messages keep their order whichever thread made them). Any failure while handling
a message becomes an error reply: nothing a client sends can stop the loop.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
import uuid
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
from .inflight import InFlight, duplicate
from .jobs import FairQueue, Job, make_job
from .outbox import Outbox
from .probes import ProbePool
from .security import CurveGuard, Roots, check_bind
from .sessions import Sessions
from .tasks import TaskContext
from .worker import COMPUTE, RENDER, SHUTTING_DOWN, DeviceWorker

log = logging.getLogger("deflicker.server")

SERVER_VERSION = "0.1.0"
BATCH = 128                 # messages handled per socket per loop turn, so neither direction starves
HOUSEKEEPING_S = 0.25
SEND_HWM = 100_000          # messages queued for one peer
REJECTIONS_LOGGED = 20      # unreadable messages logged one by one per housekeeping turn; the rest are counted
TRIM_EVERY_S = 10.0         # how often freed C heap (libzmq buffers, numpy temporaries) goes back to the system


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
        self.inflight = InFlight()
        self.context = zmq.Context()
        self.outbox = Outbox()
        self.ready = threading.Event()
        self.endpoint: Optional[str] = None
        self.started_at = time.time()
        self.stop_reason = ""
        self._stop = threading.Event()
        self._idle_since: Optional[float] = None
        self._rejections = {"logged": 0, "quiet": 0}
        self._next_trim = time.monotonic() + TRIM_EVERY_S

    # ----------------------------------------------------------------------------- lifecycle
    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to end (thread-safe; signal handlers call it too)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def run(self) -> None:
        """Bind, load the engine, serve until asked to stop, then cancel everything and close."""
        router = light = guard = None
        workers: List[DeviceWorker] = []
        try:
            curve = check_bind(self.config.bind, self.config.curve_secret_file, self.config.curve_clients_dir)
            if self.config.require_curve and not curve:
                raise ParameterError("--require-curve needs --curve-secret and --curve-clients")
            if curve:
                guard = CurveGuard(self.context, self.config.curve_secret_file, self.config.curve_clients_dir)
            router = self.router = self._bind(guard)
            if self.engine is None:
                log.info("loading the engine on device '%s'", self.config.device)
                self.engine = load_engine(self.config.engine, self.config.device)
            self.cache = AnalysisCache(self.config.analyses_dir, self.config.memory_budget_bytes,
                                       self.engine.open_analysis, self.config.disk_budget_bytes)
            swept = self.cache.sweep()
            if swept:
                log.info("removed %d partial cache files left by an earlier server", swept)
            unfinished = self.cache.snapshot()["disk_unfinished"]
            if unfinished:
                log.info("%d unfinished analyses on disk: each resumes from its chunks when a client asks for it",
                         unfinished)
            self.tasks = TaskContext(self.engine, self.cache, self.clips, self.queue, self.outbox, self.roots)
            self.effect = effect_description(self.engine, SERVER_VERSION)
            workers = self.workers = [DeviceWorker(self.queue, self.outbox, self.engine.device, lane)
                                      for lane in (COMPUTE, RENDER)]
            light = self.light = ProbePool(2, self.config.probe_timeout)
            for worker in workers:
                worker.start()
            log.info("deflicker server %s listening on %s (device %s, cache %s, roots %s, curve %s)", self.instance[:8],
                     self.endpoint, self.engine.device, self.config.cache_dir,
                     ", ".join(str(r) for r in self.roots) or "none", "on" if curve else "off")
            self.ready.set()
            self._loop(router)
        finally:
            self._close(router, workers, light, guard)

    def _bind(self, guard: Optional[CurveGuard]) -> zmq.Socket:
        router = self.context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # frames are bounded by credit; the high-water mark only stops a peer that never reads
        # from growing the server's memory (its messages beyond it are dropped)
        router.setsockopt(zmq.SNDHWM, SEND_HWM)
        router.setsockopt(zmq.MAXMSGSIZE, max(self.limits.max_part_bytes, self.limits.max_header_bytes))
        # Dead TCP peers are dropped by kernel keepalives, not ZMTP heartbeats: libzmq 4.3 aborts the whole
        # process (assertion !_io_error, zeromq/libzmq#3937, #4364) when a heartbeat times out on a peer
        # whose input is stopped at the high-water mark, which is what a client flooding the server causes.
        # Sessions have heartbeats of their own (docs/protocol.md).
        for option, value in ((zmq.TCP_KEEPALIVE, 1), (zmq.TCP_KEEPALIVE_IDLE, 10), (zmq.TCP_KEEPALIVE_INTVL, 2),
                              (zmq.TCP_KEEPALIVE_CNT, 3)):
            router.setsockopt(option, value)
        if guard is not None:
            guard.secure(router)
        try:
            router.bind(self.config.bind)
        except zmq.ZMQError as error:
            router.close(0)
            raise DeflickerError(f"cannot bind {self.config.bind}: {error}; is another server running there?") from None
        self.endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        return router

    def _close(self, router, workers, light, guard) -> None:
        log.info("stopping: %s", self.stop_reason or "error at startup")
        for job in self.queue.all():
            self.queue.cancel(job, SHUTTING_DOWN)
        for worker in workers:
            worker.stop()
        if light is not None:
            light.shutdown()
        for record in self.clips.all():
            self.clips.remove(record.id)
        if router is not None:
            while self.outbox.waiting():
                self._forward(router)          # the final replies of cancelled jobs
        self.outbox.close()
        if router is not None:
            router.close(linger=500)
        if guard is not None:
            guard.stop()
        self.context.term()
        log.info("stopped")

    # ----------------------------------------------------------------------------- the loop
    def _loop(self, router: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(self.outbox.fileno(), zmq.POLLIN)
        next_housekeeping = 0.0
        while not self._stop.is_set():
            events = dict(poller.poll(0 if self.outbox.waiting() else 100))
            if self.outbox.fileno() in events or self.outbox.waiting():
                self._forward(router)
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

    def _forward(self, router: zmq.Socket) -> None:
        for message in self.outbox.take(BATCH):
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
            self._log_rejection(identity, error)
            self._reply(router, identity, wire.error_reply(error.rid, error.code, str(error)))
            return
        self.sessions.touch(request.session, identity if request.op != "heartbeat" else None)
        try:
            if request.rid is not None and (self.inflight.holds(request.session, request.rid)
                                            or self.queue.find(request.session, request.rid) is not None):
                raise duplicate(request.rid)
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
    def _log_rejection(self, identity: bytes, error: RequestError) -> None:
        """A client sending garbage as fast as it can must not turn the log into its copy."""
        if self._rejections["logged"] < REJECTIONS_LOGGED:
            self._rejections["logged"] += 1
            log.info("rejected a message from %s: %s", identity.hex()[:12], error)
        else:
            self._rejections["quiet"] += 1

    def _housekeeping(self, now: float) -> None:
        if now >= self._next_trim:
            self._next_trim = now + TRIM_EVERY_S
            trim_heap()
        if self._rejections["quiet"]:
            log.info("rejected %d more unreadable messages (not logged one by one)", self._rejections["quiet"])
        self._rejections.update(logged=0, quiet=0)
        for session in self.sessions.expire(self.config.client_timeout):
            self._drop_session(session.name)
        for job in self.queue.stalled(self.config.credit_timeout):
            log.info("render %s of session %s got no credit for %.0f s; cancelling it", job.rid, job.session[:12],
                     self.config.credit_timeout)
            self.queue.cancel(job, f"cancelled: the client asked for no frame for {self.config.credit_timeout:g} s "
                                   "(no credit); it stopped reading or is gone")
        self.light.check()
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
            self.queue.cancel(job, f"cancelled: the client sent nothing for {self.config.client_timeout:g} s")
        for record in clips:
            self.clips.remove(record.id)

    def _peer_gone(self, identity: bytes) -> None:
        jobs = self.queue.of_identity(identity)
        if jobs:
            log.info("client %s is gone; cancelling %d job(s)", identity.hex()[:12], len(jobs))
        for job in jobs:
            self.queue.cancel(job, "cancelled: the client's socket is gone")

    # ----------------------------------------------------------------------------- for handlers
    def queue_job(self, request: wire.Request, op: str, body: Callable, label: str, credit: int = 0,
                  cached: Optional[Callable[[], bool]] = None) -> Job:
        """Queue a job for the device workers; the id must not be in flight (checked in _handle), and the
        session must stay within its limit."""
        if len(self.queue.of_session(request.session)) >= self.limits.max_in_flight:
            raise RequestError("busy", f"this session already has {self.limits.max_in_flight} jobs queued or running")
        job = make_job(request.session, request.identity, request.rid, op, body, label, credit, cached)
        self.queue.push(job)
        return job

    def submit_light(self, request: wire.Request, work: Callable[[Callable[[], None]], Dict[str, Any]]) -> None:
        """Run `work(touch)` on the probe pool; its result (or error) becomes the request's final reply.
        The id stays in flight until then (released just before the reply goes)."""
        def answer(result: Any, error: Optional[BaseException]) -> None:
            if error is not None and not isinstance(error, DeflickerError):
                log.error("%s failed", request.op, exc_info=(type(error), error, error.__traceback__))
            self.inflight.release(request.session, request.rid)
            self.outbox.send(request.identity, wire.final_reply(request.rid, request.version, result, error))
        self.inflight.claim(request.session, request.rid)
        try:
            self.light.submit(work, answer, f"open ({request.session[:12]}:{request.rid})")
        except BaseException:
            self.inflight.release(request.session, request.rid)
            raise

    def ack_put(self, token: Any, error: Optional[BaseException]) -> None:
        identity, rid, clip_id, version, session = token
        self.inflight.release(session, rid)
        if error is not None:
            header = wire.error_reply(rid, error_code(error), str(error) or type(error).__name__)
        else:
            try:
                record = self.clips.get(clip_id, session)
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
                       "max_clips": self.limits.max_clips, "max_clips_total": self.limits.max_clips_total,
                       "max_uploads": self.limits.max_uploads, "max_uploads_total": self.limits.max_uploads_total},
            "heartbeat": {"interval": self.config.heartbeat_interval, "timeout": self.config.client_timeout},
            "roots": [str(r) for r in self.roots],
        }

    def status(self, session: str) -> Dict[str, Any]:
        """What `session` may see: its own clips, jobs and session in full, everyone else's as counts (their
        file names and labels are not its business), and the cache without where analyses came from."""
        jobs = self.queue.all()
        clips = self.clips.all()
        running = [w.current for w in getattr(self, "workers", ()) if w.current is not None]
        own_running = [j.rid for j in running if j.session == session]
        return {
            "server": f"deflicker-server/{SERVER_VERSION}", "instance": self.instance, "pid": os.getpid(),
            "endpoint": self.endpoint, "device": self.engine.device, "engine": self.engine.engine_id,
            "uptime": round(time.time() - self.started_at, 3), "cache_dir": str(self.config.cache_dir),
            "roots": [str(r) for r in self.roots],
            "memory": self.cache.snapshot(sources=False),
            "device_memory": self.engine.memory() if hasattr(self.engine, "memory") else None,
            "clips": [r.describe(self.engine) | {"session": r.session[:12], "names": None}
                      for r in clips if r.session == session],
            "jobs": [j.snapshot() for j in jobs if j.session == session],
            "running": own_running[0] if own_running else None,
            "sessions": self.sessions.snapshot(only=session),
            "others": {"sessions": max(0, len(self.sessions) - (session in self.sessions.names())),
                       "clips": sum(r.session != session for r in clips),
                       "jobs": sum(j.session != session for j in jobs),
                       "running": sum(j.session != session for j in running)},
            "probes_stuck": self.light.stuck(),
        }


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def trim_heap() -> None:
    """Give freed heap back to the system. A resident server's replies and frames pass through malloc in
    bursts; glibc keeps what they freed, so without this its resident memory creeps up to the high-water
    mark of every burst and stays there (measured by benchmarks/fuzz_server.py)."""
    if _TRIM is not None:
        _TRIM(0)

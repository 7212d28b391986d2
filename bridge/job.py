"""What every host node does, once: a frame range with handles, a job on a worker thread, the knobs.

Hosts (Blender's timers, Nuke's ProgressTask loop, Resolve's window) must never block their UI on
the server. They build a `Job` (source path, output path, range, params), `start()` it, poll
`status()` from their own loop, and may `cancel()` at any time; the job runs on its own thread with
its own Connection. Nothing here touches a host API, so the logic is tested once, in plain Python.
"""
import json
import os
import threading
import time

from .connection import DEFAULT_ADDRESS
from .effect import Effect
from .errors import BridgeError, Cancelled, ServerUnavailable
from .launcher import ServerHandle, answers, ensure_server

PROBE_SECONDS = 1.5
PENDING, CONNECTING, ANALYSING, RENDERING = "pending", "connecting", "analysing", "rendering"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)

# share of the whole job per stage the server reports (docs/protocol.md names them), for one overall progress bar:
# the analysis's two passes (survey: shots and atlases; finalise: every frame's target), then the render. A stage
# not listed (a newer server's) is shown by its name and leaves the bar where it was.
STAGE_WEIGHTS = (("survey", 0.45), ("finalise", 0.35), ("render", 0.20))


class RangeError(BridgeError):
    """The frames asked for are not in the media."""


class HandleRange(object):
    """Frames `first`..`last` (inclusive, the host's numbering) that the user wants, widened by `head`
    and `tail` handle frames that the media really has: the job analyses `start`..`end` (inclusive)
    so the first and last wanted frames have temporal context."""

    __slots__ = ("first", "last", "head", "tail")

    def __init__(self, first, last, head, tail):
        self.first, self.last, self.head, self.tail = first, last, head, tail

    @property
    def start(self):
        return self.first - self.head

    @property
    def end(self):
        return self.last + self.tail

    @property
    def count(self):
        return self.end - self.start + 1

    def __repr__(self):
        return "HandleRange({}-{}, handles {}+{})".format(self.first, self.last, self.head, self.tail)


def with_handles(first, last, handles, media_first, media_last):
    """The range `first`..`last` plus up to `handles` frames each side, clipped to the media's
    `media_first`..`media_last` (all inclusive). Wanted frames outside the media are an error."""
    first, last, handles = int(first), int(last), int(handles)
    if media_last < media_first:
        raise RangeError("the source has no frames")
    if first > last:
        raise RangeError("the range {}-{} is empty: its first frame comes after its last".format(first, last))
    if handles < 0:
        raise RangeError("handles must be 0 or more, got {}".format(handles))
    if first < media_first or last > media_last:
        raise RangeError("frames {}-{} run outside the source, which has frames {}-{}".format(
            first, last, media_first, media_last))
    return HandleRange(first, last, min(handles, first - media_first), min(handles, media_last - last))


class JobStatus(object):
    """A snapshot of a job for the host's progress display."""

    __slots__ = ("state", "stage", "done", "total", "fraction", "message", "result", "error", "eta")

    def __init__(self, state=PENDING, stage="", done=0, total=0, fraction=0.0, message="", result=None, error="",
                 eta=None):
        self.state, self.stage, self.done, self.total = state, stage, done, total
        self.fraction, self.message, self.result = fraction, message, result
        self.error = error  # failed jobs: the server's error code ("input", "forbidden", ...) or the exception's name
        self.eta = eta      # seconds left, estimated from the progress so far; None until it means something

    @property
    def finished(self):
        return self.state in FINISHED

    def text(self):
        """One line for a status bar: "finalise 40/120", "done", or the error message."""
        if self.state in (FAILED, CANCELLED) or (self.state == CONNECTING and self.message):
            return self.message or self.state
        if self.state == DONE:
            return DONE
        if self.stage and self.total:
            left = "" if self.eta is None else ", " + time_left(self.eta)
            return "{} {}/{}{}".format(self.stage, self.done, self.total, left)
        return self.stage or self.state

    def copy(self):
        return JobStatus(self.state, self.stage, self.done, self.total, self.fraction, self.message, self.result,
                         self.error, self.eta)

    def __repr__(self):
        return "JobStatus({}, {:.0%}, {!r})".format(self.state, self.fraction, self.text())


def time_left(seconds):
    """Words for an estimate: a long take's analysis runs for many minutes, and a bare 40/3000 says nothing."""
    if seconds < 60:
        return "under a minute left"
    if seconds < 90 * 60:
        return "about {} min left".format(int(round(seconds / 60.0)))
    return "about {:.1f} h left".format(seconds / 3600.0)


def estimate_left(elapsed, fraction, min_fraction=0.02, min_elapsed=5.0):
    """Seconds left if the job goes on at its pace so far; None while too little is done to say."""
    if fraction < min_fraction or elapsed < min_elapsed or fraction >= 1.0:
        return None
    return elapsed * (1.0 - fraction) / fraction


def overall_fraction(stage, done, total, analyse_only=False):
    """Where a job is, 0..1, from the engine stage it reports (renders from the cache report only 'render')."""
    weights = [(name, w) for name, w in STAGE_WEIGHTS if not (analyse_only and name == "render")]
    scale = sum(w for _, w in weights)
    before = 0.0
    for name, weight in weights:
        if name == stage:
            part = float(done) / total if total else 0.0
            return min(1.0, (before + weight * max(0.0, min(1.0, part))) / scale)
        before += weight
    return 0.0


class Job(object):
    """Open `source` (a path the server can read) over frames [start, stop) of it, analyse, and
    render to `output` (a path the server writes atomically); or only analyse (`output=None`).

    `connect` returns a connected bridge.Connection; by default a server is found or started at
    `address` with `roots` (the folders the host exports to and reads back from).
    """

    def __init__(self, source, output=None, start=None, stop=None, params=None, address=DEFAULT_ADDRESS,
                 roots=(), connect=None, name="deflicker-host", clock=time.monotonic):
        self.source = str(source)
        self.output = None if output is None else str(output)
        self.start_frame, self.stop_frame = start, stop
        self.params = dict(params or {})
        self.address = address
        self.roots = tuple(str(r) for r in roots)
        self.name = name
        self._connect = connect or self._default_connect
        self._lock = threading.Lock()
        self._status = JobStatus()
        self._cancel = threading.Event()
        self._pending = None
        self._conn = None
        self._thread = None
        self._clock, self._began = clock, None

    # ----------------------------------------------------------------- host side
    def start(self):
        if self._thread is not None:
            raise BridgeError("this job was already started")
        self._thread = threading.Thread(target=self._run, name="deflicker-job", daemon=True)
        self._thread.start()
        return self

    def status(self):
        with self._lock:
            return self._status.copy()

    def cancel(self):
        """Ask the job to stop; it ends CANCELLED (with nothing written) within a moment."""
        self._cancel.set()
        with self._lock:
            conn, pending = self._conn, self._pending
        if conn is not None and pending is not None:
            conn.interrupt(pending)

    def wait(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status()

    # ----------------------------------------------------------------- worker thread
    def _default_connect(self):
        return connector(self.address, self.roots, True, self.name)()

    def _set(self, **fields):
        with self._lock:
            for key, value in fields.items():
                setattr(self._status, key, value)

    def _progress(self, stage, done, total):
        fields = {"stage": stage, "done": int(done), "total": int(total)}
        if any(stage == name for name, _ in STAGE_WEIGHTS):
            fields["fraction"] = overall_fraction(stage, done, total, self.output is None)
            now = self._clock()
            self._began = now if self._began is None else self._began
            fields["eta"] = estimate_left(now - self._began, fields["fraction"])
        self._set(**fields)

    def _run(self):
        conn = clip = None
        try:
            self._set(state=CONNECTING, message="")
            conn = self._connect()
            with self._lock:
                self._conn = conn
            self._check_cancel()
            clip = conn.open(path=self.source, start=self.start_frame, stop=self.stop_frame)
            self._check_cancel()
            result = self._submit(conn, clip)
            self._set(state=DONE, fraction=1.0, message="", result=result, eta=None)
        except Cancelled:
            self._set(state=CANCELLED, message="cancelled")
        except BridgeError as error:
            self._set(state=FAILED, message=str(error) or type(error).__name__,
                      error=getattr(error, "code", None) or type(error).__name__)
        except Exception as error:  # a host's UI must hear about it rather than lose the thread silently
            self._set(state=FAILED, message="unexpected error: {}: {}".format(type(error).__name__, error),
                      error=type(error).__name__)
        finally:
            self._close(conn, clip)

    def _submit(self, conn, clip):
        args = {"clip": clip.id, "params": self.params}
        if self.output is None:
            op, state = "analyse", ANALYSING
        else:
            op, state = "render", RENDERING
            args.update(output=self.output, start=clip.start, stop=clip.stop)
        self._set(state=state)
        pending = conn.submit(op, args)
        with self._lock:
            self._pending = pending
        if self._cancel.is_set():
            conn.interrupt(pending)
        try:
            result, _ = conn.wait(pending, None, self._progress)
        except Cancelled:
            conn.cancel(pending)  # tell the server, which removes anything half-written
            raise
        return result

    def _check_cancel(self):
        if self._cancel.is_set():
            raise Cancelled("cancelled", "cancelled")

    def _close(self, conn, clip):
        with self._lock:
            self._conn = self._pending = None
        if conn is None:
            return
        try:
            if clip is not None:
                clip.close()
        except BridgeError:
            pass
        conn.close()


def connector(address=DEFAULT_ADDRESS, roots=(), start=True, name="deflicker-host", no_server=None,
              start_failed=None):
    """The `connect` of a Job: a connection to the server at `address`, or (start=True) to one started
    here with `roots`. Hosts word the failures their own way: `no_server(address)` when none answers
    and none may be started, `start_failed(address, reason)` when starting one failed."""
    def connect():
        if not answers(address, PROBE_SECONDS):
            if not start:
                raise ServerUnavailable(no_server(address) if no_server else
                                        "no deflicker server answers at {0}; start one with `deflicker serve "
                                        "--bind {0}`".format(address))
            try:
                ensure_server(address, roots=roots)
            except ServerUnavailable as error:
                if start_failed is None:
                    raise
                raise ServerUnavailable(start_failed(address, str(error)))
        return ServerHandle(address).connect(name=name)
    return connect


def describe_effect(address=DEFAULT_ADDRESS, cache_path=None, start=True, timeout=2.0, roots=()):
    """The effect's parameters for building knobs: from a running server (and remembered in
    `cache_path`), else from that file, else (start=True) from a server started here."""
    if answers(address, timeout):
        return _described(address, cache_path)
    if cache_path and os.path.isfile(cache_path):
        try:
            with open(cache_path, "r") as handle:
                return Effect.from_describe(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is only a cache
    if not start:
        raise ServerUnavailable("no deflicker server answers at {}; start one with `deflicker serve`".format(
            address))
    ensure_server(address, roots=roots)
    return _described(address, cache_path)


def _described(address, cache_path):
    from .connection import Connection
    conn = Connection(address)
    try:
        conn.connect()
        result, _ = conn.call("describe")
    finally:
        conn.close()
    if cache_path:
        try:
            folder = os.path.dirname(os.path.abspath(cache_path))
            if not os.path.isdir(folder):
                os.makedirs(folder)
            staged = cache_path + ".part"
            with open(staged, "w") as handle:
                json.dump(result, handle, indent=1, sort_keys=True)
            os.replace(staged, cache_path)
        except OSError:
            pass
    return Effect.from_describe(result)

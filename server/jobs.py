"""Jobs and the fair queue that feeds the device workers.

A job is a generator: each `next()` is one quantum of work (one rendered frame, one whole analysis),
so a worker can rotate between clients between quanta. Sessions are served round-robin, a
session's own jobs first-in first-out. A streamed render that has used up the frames its client
allowed (credit) is parked and skipped until the client grants more, so a slow client never holds
the device; one parked too long (its client stopped reading) is cancelled by the server.

Two workers take from the queue: the compute lane takes anything, the render lane only jobs whose
analysis is already made (`Job.light`), so a cached render never waits behind another client's
minutes-long analysis. A job is stepped by one worker at a time (`active`).
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Dict, Generator, List, Optional

from deflicker_engine.progress import ProgressFn

WAIT_CREDIT = object()      # yielded by a job body that may not send another frame yet
NEEDS_COMPUTE = object()    # yielded by a job body on the render lane whose analysis must be computed
CANCELLED_BY_CLIENT = "cancelled by the client"

Body = Callable[["Job"], Generator[Any, None, Dict[str, Any]]]


class Job:
    """One analyse or render request on its way through the queue."""

    def __init__(self, session: str, identity: bytes, rid: Any, op: str, body: Body, label: str = "") -> None:
        self.session = session
        self.identity = identity
        self.rid = rid
        self.op = op
        self.label = label
        self.body = body
        self.cancel = threading.Event()
        self.cancel_reason = CANCELLED_BY_CLIENT   # what the client is told; the first reason given wins
        self.state = "queued"               # queued | running | done | failed | cancelled
        self.created = time.time()
        self.started: Optional[float] = None
        self.progress = ("queued", 0, 0)
        self.credit = 0
        self.window = 0                     # the most credit a streamed render may hold (its window)
        self.waiting = False                # parked until credit arrives
        self.waiting_since = 0.0            # time.monotonic() when it was parked
        self.active = False                 # a worker is running one of its quanta
        self.lane = ""                      # the lane of the worker stepping it now
        self.analysed = False               # past its analysis: the rest is cheap
        self.needs_compute = False          # its analysis must be computed (compute lane only)
        self.cached: Callable[[], bool] = lambda: False    # is its analysis in the cache already?
        self.gen: Optional[Generator] = None

    def runnable(self) -> bool:
        return not self.waiting or self.cancel.is_set()

    def light(self) -> bool:
        """Cheap from here on: what the render lane may take (a cancelled job only needs its reply)."""
        if self.cancel.is_set():
            return True
        return not self.needs_compute and (self.analysed or self.cached())

    def report(self, stage: str, done: int, total: int) -> None:
        self.progress = (stage, done, total)

    def snapshot(self) -> Dict[str, Any]:
        stage, done, total = self.progress
        return {"id": self.rid, "session": self.session[:12], "op": self.op, "label": self.label,
                "state": self.state, "stage": stage, "done": done, "total": total,
                "age": round(time.time() - self.created, 3), "waiting_for_client": self.waiting}


class FairQueue:
    """Round-robin over sessions, FIFO within one; thread-safe (the I/O thread adds and cancels, the
    worker takes)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._sessions: "collections.OrderedDict[str, Deque[Job]]" = collections.OrderedDict()

    def push(self, job: Job) -> None:
        with self._cond:
            self._sessions.setdefault(job.session, collections.deque()).append(job)
            self._cond.notify_all()

    def take(self, timeout: float, accept: Callable[[Job], bool] = lambda job: True) -> Optional[Job]:
        """The next runnable job that `accept`s and no other worker is stepping, marked active, rotating
        its session to the back; None after `timeout` seconds. Hand it back with `release`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for session, jobs in list(self._sessions.items()):
                    job = next((j for j in jobs if j.runnable() and not j.active and accept(j)), None)
                    if job is not None:
                        self._sessions.move_to_end(session)
                        job.active = True
                        return job
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))   # also re-asks `accept` (an analysis may have landed)

    def release(self, job: Job) -> None:
        """A worker finished one quantum of `job`: another worker may take it now."""
        with self._cond:
            job.active = False
            self._cond.notify_all()

    def park(self, job: Job) -> None:
        """Called by the worker after a body yielded WAIT_CREDIT: park unless credit came meanwhile."""
        with self._cond:
            if job.credit <= 0 and not job.waiting:
                job.waiting = True
                job.waiting_since = time.monotonic()

    def stalled(self, seconds: float) -> List[Job]:
        """Jobs parked for credit longer than `seconds`: their clients stopped reading (or are gone)."""
        now = time.monotonic()
        with self._cond:
            return [j for jobs in self._sessions.values() for j in jobs
                    if j.waiting and not j.cancel.is_set() and now - j.waiting_since > seconds]

    def take_credit(self, job: Job) -> bool:
        with self._cond:
            if job.credit > 0:
                job.credit -= 1
                return True
            return False

    def grant(self, job: Job, frames: int) -> None:
        """More credit, never beyond the job's window: a client cannot make the server queue more
        frames than it asked to hold, whatever it sends."""
        with self._cond:
            job.credit = min(job.credit + frames, max(job.window, 1))
            job.waiting = False
            self._cond.notify_all()

    def cancel(self, job: Job, reason: str = CANCELLED_BY_CLIENT) -> None:
        """Stop `job` at its next quantum; its final reply says `reason` (the first one given)."""
        with self._cond:
            if not job.cancel.is_set():
                job.cancel_reason = reason
            job.cancel.set()
            self._cond.notify_all()

    def remove(self, job: Job) -> None:
        with self._cond:
            jobs = self._sessions.get(job.session)
            if jobs is not None:
                try:
                    jobs.remove(job)
                except ValueError:
                    pass
                if not jobs:
                    del self._sessions[job.session]

    def find(self, session: str, rid: Any) -> Optional[Job]:
        with self._cond:
            return next((j for j in self._sessions.get(session, ()) if j.rid == rid), None)

    def of_session(self, session: str) -> List[Job]:
        with self._cond:
            return list(self._sessions.get(session, ()))

    def of_identity(self, identity: bytes) -> List[Job]:
        with self._cond:
            return [j for jobs in self._sessions.values() for j in jobs if j.identity == identity]

    def all(self) -> List[Job]:
        with self._cond:
            return [j for jobs in self._sessions.values() for j in jobs]

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def progress_sink(job: Job, send: Callable[[str, int, int], None], min_interval: float = 0.1) -> ProgressFn:
    """A progress(stage, done, total) for the engine that records the job's progress and sends at
    most one event per `min_interval` seconds per stage (the last step of a stage always goes)."""
    last = {"stage": None, "time": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        job.report(stage, done, total)
        now = time.monotonic()
        if stage != last["stage"] or done >= total or now - last["time"] >= min_interval:
            last["stage"], last["time"] = stage, now
            send(stage, int(done), int(total))

    return progress


def make_job(session: str, identity: bytes, rid: Any, op: str, body: Body, label: str, credit: int = 0,
             cached: Optional[Callable[[], bool]] = None) -> Job:
    """A job for the queue; `credit` > 0 makes it a streamed render with that window."""
    job = Job(session, identity, rid, op, body, label)
    job.credit = job.window = credit
    if cached is not None:
        job.cached = cached
    return job

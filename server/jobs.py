"""Jobs and the fair queue that feeds the device worker.

A job is a generator: each `next()` is one quantum of work (one rendered frame, one whole analysis),
so the worker can rotate between clients between quanta. Sessions are served round-robin, a
session's own jobs first-in first-out. A streamed render that has used up the frames its client
allowed (credit) is parked and skipped until the client grants more, so a slow client never holds
the device.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Dict, Generator, List, Optional

from deflicker_engine.progress import ProgressFn

WAIT_CREDIT = object()      # yielded by a job body that may not send another frame yet

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
        self.state = "queued"               # queued | running | done | failed | cancelled
        self.created = time.time()
        self.started: Optional[float] = None
        self.progress = ("queued", 0, 0)
        self.credit = 0
        self.window = 0                     # the most credit a streamed render may hold (its window)
        self.waiting = False                # parked until credit arrives
        self.gen: Optional[Generator] = None

    def runnable(self) -> bool:
        return not self.waiting or self.cancel.is_set()

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

    def take(self, timeout: float) -> Optional[Job]:
        """The next runnable job, rotating its session to the back; None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for session, jobs in list(self._sessions.items()):
                    job = next((j for j in jobs if j.runnable()), None)
                    if job is not None:
                        self._sessions.move_to_end(session)
                        return job
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def park(self, job: Job) -> None:
        """Called by the worker after a body yielded WAIT_CREDIT: park unless credit came meanwhile."""
        with self._cond:
            if job.credit <= 0:
                job.waiting = True

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

    def cancel(self, job: Job) -> None:
        with self._cond:
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

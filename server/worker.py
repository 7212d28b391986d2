"""The device workers: the threads that run heavy compute, a quantum at a time, from the fair queue.

Two lanes: the compute lane takes any job (analyses run there, one at a time, which bounds the
memory they need); the render lane takes only jobs whose analysis exists (`Job.light`), so cached
renders go ahead while another client's analysis runs. A job on the render lane that finds its
analysis gone (evicted meanwhile) yields NEEDS_COMPUTE and moves to the compute lane.

Every job's final reply (ok with its result, or error with its code) is sent from here, so a job
answers exactly once whatever happens to it: done, failed, cancelled by its client, cancelled
because its client vanished or stopped reading, or cancelled because the server is stopping; the
message says which.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from deflicker_engine.errors import Cancelled, DeflickerError

from . import wire
from .errors import error_code
from .jobs import NEEDS_COMPUTE, WAIT_CREDIT, FairQueue, Job
from .outbox import Outbox

log = logging.getLogger("deflicker.server")

COMPUTE, RENDER = "compute", "render"
SHUTTING_DOWN = "cancelled: the server is shutting down"


def _accepts(lane: str) -> Callable[[Job], bool]:
    return (lambda job: True) if lane == COMPUTE else Job.light


class DeviceWorker(threading.Thread):
    def __init__(self, queue: FairQueue, outbox: Outbox, device: str = "", lane: str = COMPUTE) -> None:
        super().__init__(name=f"device-{lane}-{device or 'default'}", daemon=True)
        self.lane = lane
        self._queue = queue
        self._outbox = outbox
        self._accept = _accepts(lane)
        self._stop_event = threading.Event()
        self.current: Optional[Job] = None

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job (outputs are aborted, clients told) and end the thread."""
        for job in self._queue.all():
            self._queue.cancel(job, SHUTTING_DOWN)
        self._stop_event.set()
        self._queue.wake()
        self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            job = self._queue.take(0.25, self._accept)
            if job is not None:
                self.step(job)
        while True:   # finish what is left as cancelled, in these threads (they own the generators)
            job = self._queue.take(0.0)
            if job is None:
                return
            self._queue.cancel(job, SHUTTING_DOWN)
            self.step(job)

    def step(self, job: Job) -> None:
        """Run one quantum of `job` (taken from the queue, so marked active); on its end, drop it from the
        queue, then send its final reply (in that order: a client that asks for status, or reuses the id,
        after the reply never sees the job)."""
        self.current = job
        job.lane = self.lane
        try:
            if job.gen is None:
                if job.cancel.is_set():
                    raise Cancelled(job.cancel_reason)
                job.state, job.started = "running", time.time()
                job.gen = job.body(job)
                signal = next(job.gen)
            elif job.cancel.is_set():
                signal = job.gen.throw(Cancelled(job.cancel_reason))
            else:
                signal = next(job.gen)
            if signal is WAIT_CREDIT:
                self._queue.park(job)
            elif signal is NEEDS_COMPUTE:
                job.needs_compute = True
            self.current = None
            self._queue.release(job)
            return
        except StopIteration as done:
            job.state = "done"
            final = wire.reply(job.rid, "ok", result=done.value or {})
        except Cancelled as error:
            job.state = "cancelled"
            reason = job.cancel_reason if job.cancel.is_set() else (str(error) or "cancelled")
            final = wire.error_reply(job.rid, "cancelled", reason)
        except DeflickerError as error:
            job.state = "failed"
            log.info("job %s (%s) failed: %s", job.rid, job.op, error)
            final = wire.error_reply(job.rid, error_code(error), str(error))
        except Exception as error:  # a bug must fail the job, never the server
            job.state = "failed"
            log.exception("job %s (%s) crashed", job.rid, job.op)
            final = wire.error_reply(job.rid, "internal", f"internal error: {type(error).__name__}: {error}")
        self.current = None
        self._finish(job)
        self._reply(job, final)

    def _finish(self, job: Job) -> None:
        """Out of the queue first, then released: no other worker may take a finished job."""
        if job.gen is not None:
            job.gen.close()
        self._queue.remove(job)
        self._queue.release(job)
        log.debug("job %s (%s) %s", job.rid, job.op, job.state)

    def _reply(self, job: Job, header: dict) -> None:
        try:
            self._outbox.send(job.identity, header)
        except Exception:  # the server is closing its sockets: nobody is left to tell
            log.debug("could not send the final reply of job %s", job.rid)

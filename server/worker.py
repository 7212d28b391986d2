"""The device worker: the one thread that runs heavy compute, a quantum at a time, from the fair queue.

Every job's final reply (ok with its result, or error with its code) is sent from here, so a job
answers exactly once whatever happens to it: done, failed, cancelled by its client, cancelled
because its client vanished, or cancelled because the server is stopping.
"""
from __future__ import annotations

import logging
import threading
import time

from deflicker_engine.errors import Cancelled, DeflickerError

from . import wire
from .errors import error_code
from .jobs import WAIT_CREDIT, FairQueue, Job
from .outbox import Outbox

log = logging.getLogger("deflicker.server")


class DeviceWorker(threading.Thread):
    def __init__(self, queue: FairQueue, outbox: Outbox, device: str = "") -> None:
        super().__init__(name=f"device-worker-{device or 'default'}", daemon=True)
        self._queue = queue
        self._outbox = outbox
        self._stop_event = threading.Event()
        self.current: Job | None = None

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job (outputs are aborted, clients told) and end the thread."""
        for job in self._queue.all():
            self._queue.cancel(job)
        self._stop_event.set()
        self._queue.wake()
        self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            job = self._queue.take(0.25)
            if job is not None:
                self.step(job)
        for job in self._queue.all():   # finish what is left as cancelled, in this thread (it owns the generators)
            job.cancel.set()
            self.step(job)

    def step(self, job: Job) -> None:
        """Run one quantum of `job`; on its end, drop it from the queue, then send its final reply
        (in that order: a client that asks for status after the reply never sees the job)."""
        self.current = job
        try:
            if job.gen is None:
                if job.cancel.is_set():
                    raise Cancelled("cancelled before it started")
                job.state, job.started = "running", time.time()
                job.gen = job.body(job)
                signal = next(job.gen)
            elif job.cancel.is_set():
                signal = job.gen.throw(Cancelled("cancelled by the client"))
            else:
                signal = next(job.gen)
            if signal is WAIT_CREDIT:
                self._queue.park(job)
            return
        except StopIteration as done:
            job.state = "done"
            final = wire.reply(job.rid, "ok", result=done.value or {})
        except Cancelled as error:
            job.state = "cancelled"
            final = wire.error_reply(job.rid, "cancelled", str(error) or "cancelled")
        except DeflickerError as error:
            job.state = "failed"
            log.info("job %s (%s) failed: %s", job.rid, job.op, error)
            final = wire.error_reply(job.rid, error_code(error), str(error))
        except Exception as error:  # a bug must fail the job, never the server
            job.state = "failed"
            log.exception("job %s (%s) crashed", job.rid, job.op)
            final = wire.error_reply(job.rid, "internal", f"internal error: {type(error).__name__}: {error}")
        finally:
            self.current = None
        self._finish(job)
        self._reply(job, final)

    def _finish(self, job: Job) -> None:
        if job.gen is not None:
            job.gen.close()
        self._queue.remove(job)
        log.debug("job %s (%s) %s", job.rid, job.op, job.state)

    def _reply(self, job: Job, header: dict) -> None:
        try:
            self._outbox.send(job.identity, header)
        except Exception:  # the server is closing its sockets: nobody is left to tell
            log.debug("could not send the final reply of job %s", job.rid)

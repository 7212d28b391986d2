# SPDX-License-Identifier: Apache-2.0
"""One job watched from a worker thread: progress shown, cancel honoured, one call back at the end.

The bridge runs the job on its own thread; this watcher is the host's side of it. It owns the
progress display (Nuke's ProgressTask, whose Cancel button it polls), never touches the node graph,
and hands the final JobStatus to `post` (nuke.executeInMainThread) so that the graph is changed on
the main thread only.
"""
import threading
from typing import Callable, Dict, Optional

from deflicker_bridge.job import DONE, FAILED, JobStatus

POLL_SECONDS = 0.1


def describe(status: JobStatus) -> str:
    """One line for the progress window; a finished job says how it ended (not its last stage)."""
    if status.state == DONE:
        return "done"
    return status.text()


class Runner(object):
    """Start `job`, show its progress in `progress_task(title)`, and when it ends call
    `post(on_finished, (status,))`. `outdated` is set when the node's settings changed meanwhile."""

    def __init__(self, job, title: str, progress_task: Callable, post: Callable, on_finished: Callable,
                 poll: float = POLL_SECONDS):
        self.job = job
        self.title = title
        self.outdated = False
        self._progress_task = progress_task
        self._post = post
        self._on_finished = on_finished
        self._poll = poll
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread = None

    def start(self) -> "Runner":
        self._thread = threading.Thread(target=self._watch, name="deflicker-nuke-watch", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop (as the progress window's Cancel button does)."""
        self._cancel.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._done.wait(timeout)

    def _watch(self) -> None:
        status = JobStatus(FAILED, message="the job did not start")
        try:
            status = self._follow()
        except Exception as error:  # the user must hear about it rather than lose the thread silently
            self.job.cancel()
            status = JobStatus(FAILED, message="unexpected error: {}: {}".format(type(error).__name__, error))
        finally:
            self._done.set()
            self._post(self._on_finished, (status,))

    def _follow(self) -> JobStatus:
        task = self._progress_task(self.title)
        self.job.start()
        shown = None
        while True:
            status = self.job.status()
            if task.isCancelled() or self._cancel.is_set():
                self.job.cancel()
            text = "{}: {}".format(self.title, describe(status))
            if text != shown:
                task.setMessage(text)
                shown = text
            task.setProgress(int(round(100 * max(0.0, min(1.0, status.fraction)))))
            if status.finished:
                return status
            self._cancel.wait(self._poll)


class ActiveRuns(object):
    """The runner of each node that has one going, by the node's full name (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs = {}  # type: Dict[str, Runner]

    def add(self, key: str, runner: Runner) -> bool:
        """Register `runner` for `key`; False (and nothing changed) when one is still going there."""
        with self._lock:
            current = self._runs.get(key)
            if current is not None and not current.finished:
                return False
            self._runs[key] = runner
            return True

    def get(self, key: str) -> Optional[Runner]:
        with self._lock:
            return self._runs.get(key)

    def discard(self, key: str, runner: Runner) -> None:
        with self._lock:
            if self._runs.get(key) is runner:
                del self._runs[key]

    def running(self, key: str) -> bool:
        runner = self.get(key)
        return runner is not None and not runner.finished

    def __len__(self):
        with self._lock:
            return len(self._runs)

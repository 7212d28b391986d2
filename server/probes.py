"""The probe pool: a few threads that open clips (file headers, listings, fingerprints, spooling a file
list), each open bounded in time.

Opening touches client-named files, and a file can hang a thread for good (a FIFO slipped through,
a dead network mount). Such a thread cannot be killed, so the pool does not wait for it: an open that
makes no progress for `timeout` seconds is answered with an error at once, its thread is written off
(it ends by itself if the call ever returns; its late result is dropped) and a fresh thread takes
its place, so other clients' opens keep being served. A cap on written-off threads keeps a storage
outage from growing threads without bound: beyond it, new opens are refused (`busy`).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Dict, Optional, Set

from .errors import RequestError

log = logging.getLogger("deflicker.server")

Work = Callable[[Callable[[], None]], Any]                 # work(touch) -> result; touch() marks progress
Answer = Callable[[Any, Optional[BaseException]], None]    # answer(result, error): the final reply


class Probe:
    """One open in flight: answered exactly once, by its thread or by the watchdog."""

    def __init__(self, work: Work, answer: Answer, label: str) -> None:
        self.work, self.label = work, label
        self._answer = answer
        self._lock = threading.Lock()
        self.answered = False
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()

    def answer(self, result: Any = None, error: Optional[BaseException] = None) -> bool:
        with self._lock:
            if self.answered:
                return False
            self.answered = True
        self._answer(result, error)
        return True


class ProbePool:
    def __init__(self, workers: int = 2, timeout: float = 60.0, max_stuck: int = 8) -> None:
        self.workers, self.timeout, self.max_stuck = workers, timeout, max_stuck
        self._tasks: "queue.Queue[Optional[Probe]]" = queue.Queue()
        self._lock = threading.Lock()
        self._running: Dict[int, Probe] = {}        # thread ident -> its probe
        self._written_off: Set[int] = set()
        self._threads: Dict[int, threading.Thread] = {}
        self._closed = False
        self._serial = 0
        for _ in range(workers):
            self._spawn()

    def submit(self, work: Work, answer: Answer, label: str = "open") -> None:
        """Queue `work`; `answer(result, error)` is called once, from some thread, when it ends or times out."""
        with self._lock:
            stuck = len(self._written_off)
        if stuck >= self.max_stuck:
            raise RequestError("busy", f"{stuck} opens are stuck on files that do not answer (a dead network mount?); "
                                       "the server takes no more until they return")
        self._tasks.put(Probe(work, answer, label))

    def check(self) -> None:
        """Answer every open without progress for `timeout` seconds and replace its thread (the I/O
        thread calls this a few times a second)."""
        now = time.monotonic()
        with self._lock:
            late = [(ident, probe) for ident, probe in self._running.items()
                    if ident not in self._written_off and now - probe.last > self.timeout]
            for ident, _ in late:
                self._written_off.add(ident)
        for ident, probe in late:
            log.warning("%s made no progress for %.0f s; answered with an error, its thread written off",
                        probe.label, self.timeout)
            probe.answer(error=RequestError(
                "input", f"opening the clip made no progress for {self.timeout:g} s (a file that does not answer: "
                         "a pipe, a device or unresponsive storage?); the server gave up on it"))
            self._spawn()

    def stuck(self) -> int:
        with self._lock:
            return len(self._written_off)

    def shutdown(self, wait_s: float = 2.0) -> None:
        """Stop taking work and end the threads; a thread stuck in a file call is left behind (daemon)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads.values())
        for _ in threads:
            self._tasks.put(None)
        deadline = time.monotonic() + wait_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        while True:   # opens still queued: tell their clients
            try:
                probe = self._tasks.get_nowait()
            except queue.Empty:
                break
            if probe is not None:
                probe.answer(error=RequestError("cancelled", "cancelled: the server is shutting down"))

    # ------------------------------------------------------------------ threads
    def _spawn(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._serial += 1
            thread = threading.Thread(target=self._run, name=f"probe-{self._serial}", daemon=True)
            thread.start()
            self._threads[thread.ident] = thread

    def _run(self) -> None:
        me = threading.get_ident()
        try:
            while True:
                probe = self._tasks.get()
                if probe is None:
                    return
                with self._lock:
                    self._running[me] = probe
                    probe.touch()
                try:
                    probe.answer(probe.work(probe.touch))
                except BaseException as error:   # every failure is the open's answer, never the thread's end
                    probe.answer(error=error)
                finally:
                    with self._lock:
                        self._running.pop(me, None)
                        written_off = me in self._written_off
                        self._written_off.discard(me)
                if written_off:
                    log.info("%s returned after being given up on; its result was dropped", probe.label)
                    return   # a replacement took this thread's place
        finally:
            with self._lock:
                self._threads.pop(me, None)

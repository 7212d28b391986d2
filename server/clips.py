"""Open clips: where their frames come from, which range and encoding, and their content key.

A clip belongs to the session that opened it: to any other session it does not exist
(`unknown-clip`), so one client can neither use, close nor see another's clips. A clip opened by
path is re-opened for every job (cheap: a header probe), because sources are not thread-safe and a
video decoder cannot serve two interleaved renders; its files are pinned at open and checked again
before every read (security.PinnedFiles). A clip made of a file list or streamed frames lives in a
spool owned by the record. Streamed frames arrive in `put` requests and are written to the spool by
one thread per stream, which acknowledges each put once its frames are on disk and hashes them on
the way (the clip's content key).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from deflicker_engine.errors import Cancelled

from .errors import RequestError
from .fingerprint import StreamHasher
from .security import PinnedFiles

log = logging.getLogger("deflicker.server")


@dataclass
class ClipRecord:
    id: str
    session: str
    origin: str                              # "path" | "paths" | "stream"
    label: str                               # what status shows
    start: int = 0
    stop: int = 0
    encoding: Optional[str] = None           # override of the source's own encoding
    path: Optional[str] = None               # real path for open_source (origin "path")
    folder: Optional[str] = None
    names: Tuple[str, ...] = ()
    pinned: Optional[PinnedFiles] = None     # the files read, as they were at open (origin "path")
    info: Any = None                         # ClipInfo of the whole source (None while streaming)
    source_key: Optional[str] = None         # content fingerprint (None until a stream is complete)
    spooled: Any = None                      # FrameSource owned by the record (paths, stream)
    ingest: Optional["StreamIngest"] = None
    stream: Dict[str, Any] = field(default_factory=dict)
    jobs: int = 0
    closed: bool = False
    created: float = field(default_factory=time.time)

    @property
    def ready(self) -> bool:
        return self.source_key is not None and self.info is not None

    def meta(self) -> Dict[str, Any]:
        """How the clip is read: part of its analysis key beside the content fingerprint."""
        info = self.info
        return {"start": self.start, "stop": self.stop, "encoding": self.encoding or info.encoding,
                "count": info.count, "width": info.width, "height": info.height, "channels": info.channels,
                "dtype": info.dtype, "kind": info.kind}

    def check_fresh(self) -> None:
        """Refuse to work from files that changed on disk, or now lead elsewhere, since the clip was opened."""
        if self.pinned is not None:
            self.pinned.check_all()

    @contextmanager
    def source(self, engine) -> Iterator[Any]:
        """The clip's frames [start, stop) as a source of their own, for one job. Files are checked before
        the engine opens them, again once it has (a video's decoder now holds its file), and a sequence's
        frame files each time one is read."""
        if not self.ready:
            raise RequestError("not-ready", f"clip {self.id} is still receiving frames")
        if self.spooled is not None:
            view = engine.view(self.spooled, self.start, self.stop, self.encoding, owns=False)
        else:
            self.check_fresh()
            base = engine.open_source(self.path)
            try:
                self.check_fresh()
                guard = self.pinned.check if self.pinned is not None and self.info.kind != "video" else None
                view = engine.view(base, self.start, self.stop, self.encoding, owns=True, guard=guard)
            except BaseException:
                base.close()
                raise
        try:
            yield view
        finally:
            view.close()

    def describe(self, engine) -> Dict[str, Any]:
        if self.info is None:
            d = dict(self.stream, count=self.stream.get("count"), start=0, stop=self.stream.get("count") or 0)
        else:
            d = engine.info_dict(self.info)
            d.update(start=self.start, stop=self.stop, encoding=self.encoding or self.info.encoding)
        d.update(clip=self.id, origin=self.origin, ready=self.ready, path=self.path)
        if self.ingest is not None:
            d["received"] = self.ingest.received
        return d

    def release(self) -> None:
        """Free the spool (or stop the upload); the analyses stay in the cache."""
        if self.ingest is not None:
            self.ingest.abort()
        if self.spooled is not None and self.jobs == 0:
            self.spooled.close()
            self.spooled = None


class ClipRegistry:
    """Clips by id; shared by the I/O thread, the probe pool and the worker (hence the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clips: Dict[str, ClipRecord] = {}

    @staticmethod
    def new_id() -> str:
        return "clip-" + uuid.uuid4().hex[:16]

    def add(self, record: ClipRecord) -> ClipRecord:
        with self._lock:
            self._clips[record.id] = record
        return record

    def get(self, clip_id: Any, session: str) -> ClipRecord:
        """The clip `clip_id` of `session`; another session's clip is as unknown as a closed one."""
        with self._lock:
            record = self._clips.get(clip_id) if isinstance(clip_id, str) else None
        if record is None or record.session != session:
            raise RequestError("unknown-clip", f"clip {clip_id!r} is not open on this server (closed, expired, or "
                                               "the server restarted); open it again")
        return record

    def remove(self, clip_id: str) -> Optional[ClipRecord]:
        with self._lock:
            record = self._clips.pop(clip_id, None)
        if record is not None:
            record.closed = True
            record.release()
        return record

    def of_session(self, session: str) -> List[ClipRecord]:
        with self._lock:
            return [r for r in self._clips.values() if r.session == session]

    def all(self) -> List[ClipRecord]:
        with self._lock:
            return list(self._clips.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._clips)

    @contextmanager
    def using(self, record: ClipRecord) -> Iterator[ClipRecord]:
        """Mark the record in use by a job, so closing it waits for the job before freeing the spool."""
        with self._lock:
            record.jobs += 1
        try:
            yield record
        finally:
            with self._lock:
                record.jobs -= 1
                free = record.closed and record.jobs == 0
            if free:
                record.release()


_END, _ABORT = object(), object()


class StreamIngest:
    """Writes a streamed clip's frames to a spool on its own thread, in order, hashing them."""

    def __init__(self, record: ClipRecord, engine: Any, ack: Callable[[Any, Optional[BaseException]], None],
                 expected: Optional[int], on_exit: Callable[[], None] = lambda: None) -> None:
        self.record = record
        self.expected = expected
        self.received = 0          # frames accepted by the I/O thread (it checks order and count)
        self.written = 0
        self.failed: Optional[str] = None
        self._engine, self._ack, self._on_exit = engine, ack, on_exit
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._lock = threading.Lock()
        self._current: Any = None            # token of the put being written, not yet acknowledged
        self._hasher = StreamHasher()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{record.id}", daemon=True)
        self._thread.start()

    def pending(self) -> int:
        return self._queue.qsize()

    def put(self, arrays: List[Any], token: Any, end: bool) -> None:
        """Queue frames (numpy views of the received buffers); `token` comes back through ack()."""
        with self._lock:
            if self.failed:
                raise RequestError("input", f"the upload of clip {self.record.id} failed: {self.failed}")
            self.received += len(arrays)
            self._queue.put((arrays, token, end))

    def abort(self) -> None:
        self._queue.put(_ABORT)

    def _frames(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _ABORT:
                raise Cancelled("the stream was closed before all frames arrived")
            arrays, token, end = item
            self._current = token
            for array in arrays:
                self._hasher.update(array.shape, str(array.dtype), memoryview(array).cast("B"))
                yield array
                self.written += 1
            if end:
                return  # acknowledged once the spool is complete
            self._current = None
            self._ack(token, None)  # the spool has saved every frame of this put

    def _run(self) -> None:
        try:
            self._ingest()
        finally:
            self._on_exit()

    def _ingest(self) -> None:
        try:
            source = self._engine.spool(self._frames(), self.record.stream.get("encoding"),
                                        self.record.stream.get("fps"))
        except BaseException as error:  # report to the waiting puts; never kill the server
            with self._lock:
                self.failed = str(error) or type(error).__name__
                self._fail_waiting(error)
            log.info("stream %s failed: %s", self.record.id, self.failed)
            return
        record = self.record
        if record.closed:
            source.close()
            return
        record.spooled = source
        record.info = source.info
        record.stop = source.info.count
        record.source_key = "stream:" + self._hasher.hexdigest()
        self._ack(self._current, None)

    def _fail_waiting(self, error: BaseException) -> None:
        tokens = [self._current]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _ABORT:
                tokens.append(item[1])
        for token in tokens:
            if token is not None:
                self._ack(token, error)


def real_folder_and_names(path: str, info: Any) -> Tuple[str, Tuple[str, ...]]:
    """The folder and file names a source reads: one file for a video, every frame for a sequence."""
    if info.kind == "video" or not info.names:
        return os.path.dirname(path), (os.path.basename(path),)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    return folder, tuple(info.names)

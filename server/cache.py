"""Clip analyses kept on disk, one folder per cache key, with only their working set in memory.

Every analysis is a disk analysis (the engine writes its targets chunk by chunk into
CACHE/analyses/<key>/, see analysis_files for the layout), so a 10,000-frame shot costs the server a
few kilobytes of metadata until a render reads it, and then only the chunks that render needs.

Memory: one `ChunkPool` holds the chunks that renders read, whichever analyses they belong to, least
recently used out first, under the memory budget (the chunk just read always stays, so a budget below
one chunk still renders, a chunk at a time). Opened analyses (metadata only) are kept in an LRU of
their own, by count.

Disk: folders, whole, least recently used out first, under the disk budget; use is recorded in the
folder's mtime, so the order survives a restart. A folder a job is using (`using`) is never deleted for
space: with a budget of 0 an analysis lives exactly as long as the jobs that use it.

Resume: a folder without a complete meta.json is an interrupted analysis (a cancel, a crash, a kill).
`prepare` checks what it holds (survey.npz readable, chunks whole and in order; whatever is not goes)
and the engine, given the folder, resumes at its first missing chunk.

Damage: a bad meta.json, entry.json or survey.npz, a chunk missing, truncated or not matching its CRC is
a miss: logged, removed and computed again, never an error that repeats. Sizes are checked when an
entry is opened, CRCs whenever a chunk is read: a render that meets a damaged chunk gets `Damaged`
(after the entry is removed) and computes the analysis again.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import numpy as np

from deflicker_engine.errors import InputError

from . import analysis_files as files
from .analysis_files import Damaged, Layout

log = logging.getLogger("deflicker.server")

MAX_OPEN = 256       # opened analyses kept (metadata only: their chunks are in the pool)
TRASH = ".deleting-"  # a removed entry's folder, renamed at once and deleted after

OpenAnalysis = Callable[[Path, Any], Any]    # (folder, targets) -> the engine's analysis reading through targets


class ChunkPool:
    """Chunks of every analysis under one memory budget, least recently used out first (thread-safe:
    both device lanes read, the I/O thread takes snapshots)."""

    def __init__(self, budget: int) -> None:
        self.budget = int(budget)
        self._lock = threading.Lock()
        self._chunks: "collections.OrderedDict[Tuple[str, int], np.ndarray]" = collections.OrderedDict()
        self._bytes = 0

    def get(self, ident: Tuple[str, int], load: Callable[[], np.ndarray]) -> np.ndarray:
        """The chunk `ident` ((key, k)), from memory or by `load` (run outside the lock)."""
        with self._lock:
            chunk = self._chunks.get(ident)
            if chunk is not None:
                self._chunks.move_to_end(ident)
                return chunk
        chunk = load()
        with self._lock:
            old = self._chunks.pop(ident, None)
            self._bytes -= 0 if old is None else old.nbytes
            self._chunks[ident] = chunk
            self._bytes += chunk.nbytes
            while self._bytes > self.budget and len(self._chunks) > 1:
                _, evicted = self._chunks.popitem(last=False)
                self._bytes -= evicted.nbytes
        return chunk

    def drop(self, key: str) -> None:
        with self._lock:
            for ident in [i for i in self._chunks if i[0] == key]:
                self._bytes -= self._chunks.pop(ident).nbytes

    def usage(self) -> Tuple[int, int, Dict[str, Tuple[int, int]]]:
        """(chunks, bytes, {key: (chunks, bytes)}) held now."""
        with self._lock:
            per_key: Dict[str, Tuple[int, int]] = {}
            for (key, _), chunk in self._chunks.items():
                count, size = per_key.get(key, (0, 0))
                per_key[key] = (count + 1, size + chunk.nbytes)
            return len(self._chunks), self._bytes, per_key


class ChunkTargets:
    """The targets of one finished analysis, read chunk by chunk through the pool, each chunk checked
    against its recorded CRC: the store the engine's analysis reads (`get(index)`, `nbytes`)."""

    def __init__(self, pool: ChunkPool, key: str, folder: Path, layout: Layout, digests: List[files.Digest],
                 on_damage: Callable[[str], None]) -> None:
        self.pool, self.key, self.folder, self.layout, self.digests = pool, key, folder, layout, digests
        self._on_damage = on_damage

    def get(self, index: int) -> np.ndarray:
        if not 0 <= index < self.layout.count:
            raise InputError(f"frame {index} is outside the analysis (0..{self.layout.count - 1})")
        k, offset = divmod(index, self.layout.chunk)
        return self.pool.get((self.key, k), lambda: self._read(k))[offset]

    @property
    def nbytes(self) -> int:
        """Memory this analysis holds now: its chunks in the pool."""
        return self.pool.usage()[2].get(self.key, (0, 0))[1]

    def _read(self, k: int) -> np.ndarray:
        try:
            return files.read_chunk(files.chunk_path(self.folder, k), self.digests[k],
                                    (self.layout.length(k), *self.layout.shape, 3))
        except Damaged as damage:
            self._on_damage(str(damage))
            raise Damaged(f"analysis {self.key[:12]}: {damage}; it was removed and is being computed again") from None


@dataclass
class Resume:
    """What an interrupted analysis left in its folder: frames [0, frames) are on disk, and whether pass
    one's result (survey.npz) is there to load."""

    frames: int = 0
    surveyed: bool = False


@dataclass
class _Opened:
    analysis: Any
    entry: Dict[str, Any]
    targets: ChunkTargets
    used: float


@dataclass
class _OnDisk:
    nbytes: int
    chunks: int
    complete: bool


class AnalysisCache:
    def __init__(self, folder: Path, budget_bytes: int, open_analysis: OpenAnalysis,
                 disk_budget_bytes: Optional[int] = None, max_open: int = MAX_OPEN) -> None:
        self.folder = Path(folder)
        self.budget = int(budget_bytes)
        self.disk_budget = None if disk_budget_bytes is None else int(disk_budget_bytes)
        self.pool = ChunkPool(self.budget)
        self._open_analysis = open_analysis
        self._max_open = max_open
        self._lock = threading.RLock()
        self._opened: "collections.OrderedDict[str, _Opened]" = collections.OrderedDict()
        self._generation: Dict[str, int] = collections.defaultdict(int)   # +1 whenever a key's folder goes
        self._pins: Dict[str, int] = collections.Counter()
        self._computing: Set[str] = set()
        self.hits = {"memory": 0, "disk": 0, "miss": 0, "damaged": 0, "evicted_from_disk": 0, "resumed": 0}
        self.folder.mkdir(parents=True, exist_ok=True)
        self._disk = self._scan()     # key -> _OnDisk, least recently used first
        self._trim_disk()

    # ------------------------------------------------------------------ lookups
    def get(self, key: str) -> Optional[Any]:
        """The analysis if it is open already (no file is read: only its folder's mtime is set)."""
        with self._lock:
            opened = self._opened.get(key)
            if opened is None:
                return None
            self._opened.move_to_end(key)
            opened.used = time.time()
            self.hits["memory"] += 1
            if key in self._disk:
                self._disk.move_to_end(key)
        _touch(self._path(key))
        return opened.analysis

    def has(self, key: str) -> bool:
        """Whether a finished analysis is open or on disk (no file is read: the I/O thread asks)."""
        with self._lock:
            entry = self._disk.get(key)
            return key in self._opened or (entry is not None and entry.complete)

    def load(self, key: str) -> Optional[Any]:
        """The finished analysis from its folder (then kept open), or None when there is none, it is
        unfinished, or it is damaged (then removed)."""
        folder = self._path(key)
        with self._lock:
            generation = self._generation[key]
            if key in self._computing:
                self.hits["miss"] += 1
                return None
        try:
            opened = self._open_folder(key, folder, generation)
        except Damaged as damage:
            self._damaged(key, str(damage), generation)
            opened = None
        if opened is None:
            with self._lock:
                self.hits["miss"] += 1
            return None
        with self._lock:
            if self._generation[key] != generation:      # removed meanwhile (for space, or found damaged)
                self.hits["miss"] += 1
                return None
            self.hits["disk"] += 1
            self._register(key, opened, folder)
        _touch(folder)
        return opened.analysis

    # ------------------------------------------------------------------ computing
    def path(self, key: str) -> Path:
        """The folder the engine analyses `key` into."""
        return self._path(key)

    @contextmanager
    def computing(self, key: str) -> Iterator[Resume]:
        """The compute lane analyses `key` into its folder within this block (see `prepare`); meanwhile the
        folder is nobody else's to open, even once the engine has marked it complete and `put` is still
        recording it."""
        with self._lock:
            self._computing.add(key)
        try:
            yield self.prepare(key)
        finally:
            with self._lock:
                self._computing.discard(key)

    def prepare(self, key: str) -> Resume:
        """Make the folder ready for the engine and say what an interrupted analysis left there: its chunks
        up to the first missing or damaged one stay (the rest go), with its survey.npz when that reads
        back whole; anything inconsistent and the folder starts empty."""
        folder = self._path(key)
        resume = Resume()
        if folder.is_dir():
            problem = _unfinished_problem(folder)
            if problem:
                self._damaged(key, problem)
            else:
                frames, doomed = files.intact_prefix(folder)
                for path in doomed:
                    log.warning("analysis %s: %s cannot be resumed from (unreadable or out of order); removed, "
                                "it will be computed again", key, path.name)
                    path.unlink(missing_ok=True)
                resume = Resume(frames, (folder / files.SURVEY).is_file())
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            nbytes, chunks = files.folder_usage(folder)
            self._disk[key] = _OnDisk(nbytes, chunks, False)
            self._disk.move_to_end(key)
            if resume.surveyed:
                self.hits["resumed"] += 1
        return resume

    def restart(self, key: str, why: str) -> None:
        """An interrupted analysis that could not be resumed: start its folder again, empty."""
        self._damaged(key, why)
        self.prepare(key)

    def put(self, key: str, meta: Dict[str, Any]) -> Any:
        """Record a finished analysis (the engine has written its folder): the size and CRC of every chunk
        go into entry.json with `meta`, and it is opened for rendering."""
        folder = self._path(key)
        with self._lock:
            generation = self._generation[key]
        try:
            layout = Layout.from_meta(files.read_json(folder / files.META))
            entry = dict(meta, key=key, created=time.time(), frames=layout.count, chunk=layout.chunk,
                         chunks=files.digest_chunks(folder, layout))
            try:
                files.write_json(folder / files.ENTRY, entry)
            except OSError as error:  # the chunks are there: it works now; a restarted server digests them again
                log.warning("cannot write the entry of analysis %s (%s); its chunks are checked again after a "
                            "restart", key, error)
            opened = self._open_folder(key, folder, generation, entry)
            if opened is None:
                raise Damaged(f"the engine returned without finishing {files.META}")
        except Damaged as damage:
            self._damaged(key, str(damage), generation)
            raise Damaged(f"analysis {key[:12]} was not stored whole ({damage}); ask again to compute it again") \
                from None
        with self._lock:
            self._register(key, opened, folder)
        self._trim_disk()
        return opened.analysis

    @contextmanager
    def using(self, key: str) -> Iterator[None]:
        """Keep `key`'s folder from being deleted for space while a job works with it."""
        with self._lock:
            self._pins[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._pins[key] -= 1
                if self._pins[key] <= 0:
                    del self._pins[key]
            self._trim_disk()

    def footprint(self, key: str) -> Dict[str, int]:
        """What one analysis costs now: bytes and chunks on disk, bytes in memory."""
        with self._lock:
            entry = self._disk.get(key, _OnDisk(0, 0, False))
        return {"nbytes": entry.nbytes, "chunks": entry.chunks, "resident": self.pool.usage()[2].get(key, (0, 0))[1]}

    # ------------------------------------------------------------------ damage and space
    def discard(self, key: str, generation: int, why: str) -> bool:
        """A reader found `key` damaged: remove it, unless it is gone already (`generation` is the one the
        reader opened; a newer folder is not the damaged one)."""
        return self._damaged(key, why, generation)

    def _damaged(self, key: str, why: str, generation: Optional[int] = None) -> bool:
        if not self._remove(key, generation):
            return False
        log.warning("cache entry %s is damaged (%s); removed, it will be recomputed", key, why)
        with self._lock:
            self.hits["damaged"] += 1
        return True

    def _remove(self, key: str, generation: Optional[int] = None) -> bool:
        """Forget `key` and delete its folder (only if it is still `generation`, when given)."""
        with self._lock:
            if generation is not None and self._generation[key] != generation:
                return False
            trash = self._forget(key)
        self.pool.drop(key)
        if trash is not None:
            files.remove_folder(trash)
        return True

    def _forget(self, key: str) -> Optional[Path]:
        """Under the lock: `key` is no longer open nor on disk, and readers of its old folder are stale. Its
        folder is renamed out of the way at once (a new analysis of the key may start before it is deleted);
        returns where it went, for deleting outside the lock."""
        self._generation[key] += 1
        self._opened.pop(key, None)
        self._disk.pop(key, None)
        trash = self.folder / f"{TRASH}{key}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self._path(key), trash)
        except OSError:      # nothing there (or it cannot move: then it is deleted where it is)
            return self._path(key) if self._path(key).exists() else None
        return trash

    def _trim_disk(self) -> None:
        """Delete the least recently used folders until the cache fits its disk budget; folders in use
        wait until their jobs end."""
        if self.disk_budget is None:
            return
        doomed = []
        with self._lock:
            total = sum(e.nbytes for e in self._disk.values())
            for key, entry in list(self._disk.items()):
                if total <= self.disk_budget:
                    break
                if self._pins.get(key):
                    continue
                total -= entry.nbytes
                doomed.append((key, entry, self._forget(key)))
                self.hits["evicted_from_disk"] += 1
        for key, entry, trash in doomed:
            log.info("deleted analysis %s (%d MB, %d chunks%s) from disk: the cache folder is over its budget of "
                     "%d MB", key, entry.nbytes >> 20, entry.chunks, "" if entry.complete else ", unfinished",
                     self.disk_budget >> 20)
            self.pool.drop(key)
            if trash is not None:
                files.remove_folder(trash)

    # ------------------------------------------------------------------ housekeeping
    def used(self) -> int:
        return self.pool.usage()[1]

    def sweep(self) -> int:
        """Remove temporaries a killed server left behind (in the cache folder and in every entry); only
        before anything writes there. Returns how many."""
        removed = 0
        for path in [*self.folder.glob(".*.partial"), *self.folder.glob("*/.*.partial")]:
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
        for path in self.folder.glob(f"{TRASH}*"):     # folders a killed server was deleting
            files.remove_folder(path)
            removed += 1
        return removed

    def snapshot(self, sources: bool = True) -> Dict[str, Any]:
        """What status shows, in chunks and bytes; `sources` False leaves out where each analysis came from
        (another session's file names are not this client's business)."""
        chunks, used, per_key = self.pool.usage()
        with self._lock:
            resident = []
            for key, opened in reversed(self._opened.items()):
                count, size = per_key.get(key, (0, 0))
                on_disk = self._disk.get(key, _OnDisk(0, 0, True))
                resident.append({"key": key, "frames": opened.targets.layout.count,
                                 "chunk_frames": opened.targets.layout.chunk, "chunks": count, "nbytes": size,
                                 "disk_chunks": opened.targets.layout.chunks, "disk_bytes": on_disk.nbytes,
                                 "last_used": opened.used,
                                 "source": opened.entry.get("source", "") if sources else None,
                                 "params": opened.entry.get("params", {})})
            disk = list(self._disk.values())
            hits = dict(self.hits)
        return {"budget": self.budget, "used": used, "chunks": chunks, "resident": resident, "hits": hits,
                "disk_entries": sum(e.complete for e in disk), "disk_unfinished": sum(not e.complete for e in disk),
                "disk_bytes": sum(e.nbytes for e in disk), "disk_chunks": sum(e.chunks for e in disk),
                "disk_budget": self.disk_budget, "folder": str(self.folder)}

    # ------------------------------------------------------------------ folders
    def _open_folder(self, key: str, folder: Path, generation: int,
                     entry: Optional[Dict[str, Any]] = None) -> Optional[_Opened]:
        """A finished analysis, opened for rendering; None when absent or unfinished; Damaged otherwise."""
        if not (folder / files.META).is_file():
            return None
        meta = files.read_json(folder / files.META)
        if not meta.get("complete"):
            return None
        layout = Layout.from_meta(meta)
        entry = entry if entry is not None else self._entry(key, folder, layout)
        files.check_chunk_files(folder, layout, entry.get("chunks", []))
        targets = ChunkTargets(self.pool, key, folder, layout, entry["chunks"],
                               lambda why: self.discard(key, generation, why))
        try:
            analysis = self._open_analysis(folder, targets)
        except Exception as error:   # whatever a damaged or foreign folder makes the engine raise
            raise Damaged(f"the engine cannot open it ({type(error).__name__}: {error})") from None
        return _Opened(analysis, entry, targets, time.time())

    def _entry(self, key: str, folder: Path, layout: Layout) -> Dict[str, Any]:
        """entry.json; a finished analysis without one (the server was killed right after the engine
        finished) gets it now, from its chunks."""
        path = folder / files.ENTRY
        if path.is_file():
            return files.read_json(path)
        log.info("analysis %s was finished without its entry (a server stopped meanwhile); checking its chunks", key)
        layout_digests = files.digest_chunks(folder, layout)
        entry = {"key": key, "created": time.time(), "frames": layout.count, "chunk": layout.chunk,
                 "chunks": layout_digests}
        try:
            files.write_json(path, entry)
        except OSError as error:
            log.warning("cannot write the entry of analysis %s: %s", key, error)
        return entry

    def _register(self, key: str, opened: _Opened, folder: Path) -> None:
        """Open and on disk, most recently used (under the lock)."""
        self._opened.pop(key, None)
        self._opened[key] = opened
        while len(self._opened) > self._max_open:
            self._opened.popitem(last=False)
        nbytes, chunks = files.folder_usage(folder)
        self._disk[key] = _OnDisk(nbytes, chunks, True)
        self._disk.move_to_end(key)

    def _scan(self) -> "collections.OrderedDict[str, _OnDisk]":
        """The entries on disk, least recently used first. Files of the old format (whole analyses as
        <key>.npz) are removed: their keys would never be asked for again."""
        found, old = [], 0
        for path in self.folder.iterdir():
            if path.name.startswith("."):
                continue
            if path.is_dir():
                try:
                    mtime = path.stat().st_mtime_ns
                except OSError:
                    continue
                nbytes, chunks = files.folder_usage(path)
                found.append((mtime, path.name, _OnDisk(nbytes, chunks, files.is_complete(path))))
            elif path.suffix in (".npz", ".json"):
                path.unlink(missing_ok=True)
                old += 1
        if old:
            log.info("removed %d files of whole-analysis cache entries (an older format); analyses now live "
                     "in one folder each", old)
        return collections.OrderedDict((key, entry) for _, key, entry in sorted(found))

    def _path(self, key: str) -> Path:
        return self.folder / key


def _unfinished_problem(folder: Path) -> str:
    """Why an interrupted analysis's folder cannot be resumed ("" when it can)."""
    if (folder / files.META).exists():
        return f"{files.META} of an analysis that did not open"
    survey = folder / files.SURVEY
    if survey.is_file():
        return files.zip_problem(survey)
    if files.chunk_indices(folder):
        return f"chunks without the {files.SURVEY} they were made from"
    return ""


def _touch(path: Path) -> None:
    """Record a use in the folder's mtime: the disk LRU order then survives a restart."""
    try:
        os.utime(path)
    except OSError:
        pass


def list_entries(folder: Path) -> List[Dict[str, Any]]:
    """entry.json of every finished analysis in a cache folder (for tests and tools)."""
    out = []
    for path in sorted(Path(folder).glob(f"*/{files.ENTRY}")):
        try:
            out.append(files.read_json(path))
        except Damaged:
            continue
    return out

"""Clip analyses kept resident under a memory budget (LRU) and persisted to the cache folder under a disk
budget (LRU too).

Memory holds the most recently used analyses up to the budget; every analysis is also saved
(atomically, by the engine's save) as `<key>.npz` with a `<key>.json` beside it, so a restarted
server loads it instead of refitting. The folder keeps to its own budget: beyond it the least
recently used entries are deleted (use is recorded in the file's mtime, so the order survives a
restart). A damaged file (truncated, bit-flipped, another format: whatever the loader raises) is a
miss: it is logged, deleted and the analysis recomputed, never an error that repeats forever.
Eviction only drops the cache's reference: a job still rendering from an evicted analysis keeps it
until done.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from deflicker_engine.io import atomic_file

log = logging.getLogger("deflicker.server")


class AnalysisCache:
    def __init__(self, folder: Path, budget_bytes: int, save: Callable[[Any, Path], None],
                 load: Callable[[Path], Any], disk_budget_bytes: Optional[int] = None) -> None:
        self.folder = Path(folder)
        self.budget = int(budget_bytes)
        self.disk_budget = None if disk_budget_bytes is None else int(disk_budget_bytes)
        self._save, self._load = save, load
        self._lock = threading.Lock()
        self._memory: "collections.OrderedDict[str, Dict[str, Any]]" = collections.OrderedDict()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._disk = self._scan()     # key -> bytes of its .npz, least recently used first
        self.hits = {"memory": 0, "disk": 0, "miss": 0, "damaged": 0, "evicted_from_disk": 0}
        if self.disk_budget is not None:
            self._trim_disk()

    # ------------------------------------------------------------------ lookups
    def get(self, key: str) -> Optional[Any]:
        """The analysis from memory, or None (no disk access: callers on the I/O thread may ask)."""
        with self._lock:
            entry = self._memory.get(key)
            if entry is None:
                return None
            self._memory.move_to_end(key)
            entry["used"] = time.time()
            self.hits["memory"] += 1
            return entry["analysis"]

    def has(self, key: str) -> bool:
        """Whether the analysis is in memory or on disk (no file is read)."""
        with self._lock:
            return key in self._memory or key in self._disk

    def on_disk(self, key: str) -> bool:
        return self._npz(key).is_file()

    def load(self, key: str) -> Optional[Any]:
        """The analysis from disk (then kept in memory), or None when absent or damaged."""
        path = self._npz(key)
        if not path.is_file():
            with self._lock:
                self.hits["miss"] += 1
                self._disk.pop(key, None)
            return None
        try:
            analysis = self._load(path)
            int(analysis.nbytes)
        except Exception as error:   # a damaged file can make a loader raise anything (BadZipFile, EOFError...)
            log.warning("cache entry %s is damaged (%s: %s); removed, it will be recomputed", key,
                        type(error).__name__, error)
            self._remove_files(key)
            with self._lock:
                self.hits["miss"] += 1
                self.hits["damaged"] += 1
                self._disk.pop(key, None)
            return None
        meta = self._read_meta(key)
        with self._lock:
            self.hits["disk"] += 1
            self._disk[key] = _size(path)
            self._disk.move_to_end(key)
        _touch(path)
        self._remember(key, analysis, meta)
        return analysis

    # ------------------------------------------------------------------ storing
    def put(self, key: str, analysis: Any, meta: Dict[str, Any]) -> None:
        """Persist (atomically, within the disk budget) and keep in memory under the budget."""
        meta = dict(meta, key=key, nbytes=int(analysis.nbytes), created=time.time())
        if self.disk_budget != 0:
            try:
                self._save(analysis, self._npz(key))
                self._write_meta(key, meta)
                with self._lock:
                    self._disk[key] = _size(self._npz(key))
                    self._disk.move_to_end(key)
                self._trim_disk()
            except OSError as error:
                log.warning("cannot persist analysis %s (%s); it stays in memory only", key, error)
        self._remember(key, analysis, meta)

    def _remember(self, key: str, analysis: Any, meta: Dict[str, Any]) -> None:
        nbytes = int(analysis.nbytes)
        with self._lock:
            self._memory.pop(key, None)
            if nbytes > self.budget:
                log.info("analysis %s (%d MB) exceeds the memory budget; kept on disk only", key, nbytes >> 20)
                return
            while self._memory and self.used_locked() + nbytes > self.budget:
                old, _ = self._memory.popitem(last=False)
                log.info("evicted analysis %s from memory (still on disk)", old)
            self._memory[key] = {"analysis": analysis, "nbytes": nbytes, "used": time.time(), "meta": meta}

    def _trim_disk(self) -> None:
        """Delete the least recently used files until the folder fits its budget (the newest entry too,
        when it alone is larger: it then lives in memory only)."""
        if self.disk_budget is None:
            return
        doomed = []
        with self._lock:
            while self._disk and sum(self._disk.values()) > self.disk_budget:
                key, size = self._disk.popitem(last=False)
                doomed.append((key, size))
                self.hits["evicted_from_disk"] += 1
        for key, size in doomed:
            log.info("deleted analysis %s (%d MB) from disk: the cache folder is over its budget of %d MB", key,
                     size >> 20, self.disk_budget >> 20)
            self._remove_files(key)

    # ------------------------------------------------------------------ housekeeping
    def used_locked(self) -> int:
        return sum(e["nbytes"] for e in self._memory.values())

    def used(self) -> int:
        with self._lock:
            return self.used_locked()

    def sweep(self) -> int:
        """Remove partial files a killed server left behind; returns how many."""
        removed = 0
        for path in self.folder.glob(".*.partial"):
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
        return removed

    def snapshot(self, sources: bool = True) -> Dict[str, Any]:
        """What status shows; `sources` False leaves out where each analysis came from (another
        session's file names are not this client's business)."""
        with self._lock:
            entries = [{"key": k, "nbytes": e["nbytes"], "last_used": e["used"],
                        "source": e["meta"].get("source", "") if sources else None,
                        "params": e["meta"].get("params", {})}
                       for k, e in reversed(self._memory.items())]
            used = self.used_locked()
            hits = dict(self.hits)
            disk_entries, disk_bytes = len(self._disk), sum(self._disk.values())
        return {"budget": self.budget, "used": used, "resident": entries, "hits": hits,
                "disk_entries": disk_entries, "disk_bytes": disk_bytes, "disk_budget": self.disk_budget,
                "folder": str(self.folder)}

    # ------------------------------------------------------------------ files
    def _scan(self) -> "collections.OrderedDict[str, int]":
        found = []
        for path in self.folder.glob("*.npz"):
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((st.st_mtime_ns, path.stem, st.st_size))
        return collections.OrderedDict((key, size) for _, key, size in sorted(found))

    def _npz(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def _json(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def _write_meta(self, key: str, meta: Dict[str, Any]) -> None:
        with atomic_file(self._json(key), "w") as handle:
            json.dump(meta, handle, indent=1, default=str)

    def _read_meta(self, key: str) -> Dict[str, Any]:
        try:
            return json.loads(self._json(key).read_text())
        except (OSError, ValueError):
            return {"key": key}

    def _remove_files(self, key: str) -> None:
        for path in (self._npz(key), self._json(key)):
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("cannot delete %s: %s", path, error)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _touch(path: Path) -> None:
    """Record a use in the file's mtime: the disk LRU order then survives a restart."""
    try:
        os.utime(path)
    except OSError:
        pass


def list_entries(folder: Path) -> List[Dict[str, Any]]:
    """Metadata of every persisted analysis (for status and tests)."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out

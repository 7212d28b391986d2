"""Clip analyses kept resident under a memory budget (LRU) and persisted to the cache folder.

Memory holds the most recently used analyses up to the budget; every analysis is also saved
(atomically, by ClipAnalysis.save) as `<key>.npz` with a `<key>.json` beside it, so a restarted
server loads it instead of refitting. A damaged file is deleted and counts as a miss. Eviction only
drops the cache's reference: a job still rendering from an evicted analysis keeps it until done.
"""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from deflicker_engine.errors import DeflickerError
from deflicker_engine.io import atomic_file

log = logging.getLogger("deflicker.server")


class AnalysisCache:
    def __init__(self, folder: Path, budget_bytes: int, save: Callable[[Any, Path], None],
                 load: Callable[[Path], Any]) -> None:
        self.folder = Path(folder)
        self.budget = int(budget_bytes)
        self._save, self._load = save, load
        self._lock = threading.Lock()
        self._memory: "collections.OrderedDict[str, Dict[str, Any]]" = collections.OrderedDict()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = {"memory": 0, "disk": 0, "miss": 0}

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

    def on_disk(self, key: str) -> bool:
        return self._npz(key).is_file()

    def load(self, key: str) -> Optional[Any]:
        """The analysis from disk (then kept in memory), or None when absent or damaged."""
        path = self._npz(key)
        if not path.is_file():
            with self._lock:
                self.hits["miss"] += 1
            return None
        try:
            analysis = self._load(path)
        except (DeflickerError, OSError, ValueError) as error:
            log.warning("cache entry %s is damaged (%s); it will be recomputed", key, error)
            self._remove_files(key)
            with self._lock:
                self.hits["miss"] += 1
            return None
        meta = self._read_meta(key)
        with self._lock:
            self.hits["disk"] += 1
        self._remember(key, analysis, meta)
        return analysis

    # ------------------------------------------------------------------ storing
    def put(self, key: str, analysis: Any, meta: Dict[str, Any]) -> None:
        """Persist (atomically) and keep in memory under the budget."""
        meta = dict(meta, key=key, nbytes=int(analysis.nbytes), created=time.time())
        try:
            self._save(analysis, self._npz(key))
            self._write_meta(key, meta)
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

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            entries = [{"key": k, "nbytes": e["nbytes"], "last_used": e["used"],
                        "source": e["meta"].get("source", ""), "params": e["meta"].get("params", {})}
                       for k, e in reversed(self._memory.items())]
            used = self.used_locked()
            hits = dict(self.hits)
        disk = list(self.folder.glob("*.npz"))
        return {"budget": self.budget, "used": used, "resident": entries, "hits": hits,
                "disk_entries": len(disk), "disk_bytes": sum(_size(p) for p in disk), "folder": str(self.folder)}

    # ------------------------------------------------------------------ files
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
            path.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def list_entries(folder: Path) -> List[Dict[str, Any]]:
    """Metadata of every persisted analysis (for status and tests)."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out

"""Where a clip's targets live: in memory for a short clip, on disk chunk by chunk for a long one.

A ClipAnalysis reads its targets through a store. `DiskTargets` keeps every chunk of CHUNK_FRAMES frames as
its own file, written atomically as soon as it is complete, and holds only the last few chunks it read: a
10,000-frame shot renders from any frame without being held, and an analysis that was interrupted knows
where to pick up (`done_until`). Beside the chunks, `survey.npz` keeps pass one's compact result, so a
resumed analysis does not fit its atlases again.
"""
from __future__ import annotations

import collections
import json
import os
import re
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from .errors import InputError
from .io import atomic_file

CHUNK_FRAMES = 64
RESIDENT_CHUNKS = 4
_CHUNK = re.compile(r"^chunk_(\d{6})\.npy$")


class MemoryTargets:
    """Every target in one float16 array: short clips, tests, the in-process API."""

    def __init__(self, count: int, shape: Tuple[int, int], array: Optional[np.ndarray] = None) -> None:
        self.count, self.shape = count, tuple(shape)
        self.array = np.empty((count, *shape, 3), np.float16) if array is None else array

    def put(self, index: int, target: np.ndarray) -> None:
        self.array[index] = target

    def get(self, index: int) -> np.ndarray:
        return self.array[index]

    def done_until(self) -> int:
        return 0

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)


class DiskTargets:
    """Targets as chunk files in `folder`; a few chunks resident (least recently used go first)."""

    def __init__(self, folder: "str | os.PathLike[str]", count: int, shape: Tuple[int, int],
                 chunk: int = CHUNK_FRAMES, resident: int = RESIDENT_CHUNKS) -> None:
        self.folder = Path(folder)
        self.count, self.shape, self.chunk, self.resident = count, tuple(shape), chunk, max(1, resident)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._loaded: "collections.OrderedDict[int, np.ndarray]" = collections.OrderedDict()
        self._filling: Dict[int, np.ndarray] = {}

    # --- writing, in frame order ---------------------------------------------------------------------
    def put(self, index: int, target: np.ndarray) -> None:
        k, offset = divmod(index, self.chunk)
        buffer = self._filling.get(k)
        if buffer is None:
            buffer = self._filling[k] = np.empty((self._chunk_length(k), *self.shape, 3), np.float16)
        buffer[offset] = target
        if offset == len(buffer) - 1:
            with atomic_file(self._path(k)) as handle:
                np.save(handle, self._filling.pop(k))

    def done_until(self) -> int:
        """Frames [0, done_until) are on disk: an interrupted analysis resumes there."""
        k = 0
        while k * self.chunk < self.count and self._path(k).is_file():
            k += 1
        return min(self.count, k * self.chunk)

    # --- reading, any frame --------------------------------------------------------------------------
    def get(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise InputError(f"frame {index} is outside the analysis (0..{self.count - 1})")
        k, offset = divmod(index, self.chunk)
        chunk = self._loaded.get(k)
        if chunk is None:
            chunk = self._read(k)
            self._loaded[k] = chunk
            while len(self._loaded) > self.resident:
                self._loaded.popitem(last=False)
        self._loaded.move_to_end(k)
        return chunk[offset]

    @property
    def nbytes(self) -> int:
        """Memory held now (resident chunks), not the size on disk."""
        return int(sum(c.nbytes for c in self._loaded.values()) + sum(c.nbytes for c in self._filling.values()))

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def _read(self, k: int) -> np.ndarray:
        path = self._path(k)
        try:
            chunk = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read analysis chunk {path}: {error}; analyse again") from error
        if chunk.dtype != np.float16 or chunk.shape != (self._chunk_length(k), *self.shape, 3):
            raise InputError(f"analysis chunk {path} is damaged or from another analysis; analyse again")
        return chunk

    def _chunk_length(self, k: int) -> int:
        return min(self.chunk, self.count - k * self.chunk)

    def _path(self, k: int) -> Path:
        return self.folder / f"chunk_{k:06d}.npy"


def write_meta(folder: Path, meta: Dict) -> None:
    with atomic_file(Path(folder) / "meta.json", "w") as handle:
        json.dump(meta, handle, default=float)


def read_meta(folder: Path) -> Dict:
    try:
        return json.loads((Path(folder) / "meta.json").read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read analysis folder {folder}: {error}") from error

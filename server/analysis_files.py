"""The files of one disk analysis, as pure functions: what the cache checks before it trusts a folder.

A cache entry is a folder, CACHE/analyses/<key>/, holding the engine's disk analysis and one file of
the server's:

    chunk_000000.npy ...  the targets, float16 [frames, h, w, 3], `chunk` frames each (the last may be
                          shorter); the engine writes each atomically as soon as its frames are final
    survey-partial.npz    pass one's checkpoint while it runs (the engine's own: it checks and removes it)
    survey.npz            pass one's compact result, written before the first chunk (what a resume loads)
    meta.json             written last by the engine: "complete": true, count, chunk, shape
    entry.json            the server's, once the analysis is complete: where it came from, and the size
                          and CRC-32 of every chunk (a flipped bit in a chunk is found when it is read)

A folder without a complete meta.json is an interrupted analysis: the engine resumes it at its first
missing chunk. Nothing here holds state; every problem is a `Damaged` whose message says what is wrong.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from deflicker_engine.errors import InputError
from deflicker_engine.io import atomic_file

META, SURVEY, ENTRY = "meta.json", "survey.npz", "entry.json"
CHUNK = re.compile(r"^chunk_(\d{6})\.npy$")
READ_BLOCK = 8 << 20

Digest = Dict[str, int]            # {"size": bytes, "crc32": CRC-32 of the whole file}


class Damaged(InputError):
    """A cache entry that cannot be trusted (a bad meta.json, entry.json or survey.npz, a chunk missing,
    truncated or not matching its CRC). The cache removes it and the analysis is computed again."""


@dataclass(frozen=True)
class Layout:
    """How a finished analysis cuts its frames into chunk files."""

    count: int
    chunk: int
    shape: Tuple[int, int]

    @classmethod
    def from_meta(cls, meta: Dict[str, Any]) -> "Layout":
        try:
            layout = cls(int(meta["count"]), int(meta["chunk"]), (int(meta["shape"][0]), int(meta["shape"][1])))
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise Damaged(f"{META} lacks the chunk layout ({type(error).__name__}: {error})") from None
        if layout.count < 1 or layout.chunk < 1 or min(layout.shape) < 1:
            raise Damaged(f"{META} has an impossible layout {layout}")
        return layout

    @property
    def chunks(self) -> int:
        return -(-self.count // self.chunk)

    def length(self, k: int) -> int:
        """Frames in chunk k."""
        return min(self.chunk, self.count - k * self.chunk)


def chunk_path(folder: Path, k: int) -> Path:
    return Path(folder) / f"chunk_{k:06d}.npy"


def chunk_indices(folder: Path) -> List[int]:
    """The chunk numbers present in `folder`, in order."""
    found = []
    for path in Path(folder).iterdir():
        match = CHUNK.match(path.name)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def read_json(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise Damaged(f"cannot read {Path(path).name} ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict):
        raise Damaged(f"{Path(path).name} is not a JSON object")
    return data


def write_json(path: Path, data: Dict[str, Any]) -> None:
    with atomic_file(path, "w") as handle:
        json.dump(data, handle, indent=1, default=str)


def is_complete(folder: Path) -> bool:
    """Whether the engine finished this analysis (a damaged meta.json counts as not: it is dealt with when
    the entry is opened)."""
    try:
        return bool(read_json(Path(folder) / META).get("complete"))
    except Damaged:
        return False


def chunk_shape(path: Path) -> Tuple[int, ...]:
    """The shape a chunk file declares, after checking it is a float16 [n, h, w, 3] array whose data
    fills the file exactly (a truncated or padded file is Damaged)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            data_start = handle.tell()
        size = Path(path).stat().st_size
    except (OSError, ValueError) as error:
        raise Damaged(f"{Path(path).name}: {type(error).__name__}: {error}") from None
    if fortran or dtype != np.float16 or len(shape) != 4 or shape[3] != 3 or min(shape) < 1:
        raise Damaged(f"{Path(path).name} holds {dtype} {shape}, not float16 targets")
    if size != data_start + int(np.prod(shape)) * 2:
        raise Damaged(f"{Path(path).name} is {size} bytes, its header says {data_start + int(np.prod(shape)) * 2}")
    return tuple(int(s) for s in shape)


def intact_prefix(folder: Path) -> Tuple[int, List[Path]]:
    """(frames, doomed) for an interrupted analysis: the frames its chunks 0, 1, ... hold before the first
    missing or damaged one (all of one length and picture size), and the chunk files from there on, which
    must go so that the engine resumes exactly where the good ones end."""
    indices = set(chunk_indices(folder))
    frames, k, full = 0, 0, None
    while k in indices:
        try:
            shape = chunk_shape(chunk_path(folder, k))
        except Damaged:
            break
        if full is None:
            full = shape
        elif shape[1:] != full[1:] or shape[0] > full[0]:
            break
        frames += shape[0]
        k += 1
        if shape[0] < full[0]:
            break                                           # a short chunk can only be the clip's last
    return frames, [chunk_path(folder, i) for i in sorted(indices) if i >= k]


def zip_problem(path: Path) -> str:
    """Why an .npz cannot be trusted ("" when every member reads back with a matching CRC)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error) as error:
        return f"{Path(path).name}: {type(error).__name__}: {error}"
    return f"{Path(path).name}: member {bad} fails its CRC" if bad else ""


def digest(path: Path) -> Digest:
    crc, size = 0, 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(READ_BLOCK)
            if not block:
                break
            crc, size = zlib.crc32(block, crc), size + len(block)
    return {"size": size, "crc32": crc}


def digest_chunks(folder: Path, layout: Layout) -> List[Digest]:
    """Size and CRC-32 of every chunk of a finished analysis, after checking each one's header against
    the layout (what the cache verifies on every later read)."""
    digests = []
    for k in range(layout.chunks):
        path = chunk_path(folder, k)
        expected = (layout.length(k), *layout.shape, 3)
        if not path.is_file():
            raise Damaged(f"{path.name} is missing")
        if chunk_shape(path) != expected:
            raise Damaged(f"{path.name} holds {chunk_shape(path)}, the layout says {expected}")
        try:
            digests.append(digest(path))
        except OSError as error:
            raise Damaged(f"{path.name}: {error}") from None
    return digests


def check_chunk_files(folder: Path, layout: Layout, digests: List[Digest]) -> None:
    """Every chunk present with its recorded size (stat only: cheap enough for every open)."""
    if len(digests) != layout.chunks or not all(isinstance(d, dict) for d in digests):
        raise Damaged(f"{ENTRY} records {len(digests)} chunks, the analysis has {layout.chunks}")
    for k, expected in enumerate(digests):
        path = chunk_path(folder, k)
        try:
            size = path.stat().st_size
        except OSError:
            raise Damaged(f"{path.name} is missing") from None
        if size != expected.get("size"):
            raise Damaged(f"{path.name} is {size} bytes, {expected.get('size')} were written")


def read_chunk(path: Path, expected: Digest, shape: Tuple[int, ...]) -> np.ndarray:
    """One chunk, read whole and checked against its recorded size and CRC before it is trusted."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise Damaged(f"{Path(path).name}: {error.strerror or error}") from None
    if len(data) != expected.get("size") or zlib.crc32(data) != expected.get("crc32"):
        raise Damaged(f"{Path(path).name} does not match its recorded size and CRC-32")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError) as error:
        raise Damaged(f"{Path(path).name}: {error}") from None
    if array.dtype != np.float16 or array.shape != tuple(shape):
        raise Damaged(f"{Path(path).name} holds {array.dtype} {array.shape}, expected float16 {tuple(shape)}")
    return array


def folder_usage(folder: Path) -> Tuple[int, int]:
    """(bytes of its files, chunk files) of one entry."""
    total = chunks = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0, 0
    for path in entries:
        try:
            total += path.stat().st_size
        except OSError:
            continue
        chunks += bool(CHUNK.match(path.name))
    return total, chunks


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)

"""Content fingerprints of clips, the first half of every cache key.

Files: size, modification time (ns) and samples of the bytes (start, middle, end) of every file,
plus the frame file names of a sequence, in order. Why not a full hash of the decoded frames?
It would mean decoding the whole clip before answering anything, the very work the cache exists to
avoid (asking for frame 37 must not read 1000 EXRs). A false hit needs a file rewritten in place
to the same size with the same mtime down to the nanosecond and identical sampled bytes, which no
editing or render tool does; a false miss (a plain copy gets a new mtime) only costs a re-analysis.
The folder is not part of the key, so a moved file keeps its analysis.

Streamed frames have no file to stat: they are hashed in full as they arrive (blake2b), which is
cheap beside receiving them.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Sequence, Tuple

FILE_SAMPLE = 64 * 1024
SAMPLE_BUDGET = 32 * 1024 * 1024       # total bytes read for a whole sequence
MIN_SAMPLE = 4 * 1024

Signature = Tuple[Tuple[int, int], ...]


def _sample_offsets(size: int, sample: int) -> Iterable[int]:
    if size <= 3 * sample:
        return (0,)
    return (0, size // 2 - sample // 2, size - sample)


def _hash_file(h, path: str, sample: int) -> None:
    st = os.stat(path)
    h.update(f"{st.st_size}:{st.st_mtime_ns};".encode())
    with open(path, "rb") as handle:
        for offset in _sample_offsets(st.st_size, sample):
            handle.seek(offset)
            h.update(handle.read(sample if st.st_size > 3 * sample else 3 * sample))


def files_fingerprint(folder: str, names: Sequence[str]) -> str:
    """Fingerprint of the files `names` in `folder` (one name for a video file)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"files:{len(names)};".encode())
    sample = max(MIN_SAMPLE, min(FILE_SAMPLE, SAMPLE_BUDGET // max(1, 3 * len(names))))
    for name in names:
        h.update(name.encode("utf-8", "surrogateescape") + b"\x00" if len(names) > 1 else b"single\x00")
        _hash_file(h, os.path.join(folder, name), sample)
    return h.hexdigest()


def stat_signature(folder: str, names: Sequence[str]) -> Signature:
    """(size, mtime_ns) of every file: compared before each job to notice a source changed on disk."""
    out = []
    for name in names:
        st = os.stat(os.path.join(folder, name))
        out.append((st.st_size, st.st_mtime_ns))
    return tuple(out)


class StreamHasher:
    """Full content hash of streamed frames, fed frame by frame in order."""

    def __init__(self) -> None:
        self._h = hashlib.blake2b(digest_size=20)
        self._h.update(b"stream;")

    def update(self, shape: Sequence[int], dtype: str, data) -> None:
        self._h.update(f"{list(shape)}:{dtype};".encode())
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def analysis_key(engine_id: str, source_key: str, source_meta: dict, params: dict) -> str:
    """The cache key of an analysis: engine, content, how the clip is read, and the analysis params."""
    h = hashlib.sha256()
    for part in (engine_id, source_key, repr(sorted(source_meta.items())), repr(sorted(params.items()))):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:40]

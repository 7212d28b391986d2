"""Image sequences: a folder of frames (natural order) or a numbered pattern (`plate.%04d.exr`, `####`).

Every file's size, channel count and bit depth is checked when the sequence is opened (from headers
where a cheap probe exists, by decoding otherwise), so a mixed sequence fails before any work starts.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError
from .base import FrameSource
from .exr import probe_exr, read_exr
from .headers import probe_header
from .images import read_image
from .info import ClipInfo
from .paths import IMAGE_EXTS, image_format, match_pattern, natural_key, printf_pattern

Signature = Tuple[int, int, int, str]


def read_frame(path: str) -> np.ndarray:
    """Decode one image file of any supported format to a native RGB(A) array."""
    return read_exr(path) if image_format(Path(path).suffix) == ".exr" else read_image(path)


def _probe(path: str) -> Optional[Signature]:
    ext = image_format(Path(path).suffix)
    return probe_exr(path) if ext == ".exr" else probe_header(path, ext)


def _signature(frame: np.ndarray) -> Signature:
    return frame.shape[1], frame.shape[0], frame.shape[2], str(frame.dtype)


def _describe(sig: Signature) -> str:
    width, height, channels, dtype = sig
    return f"{width}x{height}, {channels} channels, {dtype}"


def folder_files(folder: Path) -> List[str]:
    """Visible image files of one format, in natural order."""
    try:
        names = [n for n in os.listdir(folder) if not n.startswith(".") and (folder / n).is_file()
                 and Path(n).suffix.lower() in IMAGE_EXTS]
    except OSError as error:
        raise InputError(f"cannot list folder {folder}: {error.strerror or error}") from None
    if not names:
        raise InputError(f"folder {folder} holds no image frames (PNG, JPEG, TIFF or EXR)")
    formats = sorted({image_format(Path(n).suffix) for n in names})
    if len(formats) > 1:
        raise InputError(f"folder {folder} mixes {', '.join(formats)} files; keep one image format per "
                         "folder or pass a pattern such as name.%04d.png")
    return sorted(names, key=natural_key)


def pattern_files(pattern: Path) -> List[str]:
    """Files matching a numbered pattern, by frame number."""
    folder = pattern.parent
    try:
        printf = printf_pattern(pattern.name)
    except ValueError as error:
        raise InputError(str(error)) from None
    if not folder.is_dir():
        raise InputError(f"folder {folder} of pattern {pattern.name} does not exist")
    names = [name for _, name in match_pattern(folder, printf)]
    if not names:
        raise InputError(f"no files in {folder} match the pattern {pattern.name}")
    return names


def check_uniform(paths: List[str], first: np.ndarray, probe: Callable[[str], Optional[Signature]] = _probe) -> None:
    """Raise InputError naming the first file whose size, channels or bit depth differ from the first."""
    expected = _signature(first)
    trust_probe = probe(paths[0]) == expected  # only trust headers we read the same way the decoder does
    for path in paths[1:]:
        sig = probe(path) if trust_probe else None
        if sig is None:
            sig = _signature(read_frame(path))
        if sig != expected:
            raise InputError(f"frame {path} is {_describe(sig)} but {Path(paths[0]).name} is "
                             f"{_describe(expected)}; every frame of a sequence must match")


class SequenceSource(FrameSource):
    """Frames from individual image files; random access is as cheap as sequential access."""

    def __init__(self, path: Path, folder: Path, names: List[str]) -> None:
        self._paths = [str(folder / name) for name in names]
        first = read_frame(self._paths[0])
        check_uniform(self._paths, first)
        exr = image_format(Path(names[0]).suffix) == ".exr"
        super().__init__(ClipInfo(kind="sequence", path=str(path), count=len(names), width=first.shape[1],
                                  height=first.shape[0], channels=first.shape[2], dtype=str(first.dtype),
                                  encoding="linear" if exr else "srgb", names=tuple(names)))
        self._cache: Dict[int, np.ndarray] = {0: first}  # the first frame, decoded once already

    def _read(self, index: int) -> np.ndarray:
        frame = self._cache.pop(index, None)
        if frame is None:
            frame = read_frame(self._paths[index])
        if frame.shape != self.info.shape or str(frame.dtype) != self.info.dtype:
            raise InputError(f"frame {self._paths[index]} changed since the sequence was opened "
                             f"({_describe(_signature(frame))}); reopen the sequence")
        return frame


def open_sequence(path: Path) -> SequenceSource:
    """A folder or a numbered pattern as a FrameSource."""
    if path.is_dir():
        return SequenceSource(path, path, folder_files(path))
    return SequenceSource(path, path.parent, pattern_files(path))

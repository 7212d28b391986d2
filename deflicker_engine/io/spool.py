"""Any iterator of frames as a re-readable FrameSource, spooled to a temporary folder (not RAM)."""
from __future__ import annotations

import shutil
import tempfile
import weakref
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional, Tuple

import numpy as np

from ..errors import InputError
from .base import FrameSource
from .info import DTYPES, ClipInfo, frame_signature, rate_string


def _check(frame, index: int, first: Optional[Tuple[tuple, np.dtype, str]]) -> None:
    if not isinstance(frame, np.ndarray):
        raise InputError(f"frame {index} is a {type(frame).__name__}, not a numpy array")
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or str(frame.dtype) not in DTYPES:
        raise InputError(f"frame {index} is {frame_signature(frame)}; frames must be H x W x 3|4 "
                         f"of {', '.join(DTYPES)}")
    if first is not None and (frame.shape, frame.dtype) != first[:2]:
        raise InputError(f"frame {index} is {frame_signature(frame)} but frame 0 is {first[2]}; "
                         "every frame must match")


class SpoolSource(FrameSource):
    """Frames saved one .npy file each in a private temporary folder, removed on close."""

    def __init__(self, folder: Path, info: ClipInfo) -> None:
        super().__init__(info)
        self._folder = folder
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(folder), ignore_errors=True)

    def _read(self, index: int) -> np.ndarray:
        return np.load(self._folder / f"{index:08d}.npy", allow_pickle=False)

    def _close(self) -> None:
        self._cleanup()


def spool_frames(frames: Iterable[np.ndarray], *, rate: Optional[str] = None,
                 encoding: Optional[str] = None) -> SpoolSource:
    """Consume `frames` (native RGB(A) arrays, all alike) into a temporary spool and return it as a source.

    `rate` ("num/den") is carried into the ClipInfo for video outputs; `encoding` defaults to
    "linear" for float frames (host compositors hand over scene-linear floats) and "srgb" otherwise.
    """
    folder = Path(tempfile.mkdtemp(prefix="deflicker-spool-"))
    first: Optional[Tuple[tuple, np.dtype, str]] = None
    count = 0
    try:
        for frame in frames:
            _check(frame, count, first)
            first = first or (frame.shape, frame.dtype, frame_signature(frame))
            np.save(folder / f"{count:08d}.npy", frame, allow_pickle=False)
            count += 1
        if first is None:
            raise InputError("no frames were given to spool; pass at least one frame")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    (height, width, channels), dtype = first[0], first[1]
    exact = Fraction(rate) if rate else None
    info = ClipInfo(kind="sequence", path=str(folder), count=count, width=width, height=height,
                    channels=channels, dtype=str(dtype),
                    encoding=encoding or ("linear" if dtype.kind == "f" else "srgb"),
                    fps=float(exact) if exact else None, rate=rate_string(exact) if exact else None)
    return SpoolSource(folder, info)

"""Fixtures that generate tiny clips on the fly (helpers live in iohelpers.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List

import numpy as np
import pytest

from iohelpers import encode_video, smooth_frames, write_sequence


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "clip.mp4", count: int = 12, rate: str = "25", codec: str = "libx264",
             pix_fmt: str = "yuv420p", dtype: str = "uint8", channels: int = 3, frame_format: str = "rgb24",
             options=None, height: int = 36, width: int = 64) -> Path:
        frames = smooth_frames(count, height, width, channels, dtype)
        return encode_video(tmp_path / name, frames, codec, pix_fmt, rate, frame_format, options)
    return make


@pytest.fixture
def make_sequence(tmp_path: Path) -> Callable[..., tuple]:
    def make(ext: str = ".png", count: int = 4, dtype: str = "uint8", channels: int = 3, folder: str = "seq",
             template: str = "frame.{:04d}", first: int = 1, peak: float = 1.0, height: int = 20,
             width: int = 30) -> tuple:
        frames: List[np.ndarray] = smooth_frames(count, height, width, channels, dtype, peak)
        names = [template.format(first + i) + ext for i in range(count)]
        return write_sequence(tmp_path / folder, frames, names), frames
    return make

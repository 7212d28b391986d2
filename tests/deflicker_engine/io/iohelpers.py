"""Tiny generated clips for the io tests: smooth content so lossy codecs stay close to the source.

A uniquely named module (not conftest) so test files can import it unambiguously.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import List

import av
import cv2
import numpy as np
import OpenEXR

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def smooth_frames(count: int, height: int = 36, width: int = 64, channels: int = 3, dtype: str = "uint8",
                  peak: float = 1.0, seed: int = 0) -> List[np.ndarray]:
    """Frames of slow colour ramps that move over time; alpha (if any) is a different, noisy plane."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(count):
        planes = [0.5 + 0.35 * np.sin(x / width * 2.5 + y / height * (1 + c) + 0.3 * t + c) for c in range(3)]
        if channels == 4:
            planes.append(rng.random((height, width), dtype=np.float32))
        frame = np.stack(planes, axis=2) * np.float32(peak)
        if np.dtype(dtype).kind == "u":
            frame = np.rint(frame * np.iinfo(dtype).max)
        frames.append(frame.astype(dtype))
    return frames



def encode_video(path: Path, frames: List[np.ndarray], codec: str, pix_fmt: str, rate: str,
                 frame_format: str, options=None) -> Path:
    """Write a test video with PyAV directly (independent of the code under test)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(rate))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        stream.options = options or {}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format=frame_format)))
        container.mux(stream.encode(None))
    return path



def write_file(path: Path, frame: np.ndarray) -> None:
    """Write one RGB(A) frame with OpenCV / OpenEXR directly (independent of the code under test)."""
    if path.suffix.lower() == ".exr":
        planes = {name: np.ascontiguousarray(frame[:, :, i]) for i, name in enumerate("RGBA"[: frame.shape[2]])}
        OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, planes).write(str(path))
        return
    if frame.ndim == 3:
        frame = frame[:, :, [2, 1, 0, 3][: frame.shape[2]]]  # RGB(A) -> BGR(A)
    assert cv2.imwrite(str(path), np.ascontiguousarray(frame)), path


def write_sequence(folder: Path, frames: List[np.ndarray], names: List[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names):
        write_file(folder / name, frame)
    return folder


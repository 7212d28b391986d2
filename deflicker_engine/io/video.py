"""Video files through PyAV: every frame at the native rate, 8-bit -> uint8, deeper -> uint16, alpha kept.

Opening demuxes the whole file once (packets only, no decoding): that gives the exact frame count
whatever the container claims, catches truncated files early, and yields the presentation times
used to seek straight to any frame later. Sequential reads never seek.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import av
import numpy as np

from ..errors import InputError
from .base import FrameSource
from .info import ClipInfo, rate_string, tidy_rate

_AV_ERRORS = (av.FFmpegError, OSError, ValueError)


def sws_interpolation():
    """Full-quality chroma handling for YUV <-> RGB; readers and writers share it so round trips stay close."""
    flags = av.video.reformatter.Interpolation
    return flags.BICUBIC | flags.ACCURATE_RND | flags.FULL_CHR_H_INT | flags.FULL_CHR_H_INP


def pixel_layout(fmt: av.VideoFormat) -> Tuple[str, str, int]:
    """(PyAV RGB format name, numpy dtype name, channels) that a decoded pixel format is delivered as."""
    alpha = any(c.is_alpha for c in fmt.components)
    if max((c.bits for c in fmt.components), default=8) > 8:
        return ("rgba64le" if alpha else "rgb48le"), "uint16", 4 if alpha else 3
    return ("rgba" if alpha else "rgb24"), "uint8", 4 if alpha else 3


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


class VideoSource(FrameSource):
    """Frames of the first video stream of a file."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._container = None
        try:
            self._open()
            self._pts = self._scan()
            self._timed = None not in self._pts and len(set(self._pts)) == len(self._pts)
            self._pts.sort(key=lambda t: t or 0)
            self._rewind()
            first = self._decode_next(0)
        except Exception:
            self._close()
            raise
        self._pending: Optional[av.VideoFrame] = first  # frame `self._next`, already decoded
        self._next = 0
        self._rgb_format, dtype, channels = pixel_layout(first.format)
        stream = self._stream
        rate = stream.guessed_rate or stream.average_rate or stream.base_rate
        rate = tidy_rate(rate) if rate else None
        super().__init__(ClipInfo(kind="video", path=self._path, count=len(self._pts), width=first.width,
                                  height=first.height, channels=channels, dtype=dtype, encoding="srgb",
                                  fps=float(rate) if rate else None, rate=rate_string(rate) if rate else None))

    def _open(self) -> None:
        if self._container is not None:
            self._container.close()
        try:
            self._container = av.open(self._path, mode="r")
        except _AV_ERRORS as error:
            raise InputError(f"cannot open video {self._path}: {_reason(error)} (damaged, incomplete or "
                             "not a video file)") from None
        if not self._container.streams.video:
            raise InputError(f"{self._path} holds no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"

    def _scan(self) -> List[Optional[int]]:
        """Presentation times of every frame the decoder will output."""
        times: List[Optional[int]] = []
        packets = 0
        try:
            for packet in self._container.demux(self._stream):
                if packet.size:
                    packets += 1
                    if not packet.is_discard:
                        times.append(packet.pts)
        except _AV_ERRORS as error:
            raise InputError(f"video {self._path} is damaged after {len(times)} frames: {_reason(error)}") from None
        if not times:
            raise InputError(f"video {self._path} has no frames")
        declared = self._stream.frames
        if declared and declared > packets:
            raise InputError(f"video {self._path} is truncated: the container lists {declared} frames "
                             f"but the file holds only {packets}")
        return times

    def _rewind(self) -> None:
        """Reopen so the next decoded frame is frame 0 (robust for every container, unlike seeking to 0)."""
        self._open()
        self._decoded = self._container.decode(self._stream)

    def _decode_next(self, index: int) -> av.VideoFrame:
        try:
            return next(self._decoded)
        except StopIteration:
            raise InputError(f"video {self._path} ended at frame {index} of {len(self._pts)}: "
                             "the file is truncated or damaged") from None
        except _AV_ERRORS as error:
            raise InputError(f"cannot decode frame {index} of {self._path}: {_reason(error)}") from None

    def _seek_to(self, index: int) -> None:
        """Leave the decoder so that frame `index` is next (in `_pending` or from the decoder)."""
        self._pending = None
        if index == 0 or not self._timed:
            self._rewind()
            for skipped in range(index):
                self._decode_next(skipped)
            return
        target = self._pts[index]
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except _AV_ERRORS:
            self._timed = False
            return self._seek_to(index)
        self._decoded = self._container.decode(self._stream)
        while True:
            frame = self._decode_next(index)
            if frame.pts is None or frame.pts > target:  # the seek overshot: fall back to decoding from 0
                self._timed = False
                return self._seek_to(index)
            if frame.pts == target:
                self._pending = frame
                return

    def _read(self, index: int) -> np.ndarray:
        if index != self._next:
            self._seek_to(index)
        frame, self._pending = (self._pending or self._decode_next(index)), None
        self._next = index + 1
        return frame.to_ndarray(format=self._rgb_format, interpolation=sws_interpolation(),
                                src_color_range=frame.color_range or None)

    def _close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

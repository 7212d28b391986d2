"""Video encoding through PyAV, with one codec policy for every caller.

- 8-bit RGB: H.264 (libx264, CRF 12, preset medium), yuv420p when both sides are even so the file
  plays everywhere, yuv444p otherwise (4:2:0 needs even sizes; we never crop or pad).
- Deeper than 8 bits (uint16 and float clips) or alpha: in .mov, ProRes (prores_ks) 422 HQ 10-bit,
  or 4444 with alpha; in any other container, FFV1, lossless 16-bit (or 8-bit with alpha) RGB(A).
  Float clips are written as 16-bit in the sRGB-like working encoding (values clipped to [0, 1]).
All YUV outputs use and are tagged with BT.709 limited range, and the exact input rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Optional

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from ..errors import OutputError
from .video import sws_interpolation

CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
DEFAULT_RATE = Fraction(24)  # image sequences carry no rate; 24 fps is the film convention


@dataclass(frozen=True)
class Codec:
    name: str
    pix_fmt: str
    options: Dict[str, str]
    frame_format: str  # PyAV RGB format the frames are handed over in
    dtype: str  # native sample type the encoder is fed


def choose_codec(ext: str, dtype: str, channels: int, width: int, height: int) -> Codec:
    """The codec policy above, as a value (so tests and reports can show what will be used)."""
    alpha = channels == 4
    if dtype == "uint8" and not alpha:
        pix = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        return Codec("libx264", pix, {"crf": "12", "preset": "medium"}, "rgb24", "uint8")
    if ext == ".mov":
        if alpha:
            return Codec("prores_ks", "yuva444p10le", {"profile": "4"}, "rgba64le", "uint16")
        return Codec("prores_ks", "yuv422p10le", {"profile": "3"}, "rgb48le", "uint16")
    if dtype == "uint8":
        return Codec("ffv1", "bgra", {}, "rgba", "uint8")
    return Codec("ffv1", "gbrap16le" if alpha else "gbrp16le", {}, "rgba64le" if alpha else "rgb48le", "uint16")


class VideoWriter:
    """Encodes native frames (already in `codec.dtype`) into `path` with the container of `ext`."""

    def __init__(self, path: str, ext: str, codec: Codec, width: int, height: int, rate: Optional[str]) -> None:
        self._codec = codec
        self._yuv = codec.pix_fmt.startswith("yuv")
        try:
            self._container = av.open(path, mode="w", format=CONTAINERS[ext])
        except (av.FFmpegError, OSError, ValueError) as error:
            raise OutputError(f"cannot create video {path}: {error}") from None
        try:
            stream = self._container.add_stream(codec.name, rate=Fraction(rate) if rate else DEFAULT_RATE)
            stream.width, stream.height, stream.pix_fmt = width, height, codec.pix_fmt
            stream.options = dict(codec.options)
            if self._yuv:
                context = stream.codec_context
                context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
                context.color_range = 1  # limited ("MPEG") range
        except (av.FFmpegError, OSError, ValueError) as error:
            self._container.close()
            raise OutputError(f"cannot start {codec.name} video {path}: {error}") from None
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=self._codec.frame_format)
        if self._yuv:
            picture = picture.reformat(format=self._codec.pix_fmt, dst_colorspace=Colorspace.ITU709,
                                       dst_color_range=ColorRange.MPEG, interpolation=sws_interpolation())
        self._encode(picture)

    def finish(self) -> None:
        """Flush the encoder and close the file; raises OutputError if the encoder refuses."""
        try:
            self._encode(None)
        finally:
            self._container.close()

    def abort(self) -> None:
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError):
            pass

    def _encode(self, picture: Optional[av.VideoFrame]) -> None:
        try:
            self._container.mux(self._stream.encode(picture))
        except (av.FFmpegError, OSError, ValueError) as error:
            raise OutputError(f"video encoding failed: {error}") from None

"""What a clip is, in one immutable record: every reader produces it and every writer obeys it."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from ..errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from .ocio import ColourTransform

DTYPES = ("uint8", "uint16", "float16", "float32")
KINDS = ("video", "sequence")
ENCODINGS = ("srgb", "linear")


@dataclass(frozen=True)
class ClipInfo:
    """Shape, sample type and timing of a clip; frames are `height x width x channels` arrays of `dtype`.

    `rate` is the exact frame rate as "num/den" (for example "24000/1001") so that outputs keep it
    bit-exact; `fps` is the same as a float for display. Both are None for image sequences.
    `names` are the file names of a sequence, in reading order (None for video and spooled frames).
    `colour` is the clip's OpenColorIO colour handling when its colour space was named (see io.ocio);
    it then decides the working encoding instead of `encoding`, and outputs stay in that space.
    """

    kind: str
    count: int
    width: int
    height: int
    channels: int
    dtype: str
    fps: Optional[float] = None
    rate: Optional[str] = None
    encoding: str = "srgb"
    names: Optional[Tuple[str, ...]] = None
    path: str = ""
    colour: Optional["ColourTransform"] = None

    def __post_init__(self) -> None:
        for name, value, allowed in (("kind", self.kind, KINDS), ("dtype", self.dtype, DTYPES),
                                     ("encoding", self.encoding, ENCODINGS), ("channels", self.channels, (3, 4))):
            if value not in allowed:
                raise ParameterError(f"clip {name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
        if min(self.count, self.width, self.height) < 0 or min(self.width, self.height) == 0:
            raise ParameterError(f"clip size {self.width}x{self.height} with {self.count} frames is not valid")

    @property
    def shape(self) -> Tuple[int, int, int]:
        """The shape every native frame of the clip has."""
        return (self.height, self.width, self.channels)

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)


_NTSC = [Fraction(k * 1000, 1001) for k in (24, 30, 48, 60, 120, 240)]


def tidy_rate(rate: Fraction) -> Fraction:
    """Undo container rounding: a rate within 0.1 ppm of a whole or NTSC (x/1.001) rate is that rate.

    Matroska, for one, stores frame durations in whole nanoseconds and reads 60000/1001 back as
    19001/317; without this, a round trip through .mkv would change the rate of the output.
    """
    rate = Fraction(rate)
    for candidate in [Fraction(round(rate))] + _NTSC:
        if candidate and abs(rate - candidate) <= candidate * Fraction(1, 10_000_000):
            return candidate
    return rate


def rate_string(rate: Fraction) -> str:
    """Spell a rate as "num/den" always, so readers never have to guess whether "25" is a fraction."""
    rate = Fraction(rate)
    return f"{rate.numerator}/{rate.denominator}"


def frame_signature(frame: np.ndarray) -> str:
    """A short human description of an array, for error messages ("360x640x3 uint8")."""
    shape = "x".join(str(n) for n in frame.shape)
    return f"{shape} {frame.dtype}"

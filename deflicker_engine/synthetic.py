"""Synthetic flicker for clean clips (paper eq. 6: I_t = G_t + F_t, F shared over windows of W frames).

A clean clip G plus known flicker gives a flickering input whose answer is known: the benchmark then
measures both temporal consistency (E_warp) and fidelity (PSNR against G). Here F is written as an
appearance change of the clean frame, redrawn once per window of W consecutive frames:

    I = clip(g * c_k * L(x, y) * G + o, 0, 1)

g a global brightness gain, o a global offset, c_k per-channel colour gains (k = R, G, B, geometric mean
1 so colour does not move brightness), L a smooth spatial gain field (upsampled coarse random grid: a
light leak, uneven exposure, vignetting drift). Every random draw comes from (seed, window index), so a
clip is reproducible and a window's flicker does not depend on the clip's length.

Amplitudes were calibrated on the four clean clips of ../shared/data/clips (full length, seed 0; floors
0.05-0.11, mean 0.080): averaged over FLICKER_SETTINGS the flickering input scores E_warp 0.19 and, with
local flicker, PSNR 21.5-22.4 dB against the clean frames (global-only: 31-36 dB). By setting, raw
E_warp is 0.39 / 0.23 / 0.14 for W = 1 / 3 / 10 with local flicker and 0.18 / 0.12 / 0.085 global-only
(see docs/benchmarks.md). At a fixed PSNR, E_warp falls as W grows: a W = 1 flicker at 21 dB
necessarily scores far above 0.2, and W = 10 only shows between windows (a 10-frame clip has one).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from .errors import ParameterError

# Standard deviations at strength 1 (gains are log-normal, so these are in log units).
GAIN_SIGMA = 0.072
OFFSET_SIGMA = 0.0225
COLOUR_SIGMA = 0.045
LOCAL_SIGMA = 0.18


@dataclass(frozen=True)
class FlickerSetting:
    """One benchmark configuration: window length W and which components the flicker has."""

    name: str
    window: int
    local: bool
    colour: bool = True


FLICKER_SETTINGS: Tuple[FlickerSetting, ...] = tuple(
    FlickerSetting(f"w{window}-{'local' if local else 'global'}", window, local)
    for window in (1, 3, 10) for local in (False, True)
)


@dataclass(frozen=True)
class FlickerField:
    """The appearance change applied to every frame of one window."""

    gain: float
    offset: float
    colour: np.ndarray                  # (3,) per-channel gains
    local: Optional[np.ndarray] = None  # H x W gain field, or None for global-only flicker

    def apply(self, frame: np.ndarray) -> np.ndarray:
        scale = self.colour.astype(np.float32) * np.float32(self.gain)
        out = frame.astype(np.float32) * scale
        if self.local is not None:
            out *= self.local[..., None]
        out += np.float32(self.offset)
        return np.clip(out, 0.0, 1.0)


def smooth_field(shape: Tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A zero-mean, unit-std, low-frequency random field: a coarse grid (2-5 cells high) upsampled bicubically."""
    h, w = shape
    cells_h = int(rng.integers(2, 6))
    cells_w = max(2, int(round(cells_h * w / max(h, 1))))
    coarse = rng.standard_normal((cells_h + 2, cells_w + 2)).astype(np.float32)
    # Upsample with a margin of one cell each side, then crop: no border artefacts, random phase.
    big = cv2.resize(coarse, (w * (cells_w + 2) // cells_w + 1, h * (cells_h + 2) // cells_h + 1),
                     interpolation=cv2.INTER_CUBIC)
    y0 = int(rng.integers(0, max(1, big.shape[0] - h + 1)))
    x0 = int(rng.integers(0, max(1, big.shape[1] - w + 1)))
    field = big[y0:y0 + h, x0:x0 + w]
    field = field - field.mean()
    return field / (field.std() + 1e-6)


def flicker_field(shape: Tuple[int, int], rng: np.random.Generator, *, local: bool = True,
                  colour: bool = True, strength: float = 1.0) -> FlickerField:
    """Draw one window's flicker for frames of size shape = (H, W)."""
    gain = float(np.exp(strength * GAIN_SIGMA * rng.standard_normal()))
    offset = float(strength * OFFSET_SIGMA * rng.standard_normal())
    log_colour = rng.standard_normal(3)
    log_colour -= log_colour.mean()
    colour_gains = np.exp(strength * COLOUR_SIGMA * log_colour) if colour else np.ones(3)
    field = None
    if local:
        field = np.exp(strength * LOCAL_SIGMA * smooth_field(shape, rng)).astype(np.float32)
    return FlickerField(gain, offset, colour_gains.astype(np.float32), field)


def _check(window: int, strength: float) -> None:
    if window < 1:
        raise ParameterError(f"flicker window must be at least 1 frame, got {window}")
    if strength < 0:
        raise ParameterError(f"flicker strength must be >= 0, got {strength}")


def _fields(shape: Tuple[int, int], window: int, seed: int, **draw) -> Iterator[FlickerField]:
    """One field per frame, endlessly; each window's field comes from (seed, window index) alone."""
    t = 0
    while True:
        if t % window == 0:
            current = flicker_field(shape, np.random.default_rng([int(seed), t // window]), **draw)
        yield current
        t += 1


def window_fields(count: int, shape: Tuple[int, int], window: int, seed: int, *, local: bool = True,
                  colour: bool = True, strength: float = 1.0) -> List[FlickerField]:
    """One FlickerField per frame; frames t and u share a field exactly when t // window == u // window."""
    _check(window, strength)
    return list(islice(_fields(shape, window, seed, local=local, colour=colour, strength=strength), count))


def iter_flicker(frames: Iterable[np.ndarray], window: int, seed: int, *, local: bool = True,
                 colour: bool = True, strength: float = 1.0) -> Iterator[np.ndarray]:
    """add_flicker one frame at a time: long or large clips never sit in memory whole."""
    _check(window, strength)

    def flickering() -> Iterator[np.ndarray]:
        fields = None
        for frame in frames:
            frame = np.asarray(frame, dtype=np.float32)
            if fields is None:
                fields = _fields(frame.shape[:2], window, seed, local=local, colour=colour, strength=strength)
            yield next(fields).apply(frame)
    return flickering()


def add_flicker(frames: Iterable[np.ndarray], window: int, seed: int, *, local: bool = True,
                colour: bool = True, strength: float = 1.0) -> List[np.ndarray]:
    """Flickering copies of clean float32 frames in [0, 1]; deterministic from seed."""
    return list(iter_flicker(frames, window, seed, local=local, colour=colour, strength=strength))


def apply_setting(frames: Iterable[np.ndarray], setting: FlickerSetting, seed: int = 0,
                  strength: float = 1.0) -> List[np.ndarray]:
    """add_flicker with one of FLICKER_SETTINGS."""
    return add_flicker(frames, setting.window, seed, local=setting.local, colour=setting.colour,
                       strength=strength)

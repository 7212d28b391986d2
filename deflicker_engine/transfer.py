"""Carry a working-resolution correction back to full resolution without softening the picture.

The networks see a small picture; the user's frame keeps its own detail, grain and bit depth. We fit the
correction (working output minus working input) as a local affine function of the input, per channel,
like a guided filter: delta = a * input + b, with `a` shrunk towards 0 (not the output towards a local mean),
so flat grainy regions keep their grain. The coefficient maps are smooth, so upsampling them is harmless;
applying them to the full-resolution frame keeps every full-resolution edge where it was.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def working_shape(height: int, width: int, long_side: int) -> Tuple[int, int]:
    """(h, w) of the working picture: long side at most `long_side`, never upscaled, even sizes."""
    scale = min(1.0, long_side / max(height, width))
    h = max(8, int(round(height * scale / 2)) * 2)
    w = max(8, int(round(width * scale / 2)) * 2)
    return min(h, height), min(w, width)


def downscale(image: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == tuple(shape):
        return image.astype(np.float32, copy=False)
    return cv2.resize(image.astype(np.float32, copy=False), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def fit_correction(small_in: np.ndarray, small_out: np.ndarray, radius: int = 2,
                   eps: float = 1e-3) -> Tuple[np.ndarray, np.ndarray]:
    """Per-pixel, per-channel (a, b) with small_out - small_in ~= a * small_in + b locally."""
    x = small_in.astype(np.float32)
    delta = small_out.astype(np.float32) - x
    mean_x, mean_d = _box(x, radius), _box(delta, radius)
    var_x = _box(x * x, radius) - mean_x * mean_x
    cov = _box(x * delta, radius) - mean_x * mean_d
    a = cov / (var_x + eps)
    b = mean_d - a * mean_x
    return _box(a, radius), _box(b, radius)


def apply_correction(full_in: np.ndarray, a: np.ndarray, b: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """full_in + strength * (a * full_in + b), with a and b upsampled to full size."""
    h, w = full_in.shape[:2]
    if a.shape[:2] != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    return full_in + np.float32(strength) * (a * full_in + b)

"""Carry a working-resolution correction back to full resolution without softening the picture.

The networks see a small picture; the user's frame keeps its own detail, grain and bit depth. We fit the
correction (working output minus working input) as a local affine function of the input, per channel,
like a guided filter: delta = a * input + b, with `a` shrunk towards 0 (not the output towards a local mean),
so flat grainy regions keep their grain. The coefficient maps are smooth, so upsampling them is harmless;
applying them to the full-resolution frame keeps every full-resolution edge where it was.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from . import ops
from .ops import Array


def working_shape(height: int, width: int, long_side: int) -> Tuple[int, int]:
    """(h, w) of the working picture: long side at most `long_side`, never upscaled, even sizes."""
    scale = min(1.0, long_side / max(height, width))
    h = max(8, int(round(height * scale / 2)) * 2)
    w = max(8, int(round(width * scale / 2)) * 2)
    return min(h, height), min(w, width)


def downscale(image: Array, shape: Tuple[int, int]) -> Array:
    if not ops.is_torch(image):
        image = image.astype(np.float32, copy=False)
    return ops.resize(image, shape, "area")


def fit_correction(small_in: Array, small_out: Array, radius: int = 2, eps: float = 1e-3) -> Tuple[Array, Array]:
    """Per-pixel, per-channel (a, b) with small_out - small_in ~= a * small_in + b locally."""
    x = small_in if ops.is_torch(small_in) else small_in.astype(np.float32)
    delta = small_out - x if ops.is_torch(small_out) else small_out.astype(np.float32) - x
    mean_x, mean_d = ops.box(x, radius), ops.box(delta, radius)
    var_x = ops.box(x * x, radius) - mean_x * mean_x
    cov = ops.box(x * delta, radius) - mean_x * mean_d
    a = cov / (var_x + eps)
    b = mean_d - a * mean_x
    return ops.box(a, radius), ops.box(b, radius)


def apply_correction(full_in: Array, a: Array, b: Array, strength: float = 1.0) -> Array:
    """full_in + strength * (a * full_in + b), with a and b upsampled to full size."""
    h, w = full_in.shape[:2]
    a = ops.resize(a, (h, w), "linear")
    b = ops.resize(b, (h, w), "linear")
    return full_in + float(strength) * (a * full_in + b)

"""Native samples <-> the working encoding the networks see (float32, perceptual, values > 1 kept).

Integers map to [0, 1]. When the clip's colour space was named (`info.colour`, see io.ocio), OpenColorIO
takes it to the working encoding and exactly back. Otherwise the file decides: scene-linear floats (EXR) go
through the sRGB transfer curve, extended: linear below the knee (negatives too) and the power branch
continued above 1, so HDR survives and the inverse is exact up to float rounding; everything else is
taken as sRGB-encoded already. Alpha is never encoded: it travels at its native values.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from ..errors import ParameterError
from .info import ClipInfo

_KNEE = 0.0031308
_KNEE_ENCODED = 12.92 * _KNEE


def _scale(dtype: np.dtype) -> Optional[float]:
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else None


def encode_srgb(linear: np.ndarray) -> np.ndarray:
    """sRGB OETF, extended to negative values (linear) and values above 1 (same power law)."""
    out = linear * np.float32(12.92)
    high = linear > _KNEE
    out[high] = np.float32(1.055) * np.power(linear[high], np.float32(1 / 2.4)) - np.float32(0.055)
    return out


def decode_srgb(encoded: np.ndarray) -> np.ndarray:
    """Exact inverse of `encode_srgb`."""
    out = encoded / np.float32(12.92)
    high = encoded > _KNEE_ENCODED
    out[high] = np.power((encoded[high] + np.float32(0.055)) / np.float32(1.055), np.float32(2.4))
    return out


def to_working(frame: np.ndarray, info: ClipInfo) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(rgb float32 H x W x 3 in the working encoding, alpha float32 H x W or None).

    Integers are first normalised to [0, 1]; then `info.colour` (OpenColorIO) when the colour space was
    named, else the sRGB curve when `info.encoding == "linear"`.
    """
    scale = _scale(frame.dtype)
    rgb = frame[:, :, :3].astype(np.float32)
    alpha = frame[:, :, 3].astype(np.float32) if frame.shape[2] == 4 else None
    if scale is not None:
        rgb /= np.float32(scale)
        if alpha is not None:
            alpha /= np.float32(scale)
    if info.colour is not None:
        rgb = info.colour.to_working(rgb)
    elif info.encoding == "linear":
        rgb = encode_srgb(rgb)
    return rgb, alpha


def from_working(rgb: np.ndarray, alpha: Optional[np.ndarray], info: ClipInfo) -> np.ndarray:
    """Back to `info`'s native dtype and encoding; integers are rounded and clipped, floats never clipped.

    `alpha` may be the native alpha plane (same dtype as the clip: passed through bit-exactly) or the
    float alpha from `to_working` (converted back exactly). A 4-channel clip without alpha gets opaque
    alpha; a 3-channel clip ignores alpha.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ParameterError(f"from_working needs an H x W x 3 array, got shape {rgb.shape}")
    dtype = info.np_dtype
    scale = _scale(dtype)
    colour = rgb.astype(np.float32, copy=True)
    if info.colour is not None:
        colour = info.colour.from_working(colour)
    elif info.encoding == "linear":
        colour = decode_srgb(colour)
    planes = [_to_native(colour, dtype, scale)]
    if info.channels == 4:
        planes.append(_alpha_plane(alpha, rgb.shape[:2], dtype, scale)[:, :, None])
    return np.ascontiguousarray(np.concatenate(planes, axis=2)) if len(planes) > 1 else planes[0]


def _to_native(values: np.ndarray, dtype: np.dtype, scale: Optional[float]) -> np.ndarray:
    """Integers: scaled, NaN -> 0, clipped (infinities too) and rounded. fmax drops NaN in one pass, where
    nan_to_num made four (a third of the full-size render's CPU time on a GPU machine)."""
    if scale is None:
        return values.astype(dtype)
    scaled = values * np.float32(scale)
    np.fmax(scaled, 0, out=scaled)
    np.minimum(scaled, scale, out=scaled)
    return np.rint(scaled, out=scaled).astype(dtype)


def _alpha_plane(alpha: Optional[np.ndarray], size, dtype: np.dtype, scale: Optional[float]) -> np.ndarray:
    if alpha is None:
        return np.full(size, scale if scale is not None else 1.0, dtype=dtype)
    if alpha.shape != tuple(size):
        raise ParameterError(f"alpha has shape {alpha.shape}, expected {tuple(size)}")
    if alpha.dtype == dtype:
        return alpha
    source_scale = _scale(alpha.dtype)
    values = alpha.astype(np.float32) / np.float32(source_scale) if source_scale else alpha.astype(np.float32)
    return _to_native(values, dtype, scale)


def convert_frame(frame: np.ndarray, source: ClipInfo, target: ClipInfo) -> np.ndarray:
    """Re-express a native frame of `source` in `target`'s dtype and encoding (for formats that need it).

    A clip with a named colour space keeps its values in that space whatever the format (only the sample
    type changes), so an output is always in the input's colour space.
    """
    same_space = source.colour == target.colour and (source.colour is not None or source.encoding == target.encoding)
    if same_space and (frame.dtype == target.np_dtype or (frame.dtype.kind == "f" and target.np_dtype.kind == "f")):
        return frame.astype(target.np_dtype, copy=False)
    if same_space and source.colour is not None:  # only the sample type changes: skip the colour maths
        plain = dataclasses.replace(source, colour=None, encoding="srgb")
        rgb, alpha = to_working(frame, plain)
        return from_working(rgb, alpha, dataclasses.replace(target, colour=None, encoding="srgb"))
    rgb, alpha = to_working(frame, source)
    return from_working(rgb, alpha, target)

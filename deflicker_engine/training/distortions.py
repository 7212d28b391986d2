"""Random image distortions that teach the networks what flicker and atlas flaws look like.

tau_a (appearance): what flicker and per-frame processing do to a frame: brightness, contrast, gamma,
per-channel gain and offset, saturation, and a smooth spatially varying gain. Structure is untouched.
tau_s (structure): what an atlas does wrong: local warps, blur and down/up-sampling, ghosting, lost detail
(regions replaced by a blurred or a foreign patch), small global shifts. Appearance is untouched.
local_flicker: the small residual flicker the refiner must remove (a smooth gain field per frame).

Images are float32 H x W x 3 in [0, 1]. Every function draws from the numpy Generator it is given and
nothing else, so a seed fixes the result.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..analysis.flow import pixel_grid


def smooth_field(rng: np.random.Generator, h: int, w: int, scale: float, channels: int = 1) -> np.ndarray:
    """Zero-mean, unit-variance random field, smooth over about `scale` pixels; H x W x channels float32."""
    gh, gw = max(2, int(round(h / scale)) + 1), max(2, int(round(w / scale)) + 1)
    grid = rng.standard_normal((gh, gw, channels)).astype(np.float32)
    field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
    field -= field.mean(axis=(0, 1), keepdims=True)
    return field / (field.std(axis=(0, 1), keepdims=True) + 1e-6)


def luminance(image: np.ndarray) -> np.ndarray:
    return image @ np.array([0.299, 0.587, 0.114], np.float32)


def correlated_gain_field(rng: np.random.Generator, h: int, w: int, scale: float, amplitude: float,
                          colour: float) -> np.ndarray:
    """exp(amplitude * field) per channel: a shared brightness part plus a `colour` fraction per channel."""
    shared = smooth_field(rng, h, w, scale, 1)
    own = smooth_field(rng, h, w, scale, 3)
    return np.exp(amplitude * ((1.0 - colour) * shared + colour * own)).astype(np.float32)


# ------------------------------------------------------------------------------------------ appearance

def appearance_distortion(image: np.ndarray, rng: np.random.Generator, identity_chance: float = 0.1) -> np.ndarray:
    """tau_a: change colour, tone and brightness (globally and smoothly in space), keep every edge in place."""
    if rng.random() < identity_chance:
        return image.copy()
    h, w = image.shape[:2]
    x = image.astype(np.float32)
    if rng.random() < 0.8:   # brightness and per-channel gain
        gain = np.exp(rng.uniform(-0.45, 0.35) + rng.normal(0.0, 0.12, 3)).astype(np.float32)
        x = x * gain
    if rng.random() < 0.5:   # contrast about the mean
        mean = x.mean(axis=(0, 1), keepdims=True)
        x = (x - mean) * np.float32(np.exp(rng.uniform(-0.35, 0.3))) + mean
    if rng.random() < 0.5:   # gamma
        x = np.power(np.clip(x, 0.0, None), np.float32(np.exp(rng.uniform(-0.35, 0.35))))
    if rng.random() < 0.5:   # saturation
        grey = luminance(x)[..., None]
        x = grey + (x - grey) * np.float32(rng.uniform(0.4, 1.5))
    if rng.random() < 0.4:   # per-channel offset
        x = x + rng.normal(0.0, 0.03, 3).astype(np.float32)
    if rng.random() < 0.6:   # smooth spatially varying gain (local flicker, vignetting, uneven processing)
        scale = rng.uniform(0.25, 1.0) * max(h, w)
        x = x * correlated_gain_field(rng, h, w, scale, rng.uniform(0.05, 0.35), rng.uniform(0.0, 0.6))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------ structure

def local_warp(image: np.ndarray, rng: np.random.Generator, amplitude: float, scale: float) -> np.ndarray:
    """Displace content by a smooth random field (the atlas's mapping is never exact)."""
    h, w = image.shape[:2]
    d = smooth_field(rng, h, w, scale, 2) * amplitude
    gx, gy = pixel_grid(h, w)
    return cv2.remap(image, gx + d[..., 0], gy + d[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def global_shift(image: np.ndarray, rng: np.random.Generator, pixels: float) -> np.ndarray:
    """Small translation, rotation and zoom of the whole picture."""
    h, w = image.shape[:2]
    angle = rng.uniform(-1.5, 1.5)
    zoom = np.exp(rng.uniform(-0.02, 0.02))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
    m[:, 2] += rng.uniform(-pixels, pixels, 2)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur or down/up-sampling: the atlas is smoother than the frame."""
    h, w = image.shape[:2]
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 2.5))
    factor = rng.uniform(1.5, 4.0)
    small = cv2.resize(image, (max(1, int(w / factor)), max(1, int(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def ghosting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend in a shifted copy: what an atlas shows where the mapping is torn between two positions."""
    h, w = image.shape[:2]
    m = np.float32([[1, 0, rng.uniform(-15, 15)], [0, 1, rng.uniform(-15, 15)]])
    shifted = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    alpha = np.float32(rng.uniform(0.15, 0.5))
    return (1 - alpha) * image + alpha * shifted


def soft_blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A soft-edged random ellipse, H x W x 1 in [0, 1]."""
    mask = np.zeros((h, w), np.float32)
    centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
    axes = (int(rng.uniform(0.08, 0.3) * w) + 1, int(rng.uniform(0.08, 0.3) * h) + 1)
    cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), rng.uniform(1.0, 4.0))[..., None]


def lost_detail(image: np.ndarray, rng: np.random.Generator, other: Optional[np.ndarray]) -> np.ndarray:
    """Replace a few regions by a heavily blurred version or by a patch of another picture."""
    h, w = image.shape[:2]
    x = image.copy()
    for _ in range(int(rng.integers(1, 4))):
        blob = soft_blob(rng, h, w)
        if other is not None and rng.random() < 0.5:
            patch = other
        else:
            patch = cv2.GaussianBlur(image, (0, 0), rng.uniform(4.0, 12.0))
        x = x * (1 - blob) + patch * blob
    return x


def structure_distortion(image: np.ndarray, rng: np.random.Generator, other: Optional[np.ndarray] = None,
                         identity_chance: float = 0.05) -> np.ndarray:
    """tau_s: keep the appearance, break the structure the way an atlas does. `other`: same size, for patches."""
    if rng.random() < identity_chance:
        return image.copy()
    h, w = image.shape[:2]
    x = image.astype(np.float32)
    if rng.random() < 0.7:
        x = local_warp(x, rng, rng.uniform(0.5, 4.0), rng.uniform(0.08, 0.35) * max(h, w))
    if rng.random() < 0.4:
        x = global_shift(x, rng, 3.0)
    if rng.random() < 0.6:
        x = blur(x, rng)
    if rng.random() < 0.3:
        x = ghosting(x, rng)
    if rng.random() < 0.5:
        x = lost_detail(x, rng, other)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------ flicker

def local_flicker(image: np.ndarray, rng: np.random.Generator, amplitude: float, scale: float) -> np.ndarray:
    """The filter's leftover: a small smooth gain field (plus a little global gain) that changes every frame."""
    h, w = image.shape[:2]
    field = correlated_gain_field(rng, h, w, scale, amplitude, 0.4)
    global_gain = np.exp(rng.normal(0.0, amplitude / 3, 3)).astype(np.float32)
    return np.clip(image * field * global_gain, 0.0, 1.0).astype(np.float32)

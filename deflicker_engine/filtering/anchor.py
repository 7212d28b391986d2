"""Anchor the filtered frame's low frequencies to the atlas frame where the two agree.

The neural filter takes its appearance from the atlas but, being small, lets a little of a strong local
flicker through. The atlas frame is temporally consistent in its colours wherever its structure is right,
and flicker is smooth in space, so the leftover shows up as a smooth ratio between atlas and filtered frame.
We estimate that ratio robustly (pixels where the two disagree a lot are the atlas's structural flaws, a
moving object it averaged away, and get no say) and smoothly (a normalised Gaussian of `sigma` times the
short side), then apply it. Where the atlas is unreliable almost everywhere nearby, the confidence term
shrinks the correction to nothing, so the filter's own answer stands.
"""
from __future__ import annotations

import cv2
import numpy as np

SIGMA = 0.05         # spatial scale of the correction, as a fraction of the frame's short side
TOLERANCE = 0.25     # log-ratio beyond which a pixel is the atlas's structural flaw, not flicker
ITERATIONS = 2       # reweighting passes around the current estimate
CONFIDENCE = 0.05    # weight mass below which the correction fades to zero
EPS = 0.02           # keeps log ratios of near-black pixels tame


def anchor_to_atlas(filtered: np.ndarray, atlas: np.ndarray, sigma: float = SIGMA,
                    tolerance: float = TOLERANCE) -> np.ndarray:
    """H x W x 3 filtered frame (working encoding) times a smooth, robust per-channel gain towards `atlas`."""
    h, w = filtered.shape[:2]
    blur = max(1.0, sigma * min(h, w))
    ratio = np.log(np.clip(atlas, 0, None) + EPS) - np.log(np.clip(filtered, 0, None) + EPS)
    field = np.zeros_like(ratio, dtype=np.float32)
    for _ in range(ITERATIONS):
        # one weight per pixel: a flaw in any channel is a flaw in all of them
        weight = np.exp(-np.square(np.abs(ratio - field).max(axis=2) / tolerance)).astype(np.float32)
        num = cv2.GaussianBlur((weight[..., None] * ratio).astype(np.float32), (0, 0), blur)
        den = cv2.GaussianBlur(weight, (0, 0), blur)[..., None]
        field = num / (den + CONFIDENCE)
    return (filtered * np.exp(field)).astype(filtered.dtype)

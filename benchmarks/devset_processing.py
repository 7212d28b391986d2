"""Per-frame image algorithms for processed pairs: each frame is processed alone, so the result flickers.

Every algorithm is `fn(frame, context) -> frame` on float32 RGB in [0, 1]; `context` holds what is fixed for the
whole clip (the reference photograph of the colour transfer). They are deliberately the textbook versions:
content entering or leaving the frame moves their per-frame statistics, and with them the whole picture.
"""
from __future__ import annotations

from typing import Callable, Dict

import cv2
import numpy as np

LUMA = np.float32([0.2126, 0.7152, 0.0722])


def _u8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)


def _f32(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0


def grey_world(frame, context=None):
    """Automatic white balance, grey-world assumption: scale each channel so the channel means are equal."""
    means = frame.reshape(-1, 3).mean(0) + 1e-6
    return np.clip(frame * (means.mean() / means).astype(np.float32), 0, 1)


def white_patch(frame, context=None):
    """Automatic white balance, white patch / max-RGB: the brightest (99.5th percentile) of each channel -> 1."""
    top = np.percentile(frame.reshape(-1, 3), 99.5, axis=0) + 1e-6
    return np.clip(frame / top.astype(np.float32), 0, 1)


def clahe(frame, context=None):
    """CLAHE (clip limit 2.5, 8x8 tiles) on L of Lab; a and b untouched."""
    lab = cv2.cvtColor(np.clip(frame, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    l16 = (lab[..., 0] / 100.0 * 65535 + 0.5).astype(np.uint16)
    l16 = cv2.createCLAHE(clipLimit=2.5, tileGridSize=(8, 8)).apply(l16)
    lab[..., 0] = l16.astype(np.float32) / 65535.0 * 100.0
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)


def hist_equalise(frame, context=None):
    """Global histogram equalisation of the luma (Y of YCrCb, 8-bit), chroma kept."""
    ycc = cv2.cvtColor(_u8(frame), cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
    return _f32(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB))


def auto_levels(frame, context=None):
    """Per-channel percentile stretch: 1st percentile -> 0, 99th -> 1."""
    flat = frame.reshape(-1, 3)
    lo, hi = np.percentile(flat, 1, axis=0), np.percentile(flat, 99, axis=0)
    return np.clip((frame - lo.astype(np.float32)) / np.maximum(hi - lo, 1e-3).astype(np.float32), 0, 1)


def _box(image: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide."""
    mean_i, mean_p = _box(guide, r), _box(src, r)
    cov = _box(guide * src, r) - mean_i * mean_p
    var = _box(guide * guide, r) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return _box(a, r) * guide + _box(b, r)


def dehaze(frame, context=None, omega: float = 0.95, t0: float = 0.1):
    """Dark channel prior (He et al.): dark channel over a 15-px patch (scaled to the frame), atmospheric light
    from the brightest 0.1% of the dark channel, transmission 1 - omega * dark(I / A), guided-filter refinement."""
    h, w = frame.shape[:2]
    patch = max(3, int(round(15 * min(h, w) / 480)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    dark = cv2.erode(frame.min(axis=2), kernel)
    n = max(1, int(dark.size * 0.001))
    idx = np.argpartition(dark.ravel(), -n)[-n:]
    candidates = frame.reshape(-1, 3)[idx]
    a = candidates[np.argmax(candidates.sum(1))]  # the brightest input pixel among them, as in the paper
    a = np.maximum(a, 0.05).astype(np.float32)
    transmission = 1 - omega * cv2.erode((frame / a).min(axis=2), kernel)
    gray = (frame @ LUMA).astype(np.float32)
    transmission = guided_filter(gray, transmission.astype(np.float32), max(4, int(round(40 * min(h, w) / 480))), 1e-3)
    transmission = np.maximum(transmission, t0)[..., None]
    return np.clip((frame - a) / transmission + a, 0, 1).astype(np.float32)


def stylize(frame, context=None):
    """OpenCV's edge-preserving stylization (sigma_s 60, sigma_r 0.45)."""
    bgr = cv2.cvtColor(_u8(frame), cv2.COLOR_RGB2BGR)
    return _f32(cv2.cvtColor(cv2.stylization(bgr, sigma_s=60, sigma_r=0.45), cv2.COLOR_BGR2RGB))


def detail_enhance(frame, context=None):
    """OpenCV's detail enhancement (sigma_s 10, sigma_r 0.15)."""
    bgr = cv2.cvtColor(_u8(frame), cv2.COLOR_RGB2BGR)
    return _f32(cv2.cvtColor(cv2.detailEnhance(bgr, sigma_s=10, sigma_r=0.15), cv2.COLOR_BGR2RGB))


def lab_stats(frame: np.ndarray):
    lab = cv2.cvtColor(np.clip(frame, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return lab.mean(0), lab.std(0) + 1e-3


def reinhard(frame, context):
    """Reinhard et al. colour transfer (Lab mean and std) from each frame to a fixed reference photograph."""
    mean_r, std_r = context["reference_stats"]
    lab = cv2.cvtColor(np.clip(frame, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    mean_f, std_f = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0) + 1e-3
    lab = (lab - mean_f) / std_f * std_r + mean_r
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1)


ALGORITHMS: Dict[str, Callable] = {
    "greyworld": grey_world, "whitepatch": white_patch, "clahe": clahe, "histeq": hist_equalise,
    "autolevels": auto_levels, "dehaze": dehaze, "stylize": stylize, "detail": detail_enhance,
    "reinhard": reinhard,
}

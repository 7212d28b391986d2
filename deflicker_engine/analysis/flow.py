"""Optical flow that flicker cannot fool.

Frames are matched after local contrast normalisation (subtract a local mean, divide by a local
standard deviation), which cancels smooth gain and offset changes: exactly what flicker is.
DIS (OpenCV) is the matcher: fast on a CPU, dense, and good enough at working resolution.
Convention: flow[y, x] = (dx, dy) such that a(x) matches b(x + flow(x)).
"""
from __future__ import annotations

import cv2
import numpy as np


def normalised_gray(frame: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """float RGB (or gray) in [0,1] -> uint8 gray with smooth gain/offset removed."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame.astype(np.float32), cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32)
    if sigma is None:
        sigma = max(2.0, max(gray.shape) / 48.0)
    mean = cv2.GaussianBlur(gray, (0, 0), sigma)
    centred = gray - mean
    std = np.sqrt(cv2.GaussianBlur(centred * centred, (0, 0), sigma))
    z = centred / (std + 0.02)
    return np.clip(z * 42.0 + 128.0, 0, 255).astype(np.uint8)


def make_flow_engine(preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> "cv2.DISOpticalFlow":
    dis = cv2.DISOpticalFlow_create(preset)
    dis.setUseSpatialPropagation(True)
    return dis


def compute_flow(a: np.ndarray, b: np.ndarray, engine=None) -> np.ndarray:
    """Flow from a to b for two normalised uint8 gray images (see normalised_gray)."""
    engine = engine or make_flow_engine()
    return engine.calc(a, b, None)


def pixel_grid(height: int, width: int) -> tuple:
    """(x, y) coordinate arrays of every pixel centre, float32: the identity mapping."""
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE,
         interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `image` at x + flow(x): brings b into a's frame when flow is a->b."""
    gx, gy = pixel_grid(*flow.shape[:2])
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], interpolation, borderMode=border)


def consistency_mask(fwd: np.ndarray, bwd: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """1 where forward and backward flow agree (visible in both frames), 0 where occluded or wrong.

    The test is the classic |f + warp(b, f)|^2 < alpha (|f|^2 + |warp(b, f)|^2) + beta, which lets the
    tolerance grow with the motion; points that leave the frame count as occluded.
    """
    h, w = fwd.shape[:2]
    bwd_at = warp(bwd, fwd)
    diff = fwd + bwd_at
    lhs = (diff ** 2).sum(-1)
    rhs = alpha * ((fwd ** 2).sum(-1) + (bwd_at ** 2).sum(-1)) + beta
    gx, gy = pixel_grid(h, w)
    tx, ty = gx + fwd[..., 0], gy + fwd[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return ((lhs < rhs) & inside).astype(np.float32)


def pair_flows(gray_a: np.ndarray, gray_b: np.ndarray, engine=None) -> tuple:
    """Flow a->b, b->a and their reliability masks (uint8 0/1) for two normalised gray frames."""
    engine = engine or make_flow_engine()
    fwd = compute_flow(gray_a, gray_b, engine)
    bwd = compute_flow(gray_b, gray_a, engine)
    return (fwd, bwd, consistency_mask(fwd, bwd).astype(np.uint8), consistency_mask(bwd, fwd).astype(np.uint8))


def shot_flows(frames: np.ndarray, on_pair=None) -> tuple:
    """Forward/backward flow and reliability masks between consecutive frames.

    frames [T,h,w,3] float -> fwd, bwd [T-1,h,w,2] (t->t+1, t+1->t) and mask_fwd, mask_bwd [T-1,h,w] uint8 0/1.
    `on_pair(t)` is called after each pair, for progress and cancellation.
    """
    engine = make_flow_engine()
    gray = [normalised_gray(f) for f in frames]
    n = max(len(frames) - 1, 0)
    h, w = frames.shape[1:3]
    fwd = np.zeros((n, h, w, 2), np.float32)
    bwd = np.zeros_like(fwd)
    mask_f = np.zeros((n, h, w), np.uint8)  # 0/1: a quarter of the memory of float
    mask_b = np.zeros_like(mask_f)
    for t in range(n):
        fwd[t], bwd[t], mask_f[t], mask_b[t] = pair_flows(gray[t], gray[t + 1], engine)
        if on_pair is not None:
            on_pair(t)
    return fwd, bwd, mask_f, mask_b


def resize_flow(flow: np.ndarray, shape: tuple) -> np.ndarray:
    """Resample a flow field to (h, w), scaling the vectors with the picture."""
    h, w = flow.shape[:2]
    out = cv2.resize(flow, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return out * np.array([shape[1] / w, shape[0] / h], np.float32)

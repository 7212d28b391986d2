"""Temporal consistency and fidelity metrics (paper eq. 7-8): E_warp and PSNR.

E_pair(O_t, O_s) = ||M_ts * (O_t - warp(O_s, F_ts))||_1 / (H * W): the L1 norm sums the absolute
differences over every pixel AND every channel, and is normalised by the number of pixels in the frame
(not by the number of samples H*W*3, and not by the number of visible pixels: occluded pixels count as
zero error). So a uniform change of d in all three channels of an unoccluded pair scores 3*d. This is
the scale of the paper's figures: a clean clip's own E_warp (the floor) lands near their 0.088
(0.05-0.10 on our clean clips), whereas a per-sample mean would be a third of that.

Flow F_ts and occlusion mask M_ts come from the REFERENCE (a temporally consistent clip), never from the
output being judged, so that an output cannot improve its own score by fooling the flow.
E_warp^t = E_pair(O_t, O_{t-1}) + E_pair(O_t, O_1), averaged over t = 2..N. The reference's own E_warp
is the floor: flow is never perfect, so report it beside every figure.

Images are float32 H x W x 3 in [0, 1] (the working encoding). Flow quality matters, so evaluate at
the reference's native size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import cv2
import numpy as np

from .analysis.flow import compute_flow, consistency_mask, normalised_gray, warp
from .errors import InputError

PSNR_CAP_DB = 100.0  # identical frames would be +inf; a finite cap keeps clip means meaningful


def make_metric_flow_engine() -> "cv2.DISOpticalFlow":
    """DIS tuned for accuracy over speed: full-resolution finest scale, dense patches, refinement on."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)
    dis.setPatchSize(8)
    dis.setPatchStride(3)
    dis.setGradientDescentIterations(25)
    dis.setVariationalRefinementIterations(5)
    dis.setUseSpatialPropagation(True)
    return dis


@dataclass(frozen=True)
class PairFlow:
    """Flow t->s (float16 to halve memory; sub-pixel precision is kept up to ~60 px motion) and mask M_ts."""

    flow: np.ndarray  # H x W x 2, float16
    mask: np.ndarray  # H x W, bool: visible in both frames and the flow is consistent

    def error(self, o_t: np.ndarray, o_s: np.ndarray) -> float:
        """Masked L1 (summed over channels) of o_t against o_s warped into t, per pixel of the frame."""
        _check_same(o_t, o_s)
        if o_t.shape[:2] != self.mask.shape:
            raise InputError(f"frame size {o_t.shape[1]}x{o_t.shape[0]} does not match the reference's "
                             f"{self.mask.shape[1]}x{self.mask.shape[0]}; evaluate at the reference's size")
        warped = warp(np.ascontiguousarray(o_s, dtype=np.float32), self.flow.astype(np.float32))
        diff = np.abs(o_t.astype(np.float32) - warped)
        return float((diff * self.mask[..., None]).sum(dtype=np.float64) / self.mask.size)


def _check_same(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(f"frames differ in shape: {a.shape} vs {b.shape}; compare clips of the same size")
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"expected H x W x 3 RGB frames, got shape {a.shape}")


def pair_flow(ref_t: np.ndarray, ref_s: np.ndarray, engine=None, gray_t=None, gray_s=None) -> PairFlow:
    """Flow t->s and occlusion mask M_ts from two reference frames (forward/backward consistency)."""
    _check_same(ref_t, ref_s)
    engine = engine or make_metric_flow_engine()
    g_t = normalised_gray(ref_t) if gray_t is None else gray_t
    g_s = normalised_gray(ref_s) if gray_s is None else gray_s
    fwd = compute_flow(g_t, g_s, engine)
    bwd = compute_flow(g_s, g_t, engine)
    mask = consistency_mask(fwd, bwd) > 0.5
    return PairFlow(fwd.astype(np.float16), mask)


def pair_error(o_t: np.ndarray, o_s: np.ndarray, ref_t: np.ndarray, ref_s: np.ndarray) -> float:
    """E_pair(O_t, O_s) with flow and mask from the reference frames ref_t, ref_s (paper eq. 7)."""
    _check_same(o_t, o_s)
    return pair_flow(ref_t, ref_s).error(o_t, o_s)


class ReferenceFlows:
    """Every flow and mask E_warp needs, computed once from the reference clip.

    Judging several methods against one reference then costs only warps, not flows. Memory is about
    2 x (H*W*4 + H*W) bytes per frame (e.g. 370 MB for 90 frames at 854x480).
    """

    def __init__(self, references: Iterable[np.ndarray],
                 progress: Optional[Callable[[int, int], None]] = None, total: Optional[int] = None):
        engine = make_metric_flow_engine()
        self.previous: List[PairFlow] = []  # index t-1 holds the pair (t, t-1), t = 1..N-1 (0-based)
        self.first: List[PairFlow] = []     # index t-1 holds the pair (t, 0)
        self.shape = None
        ref0 = g0 = prev = g_prev = None
        for t, ref in enumerate(references):
            ref = np.asarray(ref, dtype=np.float32)
            if self.shape is None:
                if ref.ndim != 3 or ref.shape[2] != 3:
                    raise InputError(f"expected H x W x 3 RGB reference frames, got shape {ref.shape}")
                self.shape = ref.shape
            elif ref.shape != self.shape:
                raise InputError(f"reference frame {t} has shape {ref.shape}, frame 0 has {self.shape}; "
                                 "a clip must have one frame size")
            gray = normalised_gray(ref)
            if t == 0:
                ref0, g0 = ref, gray
            else:
                step = pair_flow(ref, prev, engine, gray, g_prev)
                self.previous.append(step)
                self.first.append(step if t == 1 else pair_flow(ref, ref0, engine, gray, g0))
            prev, g_prev = ref, gray
            if progress is not None:
                progress(t + 1, total or 0)
        if len(self.previous) < 1:
            raise InputError("E_warp needs a reference clip of at least 2 frames")

    @property
    def count(self) -> int:
        return len(self.previous) + 1

    def warp_error(self, outputs: Iterable[np.ndarray]) -> Dict[str, object]:
        """E_warp of `outputs` (same count and size as the reference): {'e_warp': mean, 'per_frame': [t=2..N]}."""
        per_frame: List[float] = []
        first = prev = None
        n = 0
        for t, out in enumerate(outputs):
            out = np.asarray(out, dtype=np.float32)
            if t >= self.count:
                raise InputError(f"the output has more frames than the reference ({self.count})")
            if out.shape != self.shape:
                raise InputError(f"output frame {t} has shape {out.shape}, the reference {self.shape}; "
                                 "evaluate at the reference's size")
            if t == 0:
                first = out
            else:
                per_frame.append(self.previous[t - 1].error(out, prev) + self.first[t - 1].error(out, first))
            prev = out
            n = t + 1
        if n != self.count:
            raise InputError(f"the output has {n} frames, the reference {self.count}; they must match")
        return {"e_warp": float(np.mean(per_frame)), "per_frame": per_frame}


def warp_error(outputs: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> Dict[str, object]:
    """E_warp of outputs against the flows of references (paper eq. 8); see ReferenceFlows to reuse flows."""
    return ReferenceFlows(references).warp_error(outputs)


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of one frame pair after clipping both to [0, 1]; capped at PSNR_CAP_DB."""
    if np.shape(a) != np.shape(b):
        raise InputError(f"frames differ in shape: {np.shape(a)} vs {np.shape(b)}")
    a = np.clip(np.asarray(a, dtype=np.float64), 0.0, 1.0)
    b = np.clip(np.asarray(b, dtype=np.float64), 0.0, 1.0)
    mse = float(np.mean((a - b) ** 2))
    if mse <= 10.0 ** (-PSNR_CAP_DB / 10.0):
        return PSNR_CAP_DB
    return -10.0 * math.log10(mse)


def psnr(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> float:
    """Mean of per-frame PSNR over two clips of equal length (values clipped to [0, 1] first).

    A single H x W x 3 array on both sides counts as a one-frame clip; an N x H x W x 3 array as N frames.
    """
    if isinstance(a, np.ndarray) and a.ndim == 3:
        a = [a]
    if isinstance(b, np.ndarray) and b.ndim == 3:
        b = [b]
    values = []
    sentinel = object()
    ia, ib = iter(a), iter(b)
    while True:
        x, y = next(ia, sentinel), next(ib, sentinel)
        if x is sentinel or y is sentinel:
            if x is not y:
                raise InputError("the two clips have different frame counts; PSNR needs equal counts")
            break
        values.append(frame_psnr(x, y))
    if not values:
        raise InputError("PSNR needs at least one frame")
    return float(np.mean(values))

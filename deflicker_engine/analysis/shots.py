"""Hard-cut detection, so that every shot gets its own atlas (multi-shot input broke the published code).

Two frames belong to one shot when, after motion compensation, their flicker-invariant structure
(locally normalised gray) still correlates. Flicker changes gain and offset, which normalisation
removes; a cut changes the structure itself. A cut must also stand out from its neighbours, so that
fast motion or heavy blur (uniformly low correlation) is not mistaken for a cut.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

from .flow import compute_flow, make_flow_engine, normalised_gray, warp

PROBE_WIDTH = 128


def _probe(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    size = (PROBE_WIDTH, max(8, round(h * PROBE_WIDTH / w)))
    small = cv2.resize(frame.astype(np.float32, copy=False), size, interpolation=cv2.INTER_AREA)
    return normalised_gray(small, sigma=3.0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float32).ravel() - a.mean()
    b = b.astype(np.float32).ravel() - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum())) + 1e-6
    return float((a * b).sum() / denom)


def cut_scores(frames: Sequence[np.ndarray]) -> np.ndarray:
    """score[t] for the boundary between frame t-1 and t (score[0] = 0): 1 - motion-compensated correlation."""
    engine = make_flow_engine(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    probes = [_probe(f) for f in frames]
    scores = np.zeros(len(frames), np.float32)
    for t in range(1, len(frames)):
        prev, cur = probes[t - 1], probes[t]
        flow = compute_flow(cur, prev, engine)
        aligned = warp(prev, flow)
        scores[t] = 1.0 - max(_correlation(cur, aligned), _correlation(cur, prev))
    return scores


def split_shots(scores: np.ndarray, sensitivity: float = 0.5, min_length: int = 2) -> List[Tuple[int, int]]:
    """Boundaries -> [(start, stop), ...] covering every frame. sensitivity 0 cuts everywhere, 1 never."""
    n = len(scores)
    if n == 0:
        return []
    threshold = 1.2 * sensitivity  # on 1 - correlation, which lies in [0, 2]
    cuts = [0]
    for t in range(1, n):
        neighbours = np.concatenate([scores[max(1, t - 4):t], scores[t + 1:t + 5]])
        local = float(np.median(neighbours)) if neighbours.size else 0.0
        stands_out = scores[t] > 2.5 * local + 0.05
        if sensitivity <= 0.0 or (scores[t] > threshold and stands_out and t - cuts[-1] >= min_length):
            cuts.append(t)
    bounds = cuts + [n]
    return [(bounds[i], bounds[i + 1]) for i in range(len(cuts))]


def detect_shots(frames: Sequence[np.ndarray], sensitivity: float = 0.5) -> List[Tuple[int, int]]:
    """Shots of a clip given as float RGB frames (float16 or float32, any resolution; probed at 128 px wide)."""
    if sensitivity >= 1.0:
        return [(0, len(frames))] if len(frames) else []
    return split_shots(cut_scores(frames), sensitivity)

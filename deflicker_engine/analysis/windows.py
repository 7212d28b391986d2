"""Long shots are fitted as overlapping atlas windows and cross-faded, so no shot is too long and no seam shows."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


def shot_windows(start: int, stop: int, window: int, overlap: int) -> List[Tuple[int, int]]:
    """Overlapping windows covering [start, stop); the last one is stretched back to full length."""
    if stop - start <= window:
        return [(start, stop)]
    step = max(1, window - overlap)
    out = []
    s = start
    while True:
        if s + window >= stop:
            out.append((max(start, stop - window), stop))
            return out
        out.append((s, s + window))
        s += step


def blend_weights(windows: List[Tuple[int, int]], start: int, stop: int) -> np.ndarray:
    """[len(windows), stop-start] weights: linear cross-fades where windows overlap, summing to 1."""
    weights = np.zeros((len(windows), stop - start), np.float32)
    for k, (a, b) in enumerate(windows):
        ramp = np.ones(b - a, np.float32)
        if k > 0:
            prev_end = windows[k - 1][1]
            n = prev_end - a
            if n > 0:
                ramp[:n] = np.linspace(0, 1, n + 2, dtype=np.float32)[1:-1]
        if k + 1 < len(windows):
            nxt = windows[k + 1][0]
            n = b - nxt
            if n > 0:
                ramp[b - a - n:] = np.minimum(ramp[b - a - n:], np.linspace(1, 0, n + 2, dtype=np.float32)[1:-1])
        weights[k, a - start:b - start] = ramp
    return weights / np.maximum(weights.sum(0, keepdims=True), 1e-6)

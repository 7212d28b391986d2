"""Hard-cut detection, so that every shot gets its own atlas (multi-shot input broke the published code).

Two frames belong to one shot when, after motion compensation, their flicker-invariant structure
(locally normalised gray) still correlates. Flicker changes gain and offset, which normalisation
removes; a cut changes the structure itself. A cut must also stand out from its neighbours, so that
fast motion or heavy blur (uniformly low correlation) is not mistaken for a cut.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .flow import compute_flow, make_flow_engine, normalised_gray, warp

PROBE_WIDTH = 128
LOOKAHEAD = 4      # frames after a boundary that its decision looks at (it must stand out from them too)


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


def _stands_out(scores: Sequence[float], t: int) -> bool:
    neighbours = np.concatenate([np.asarray(scores[max(1, t - LOOKAHEAD):t], np.float32),
                                 np.asarray(scores[t + 1:t + 1 + LOOKAHEAD], np.float32)])
    local = float(np.median(neighbours)) if neighbours.size else 0.0
    return scores[t] > 2.5 * local + 0.05


def split_shots(scores: np.ndarray, sensitivity: float = 0.5, min_length: int = 2) -> List[Tuple[int, int]]:
    """Boundaries -> [(start, stop), ...] covering every frame. sensitivity 0 cuts everywhere, 1 never."""
    n = len(scores)
    if n == 0:
        return []
    threshold = 1.2 * sensitivity  # on 1 - correlation, which lies in [0, 2]
    cuts = [0]
    for t in range(1, n):
        if sensitivity <= 0.0 or (scores[t] > threshold and _stands_out(scores, t) and t - cuts[-1] >= min_length):
            cuts.append(t)
    bounds = cuts + [n]
    return [(bounds[i], bounds[i + 1]) for i in range(len(cuts))]


class CutDetector:
    """Cuts decided on the fly, for clips too long to hold: push frames in order; each boundary is settled
    once LOOKAHEAD more frames have been seen, with the same rule as `split_shots`.

    `push(frame)` and `finish()` return the newly settled frames as (index, starts_a_new_shot).
    """

    def __init__(self, sensitivity: float = 0.5, min_length: int = 2) -> None:
        self.sensitivity = sensitivity
        self.min_length = min_length
        self._engine = make_flow_engine(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._previous: Optional[np.ndarray] = None
        self._scores: List[float] = []     # 4 bytes a frame: kept whole, the decisions look around
        self._settled = 0
        self._last_cut = 0

    def push(self, frame: np.ndarray) -> List[Tuple[int, bool]]:
        probe = _probe(frame)
        if self._previous is None or self.sensitivity >= 1.0:
            score = 0.0
        else:
            aligned = warp(self._previous, compute_flow(probe, self._previous, self._engine))
            score = 1.0 - max(_correlation(probe, aligned), _correlation(probe, self._previous))
        self._previous = probe
        self._scores.append(score)
        return self._settle(final=False)

    def finish(self) -> List[Tuple[int, bool]]:
        return self._settle(final=True)

    def scores_until(self, count: int) -> np.ndarray:
        """The scores of frames [0, count): with `last_cut`, all a resumed detector needs of the past."""
        return np.asarray(self._scores[:count], np.float32)

    @property
    def last_cut(self) -> int:
        return self._last_cut

    def resume(self, scores: np.ndarray, last_cut: int, previous: np.ndarray) -> None:
        """Carry on after frame len(scores) - 1 (= `previous`) as if every frame before had been pushed."""
        self._scores = [float(v) for v in scores]
        self._settled, self._last_cut = len(self._scores), int(last_cut)
        self._previous = _probe(previous)

    def _settle(self, final: bool) -> List[Tuple[int, bool]]:
        out = []
        threshold = 1.2 * self.sensitivity
        while self._settled < len(self._scores) and (final or self._settled + LOOKAHEAD < len(self._scores)):
            t = self._settled
            cut = t > 0 and self.sensitivity < 1.0 and (self.sensitivity <= 0.0 or (
                self._scores[t] > threshold and _stands_out(self._scores, t) and t - self._last_cut >= self.min_length))
            if cut:
                self._last_cut = t
            out.append((t, cut))
            self._settled += 1
        return out


def detect_shots(frames: Sequence[np.ndarray], sensitivity: float = 0.5) -> List[Tuple[int, int]]:
    """Shots of a clip given as float RGB frames (float16 or float32, any resolution; probed at 128 px wide)."""
    detector = CutDetector(sensitivity)
    settled = []
    for frame in frames:
        settled += detector.push(frame)
    settled += detector.finish()
    starts = [t for t, cut in settled if cut or t == 0]
    bounds = starts + [len(settled)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(starts))]

"""Temporal consolidation: pull each deflickered frame towards its motion-compensated neighbours.

After the filter and the refiner, what flicker is left differs from frame to frame and is small, while
the picture itself moves with the flow. A robust recursive blend removes that leftover: each frame is
mixed with the previous result warped onto it, pixel by pixel, but only where the flow is reliable (the
occlusion mask) and where the two already agree to within `tolerance` (a larger difference is a real
change, a flow error or an object the flow lost, and is kept as it is). One pass forward and one
backward, combined by how many frames each stands for, so nothing lags behind the motion or the lighting
and the ends of a shot are as steady as its middle.

The blend runs at working resolution on the deflickered frames, before the correction is carried back
to full size, so it smooths the correction, never the user's full-resolution detail or grain.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import torch

from .. import ops
from ..ops import Array

STRENGTH = 0.9      # share of the warped previous result in a fully agreeing, visible pixel
REACH_REST = 0.005  # a neighbour this many steps away weighs under half a percent: it stands in for the rest
TOLERANCE = 0.08    # difference (max over channels, working encoding) above which a pixel is a real change
# Colour shots after the filter and refiner: what is left of a strong local flicker is often larger than
# TOLERANCE, and a tighter test keeps it as if it were a change (E_warp over the floor on dev W = 1 / 3 local
# clips: 1.48 -> 1.29, 1.70 -> 1.51 at 0.95 strength); the flow's own reliability mask still keeps
# occlusions and lost motion out. Black-and-white film keeps TOLERANCE: its grain is a real per-frame change.
COLOUR_TOLERANCE = 0.3


def reach(strength: float, rest: float = REACH_REST) -> int:
    """How many frames a recursion of this strength carries: beyond them a frame's weight is below `rest`,
    so a backward pass started that far ahead, or a forward one warmed up that long, matches the whole shot's."""
    if strength <= 0:
        return 0
    return int(np.ceil(np.log(rest) / np.log(min(strength, 0.999))))


def blend_weight(current: Array, previous: Array, mask: Array, strength: float, tolerance: float) -> Array:
    """H x W x 1 weight of `previous`: strength where visible and agreeing, falling to 0 with disagreement."""
    agreement = ops.exp(-(ops.channel_max(abs(previous - current)) / tolerance) ** 2)
    return (strength * mask[..., None]) * agreement


def carry(current: Array, previous: Optional[Array], previous_weight: Optional[Array], flow: Optional[tuple],
          strength: float, tolerance: float) -> Tuple[Array, Array]:
    """One step of the recursion as a normalised running mean: (mean, weight) of frame t from frame t-1's.

    `previous` is the neighbour's mean and `previous_weight` (H x W) how many frames it stands for; both are
    warped onto `current` along `flow` (flow, mask). A fresh start (the first frame of a shot, a pixel just
    uncovered) stands for one frame, so the first frames of a shot are averaged over what there is instead
    of being left as they are; far from a start the weight tends to 1 / (1 - strength), the plain recursion.
    At strength 0 nothing is carried, so nothing is warped.
    """
    if previous is None or flow is None or strength <= 0:
        return current, _ones_like_plane(current)
    # bicubic: a recursion re-warps its own output, and bilinear blur would pile up frame after frame
    warped = ops.warp(previous, flow[0], cubic=True)
    carried = blend_weight(current, warped, flow[1], strength, tolerance) * \
        ops.warp(previous_weight, flow[0])[..., None]
    weight = 1.0 + carried
    return current + (carried / weight) * (warped - current), weight[..., 0]


def combine(forward: Array, forward_weight: Array, backward: Array, backward_weight: Array) -> Array:
    """The forward and backward running means, each weighted by how many frames it stands for: their plain
    mean in the middle of a shot, mostly the backward one at its first frame (which the forward pass has
    only just met), mostly the forward one at its last."""
    total = (forward_weight + backward_weight)[..., None]
    return (forward * forward_weight[..., None] + backward * backward_weight[..., None]) / total


def _ones_like_plane(x: Array) -> Array:
    if ops.is_torch(x):
        return torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
    return np.ones(x.shape[:2], np.float32)


def _one_pass(frames: np.ndarray, flows_to_previous: np.ndarray, masks: np.ndarray, strength: float,
              tolerance: float, order: range, on_frame: Callable[[int], None]):
    """Yield (t, running mean at t, its weight) in `order`, each carried from the previous one."""
    previous = weight = None
    for step, t in enumerate(order):
        on_frame(t)
        flow = None if previous is None else (flows_to_previous[step - 1], masks[step - 1].astype(np.float32))
        previous, weight = carry(frames[t].astype(np.float32), previous, weight, flow, strength, tolerance)
        yield t, previous, weight


def consolidate(frames: np.ndarray, flows: tuple, strength: float = STRENGTH, tolerance: float = TOLERANCE,
                out: Optional[np.ndarray] = None, on_frame: Callable[[int], None] = lambda t: None) -> np.ndarray:
    """[T, h, w, 3] frames plus the shot's (fwd, bwd, mask_f, mask_b) flows -> consolidated frames.

    fwd[t] / bwd[t] are the flows t -> t+1 / t+1 -> t at the frames' size, masks their reliability.
    The result goes to `out` (any float dtype, e.g. the float16 analysis itself; not `frames`) or a new
    float32 array. `on_frame(t)` runs before each frame of each pass, for cancellation. The forward pass's
    weights are held ([T, h, w] float32) for the two-sided mean.
    """
    count = len(frames)
    if out is None:
        out = np.empty(frames.shape, np.float32)
    if count < 2 or strength <= 0:
        out[...] = frames
        return out
    fwd, bwd, mask_f, mask_b = flows
    weights = np.empty(frames.shape[:3], np.float32)
    for t, forward, weight in _one_pass(frames, bwd, mask_b, strength, tolerance, range(count), on_frame):
        out[t], weights[t] = forward, weight
    # backward: frame t is reached from t+1 through fwd[t] (t -> t+1), i.e. the reversed flow lists
    for t, backward, weight in _one_pass(frames, fwd[::-1], mask_f[::-1], strength, tolerance,
                                         range(count - 1, -1, -1), on_frame):
        out[t] = combine(out[t].astype(np.float32), weights[t], backward, weight)
    return out

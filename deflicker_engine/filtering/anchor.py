"""Anchor the filtered frame's low frequencies to the atlas frame where the two agree.

The neural filter takes its appearance from the atlas but, being small, lets a little of a strong local
flicker through. The atlas frame is temporally consistent in its colours wherever its structure is right,
and flicker is smooth in space, so the leftover shows up as a smooth ratio between atlas and filtered frame.
We estimate that ratio robustly (pixels where the two disagree a lot are the atlas's structural flaws, a
moving object it averaged away, and get no say) and smoothly (a normalised Gaussian of `sigma` times the
short side), then apply it. Where the atlas is unreliable almost everywhere nearby, the confidence term
shrinks the correction to nothing, so the filter's own answer stands.

The same estimate builds the look the filter is given (`look_where_atlas_holds`): where the atlas frame has
lost the picture altogether (a large object crossing that no single canvas can hold), its appearance there is
no guide at all, and the frame itself, brought to the atlas's look by that smooth gain, is the better one.
"""
from __future__ import annotations

from .. import ops
from ..ops import Array

SIGMA = 0.05         # spatial scale of the correction, as a fraction of the frame's short side
TOLERANCE = 0.25     # log-ratio beyond which a pixel is the atlas's structural flaw, not flicker
ITERATIONS = 2       # reweighting passes around the current estimate
CONFIDENCE = 0.05    # weight mass below which the correction fades to zero
EPS = 0.02           # keeps log ratios of near-black pixels tame
FLAW_TOLERANCE = 0.4   # blurred log-ratio beyond which the atlas frame has lost the picture (for the look)
FLAW_BLUR = 4.0        # pixels: what counts is a region of disagreement, not a misaligned edge


def anchor_to_atlas(filtered: Array, atlas: Array, sigma: float = SIGMA, tolerance: float = TOLERANCE) -> Array:
    """H x W x 3 filtered frame (working encoding) times a smooth, robust per-channel gain towards `atlas`.

    Numpy arrays or tensors on any device (see ops)."""
    h, w = filtered.shape[:2]
    blur = max(1.0, sigma * min(h, w))
    ratio = ops.log(ops.clip(atlas, 0, None) + EPS) - ops.log(ops.clip(filtered, 0, None) + EPS)
    field = ratio * 0
    for _ in range(ITERATIONS):
        # one weight per pixel: a flaw in any channel is a flaw in all of them
        weight = ops.exp(-(ops.channel_max(abs(ratio - field)) / tolerance) ** 2)
        num = ops.gaussian_blur(weight * ratio, blur)
        den = ops.gaussian_blur(weight, blur)
        field = num / (den + CONFIDENCE)
    return filtered * ops.exp(field)


def look_where_atlas_holds(frame: Array, look: Array) -> Array:
    """The look to give the filter: the atlas frame's `look` where it agrees with the frame's structure, the
    frame brought to that look by a smooth robust gain (anchor_to_atlas) where the atlas has lost the picture."""
    frame = ops.clip(frame, 0, 1)
    anchored = anchor_to_atlas(frame, look)
    ratio = ops.log(ops.clip(look, 0, None) + EPS) - ops.log(ops.clip(anchored, 0, None) + EPS)
    disagreement = ops.gaussian_blur(ops.channel_max(abs(ratio)), FLAW_BLUR)
    trust = ops.exp(-(disagreement / FLAW_TOLERANCE) ** 2)
    return anchored + trust * (look - anchored)

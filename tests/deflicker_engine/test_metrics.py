"""E_warp and PSNR on tiny generated clips whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from deflicker_engine.errors import InputError
from deflicker_engine.metrics import (PSNR_CAP_DB, ReferenceFlows, frame_psnr, pair_error, pair_flow, psnr,
                                      warp_error)


def test_identical_static_frames_score_zero(scene):
    frame = scene(count=1, height=40, width=56, pan=0)[0]
    clip = [frame.copy() for _ in range(4)]
    assert pair_error(frame, frame, frame, frame) < 1e-4
    result = warp_error(clip, clip)
    assert result["e_warp"] < 1e-4
    assert len(result["per_frame"]) == 3


def test_global_brightness_shift_scores_the_shift_per_channel(scene):
    """No motion, no occlusion: E_pair is |d_t - d_s| in each of the 3 channels, summed per pixel."""
    frame = scene(count=1, height=40, width=56, pan=0)[0] * 0.6 + 0.2  # keep shifted values inside [0, 1]
    shifts = [0.0, 0.03, -0.02, 0.05]
    refs = [frame] * len(shifts)
    outs = [frame + d for d in shifts]
    result = warp_error(outs, refs)
    expected = [3 * (abs(shifts[t] - shifts[t - 1]) + abs(shifts[t] - shifts[0])) for t in range(1, len(shifts))]
    assert result["per_frame"] == pytest.approx(expected, rel=0.02, abs=1e-4)
    assert result["e_warp"] == pytest.approx(np.mean(expected), rel=0.02)
    assert pair_error(outs[1], outs[0], frame, frame) == pytest.approx(3 * 0.03, rel=0.02)


def test_flow_follows_a_translated_clip(scene):
    """A camera pan of 2 px/frame: the flow finds it, and warping cancels the motion the naive difference sees."""
    clip = list(scene(count=5, height=48, width=72, pan=2.0))
    step = pair_flow(clip[1], clip[0])
    interior = step.flow[8:-8, 8:-8].astype(np.float32)
    # The content moves left by 2 px a frame, so pixel x of frame 1 shows what frame 0 has at x + 2.
    assert np.median(interior[..., 0]) == pytest.approx(2.0, abs=0.2)
    assert np.median(interior[..., 1]) == pytest.approx(0.0, abs=0.2)
    assert step.mask[:, -2:].mean() < 0.5       # pixels that came in from outside frame 0 are masked
    assert step.mask[8:-8, 8:-8].mean() > 0.9

    compensated = warp_error(clip, clip)["e_warp"]
    naive = np.mean([np.abs(clip[t] - clip[t - 1]).sum(-1).mean() + np.abs(clip[t] - clip[0]).sum(-1).mean()
                     for t in range(1, len(clip))])
    assert compensated < 0.2 * naive


def test_reference_flows_are_reused_and_rank_outputs(scene):
    clip = list(scene(count=6, height=40, width=56, pan=1.0))
    rng = np.random.default_rng(3)
    flickering = [np.clip(f * rng.uniform(0.8, 1.2), 0, 1) for f in clip]
    flows = ReferenceFlows(clip)
    assert flows.count == 6
    floor = flows.warp_error(clip)["e_warp"]
    raw = flows.warp_error(flickering)["e_warp"]
    assert raw > floor + 0.05
    assert flows.warp_error(flickering)["e_warp"] == raw  # deterministic, nothing recomputed differently


def test_warp_error_rejects_mismatched_clips(scene):
    clip = list(scene(count=4, height=32, width=40))
    flows = ReferenceFlows(clip)
    with pytest.raises(InputError):
        flows.warp_error(clip[:3])
    with pytest.raises(InputError):
        flows.warp_error(clip + clip[:1])
    with pytest.raises(InputError):
        flows.warp_error([f[:16] for f in clip])
    with pytest.raises(InputError):
        ReferenceFlows(clip[:1])
    with pytest.raises(InputError):
        ReferenceFlows([clip[0], clip[1][:16]])


def test_psnr_of_known_noise():
    rng = np.random.default_rng(0)
    clean = np.full((8, 64, 64, 3), 0.5, np.float32)
    sigma = 0.05
    noisy = clean + rng.normal(0, sigma, clean.shape).astype(np.float32)
    assert psnr(noisy, clean) == pytest.approx(-20 * math.log10(sigma), abs=0.1)
    assert frame_psnr(clean[0], clean[0]) == PSNR_CAP_DB
    assert psnr(clean[0], clean[0]) == PSNR_CAP_DB


def test_psnr_clips_to_unit_range_and_checks_counts():
    a = np.full((16, 16, 3), 1.0, np.float32)
    assert frame_psnr(a + 0.5, a) == PSNR_CAP_DB  # 1.5 clips to 1.0
    with pytest.raises(InputError):
        psnr([a, a], [a])
    with pytest.raises(InputError):
        frame_psnr(a, a[:8])

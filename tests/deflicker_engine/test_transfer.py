import cv2
import numpy as np
import pytest
import torch

from deflicker_engine.transfer import apply_correction, downscale, fit_correction, working_shape


def _grainy(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(0.2 + 0.6 * base + rng.normal(0, 0.03, (h, w, 3)).astype(np.float32), 0, 1)


def test_working_shape_never_upscales_and_is_even():
    assert working_shape(1080, 1920, 448) == (252, 448)
    assert working_shape(240, 432, 448) == (240, 432)
    h, w = working_shape(481, 853, 300)
    assert h % 2 == 0 and w % 2 == 0 and max(h, w) <= 300


def test_a_smooth_gain_is_carried_to_full_resolution_and_grain_survives():
    full = _grainy()
    yy, xx = np.mgrid[0:120, 0:160] / 160.0
    gain = (0.8 + 0.4 * xx)[..., None].astype(np.float32)
    target_full = full * gain
    shape = working_shape(120, 160, 64)
    a, b = fit_correction(downscale(full, shape), downscale(target_full, shape))
    out = apply_correction(full, a, b)
    assert np.abs(out - target_full).mean() < 0.01
    # the grain (high frequencies) is the input's, not a blurred copy
    high = lambda x: x - cv2.GaussianBlur(x, (0, 0), 2)
    assert np.corrcoef(high(out).ravel(), high(target_full).ravel())[0, 1] > 0.95


@pytest.mark.parametrize("as_tensor", [False, True])
def test_radius_zero_carries_fine_structure_the_working_picture_changed(as_tensor):
    # processed video: per-frame detail is the flicker, so a change of fine structure must reach the frame
    full = _grainy(seed=3)
    small = downscale(full, (60, 80))
    detail = cv2.GaussianBlur(np.random.default_rng(4).normal(0, 0.1, (60, 80, 3)).astype(np.float32), (0, 0), 1)
    target = small + detail
    wrap = (lambda x: torch.from_numpy(np.ascontiguousarray(x))) if as_tensor else (lambda x: x)
    carried = lambda radius, eps: np.asarray(apply_correction(wrap(small), *fit_correction(wrap(small), wrap(target),
                                                                                           radius, eps)))
    assert np.abs(carried(0, 0.0) - target).max() < 1e-6
    assert np.abs(carried(2, 1e-3) - target).mean() > 0.5 * np.abs(detail).mean()   # the affine fit loses it
    # at full size the input keeps what lies above the working band, and gets the correction's band
    a, b = fit_correction(small, target, 0, 0.0)
    out = apply_correction(full, a, b)
    assert np.abs(downscale(out, (60, 80)) - target).mean() < 0.2 * np.abs(detail).mean()


def test_no_correction_means_identity_and_strength_scales():
    full = _grainy(seed=1)
    small = downscale(full, (30, 40))
    a, b = fit_correction(small, small)
    assert np.abs(apply_correction(full, a, b) - full).max() < 1e-5
    a, b = fit_correction(small, small + 0.1)
    assert np.allclose(apply_correction(full, a, b, 0.5), full + 0.05, atol=1e-3)


def test_values_above_one_stay_above_one():
    full = _grainy(seed=2) * 4.0
    small = downscale(full, (30, 40))
    a, b = fit_correction(small, small * 0.9)
    assert apply_correction(full, a, b).max() > 3.0

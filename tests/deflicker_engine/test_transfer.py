import cv2
import numpy as np

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

"""Synthetic flicker: reproducible per seed, constant within a window, the components it claims."""
from __future__ import annotations

import numpy as np
import pytest

from deflicker_engine.errors import ParameterError
from deflicker_engine.metrics import psnr
from deflicker_engine.synthetic import FLICKER_SETTINGS, add_flicker, apply_setting, smooth_field, window_fields


@pytest.fixture
def clip(scene):
    return list(scene(count=7, height=36, width=48, pan=1.0))


def test_same_seed_same_flicker_other_seed_other_flicker(clip):
    a = add_flicker(clip, 3, seed=5)
    b = add_flicker(clip, 3, seed=5)
    c = add_flicker(clip, 3, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.allclose(a[0], c[0])


def test_frames_in_one_window_share_the_field(scene):
    still = scene(count=1, height=36, width=48)[0]
    out = add_flicker([still] * 7, window=3, seed=2)
    for t in (1, 2):
        assert np.array_equal(out[t], out[0])
    for t in (4, 5):
        assert np.array_equal(out[t], out[3])
    assert not np.allclose(out[3], out[0])
    assert not np.allclose(out[6], out[3])
    fields = window_fields(7, still.shape[:2], 3, seed=2)
    assert fields[0] is fields[2] and fields[3] is fields[5] and fields[5] is not fields[6]


def test_window_one_changes_every_frame(scene):
    still = scene(count=1, height=36, width=48)[0]
    out = add_flicker([still] * 4, window=1, seed=0)
    assert all(not np.allclose(out[t], out[t - 1]) for t in range(1, 4))


def test_a_window_does_not_depend_on_clip_length(clip):
    long = add_flicker(clip, 3, seed=9)
    short = add_flicker(clip[:4], 3, seed=9)
    assert all(np.array_equal(x, y) for x, y in zip(short, long[:4]))


def test_global_flicker_is_spatially_uniform_local_is_not(scene):
    still = np.full((36, 48, 3), 0.5, np.float32)
    flat = add_flicker([still], 1, seed=4, local=False)[0]
    assert np.ptp(flat[..., 0]) < 1e-6
    varied = add_flicker([still], 1, seed=4, local=True)[0]
    assert np.ptp(varied[..., 0]) > 0.02


def test_colour_flag_controls_channel_gains():
    grey = np.full((8, 8, 3), 0.5, np.float32)
    mono = add_flicker([grey], 1, seed=1, local=False, colour=False)[0]
    assert np.ptp(mono[0, 0]) < 1e-6
    tinted = add_flicker([grey], 1, seed=1, local=False, colour=True)[0]
    assert np.ptp(tinted[0, 0]) > 1e-3


def test_strength_zero_is_identity_and_output_stays_in_range(clip):
    same = add_flicker(clip, 1, seed=3, strength=0.0)
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(same, clip))
    strong = add_flicker(clip, 1, seed=3, strength=3.0)
    assert min(f.min() for f in strong) >= 0.0 and max(f.max() for f in strong) <= 1.0
    assert psnr(strong, clip) < psnr(add_flicker(clip, 1, seed=3), clip)


def test_bad_window_or_strength_is_rejected(clip):
    with pytest.raises(ParameterError):
        add_flicker(clip, 0, seed=0)
    with pytest.raises(ParameterError):
        add_flicker(clip, 1, seed=0, strength=-1)


def test_settings_cover_the_benchmark_grid(clip):
    assert {s.window for s in FLICKER_SETTINGS} == {1, 3, 10}
    assert {(s.window, s.local) for s in FLICKER_SETTINGS} == {(w, l) for w in (1, 3, 10) for l in (False, True)}
    assert len({s.name for s in FLICKER_SETTINGS}) == len(FLICKER_SETTINGS)
    out = apply_setting(clip, FLICKER_SETTINGS[0], seed=0)
    assert len(out) == len(clip) and out[0].dtype == np.float32


def test_smooth_field_is_normalised_and_smooth():
    field = smooth_field((60, 80), np.random.default_rng(0))
    assert field.shape == (60, 80)
    assert abs(field.mean()) < 1e-4 and field.std() == pytest.approx(1.0, abs=1e-3)
    assert np.abs(np.diff(field, axis=1)).mean() < 0.2  # low frequency: neighbours nearly equal

"""The whole-shot appearance model: measuring frame against atlas, and what of the look to keep."""
import numpy as np
import pytest

from deflicker_engine.analysis import appearance as ap
from tests.conftest import textured_scene


def _window_flicker(count, window, cells, sigma, seed=0):
    rng = np.random.default_rng(seed)
    draws = rng.normal(0, sigma, (count // window + 1, *cells, 3)).astype(np.float32)
    return draws[np.arange(count) // window]


def test_smoothing_renormalises_at_the_ends_and_keeps_slow_changes():
    values = np.zeros((40, 2, 2), np.float32)
    values[0] = 1.0                                   # one flickering first frame
    assert ap.temporal_gaussian(values, 12.0)[0].max() < 0.1   # repeating frame 0 at the edge would leave ~0.5
    ramp = np.linspace(0, 1, 40, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    assert np.abs(ap.temporal_gaussian(ramp, 3.0) - ramp)[10:-10].max() < 1e-3


def test_a_frame_against_its_atlas_measures_the_gain_field_and_ignores_a_small_moving_object():
    atlas = textured_scene(1, 96, 128, seed=3)[0]
    grid = ap.grid_shape(96, 128)
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    log_field = np.stack([0.3 * xx / 128, -0.2 * yy / 96, 0.1 * (xx + yy) / 224], -1)
    frame = atlas * np.exp(log_field)
    frame[40:45, 50:55] = 1.0                          # smaller than half a cell: the median ignores it
    measured = ap.measure(frame, atlas, grid)
    assert np.abs(measured - ap.cell_medians(log_field, grid)).max() < 0.02


def test_a_cell_an_atlas_flaw_covers_takes_its_neighbours_gain_not_the_flaw():
    atlas = textured_scene(1, 96, 128, seed=4)[0]
    grid = ap.grid_shape(96, 128)
    frame = atlas * np.float32(1.25)                   # the frame is the atlas, 25 % brighter
    frame[24:72, 32:80] = [0.9, 0.1, 0.1]              # an object the atlas lost, over several whole cells
    measured = ap.measure(frame, atlas, grid)
    assert measured.shape == (*grid, 3)
    assert np.abs(measured - np.log(1.25)).max() < 0.05   # everywhere, under the object too
    plain = ap.cell_medians(ap.log_ratio(frame, atlas), grid)
    assert np.abs(plain - np.log(1.25)).max() > 0.5       # what the cells' plain medians would have said


def test_hold_keeps_one_level_and_follow_is_a_fixed_scale():
    series = _window_flicker(60, 3, (2, 3), 0.2) + 0.1
    held, chosen = ap.genuine_change(series, "hold", 12.0)
    assert chosen["mode"] == "hold" and np.ptp(held, axis=0).max() == 0
    followed, _ = ap.genuine_change(series, "follow", 12.0)
    assert np.allclose(followed, ap.temporal_gaussian(series, 12.0))


@pytest.mark.parametrize("window", [1, 3, 10])
def test_adaptive_removes_stationary_flicker_at_any_window(window):
    flicker = _window_flicker(240, window, (4, 6), 0.2, seed=window)
    kept, chosen = ap.genuine_change(flicker, "adaptive", 12.0)
    residual = kept - flicker.mean(axis=0, keepdims=True)
    assert np.sqrt(np.mean(residual ** 2)) < 0.35 * np.sqrt(np.mean((flicker - flicker.mean(0)) ** 2)), chosen


def test_hold_time_sees_through_the_atlas_noise_and_leaves_a_smooth_wander_to_the_plain_ratio():
    count = 400
    flicker = _window_flicker(count, 10, (2, 2), 0.1, seed=2)
    noise = np.random.default_rng(3).normal(0, 0.05, flicker.shape).astype(np.float32)   # the atlas's own error
    assert 7.5 < ap.hold_time(flicker + noise) < 13.0
    assert ap.hold_time_uncorrected(flicker + noise) < 6.5        # the noise counted as flicker redrawn each frame
    assert ap.hold_time(_window_flicker(count, 1, (2, 2), 0.1, seed=4) + noise) == 1.0
    t = np.arange(count, dtype=np.float32)[:, None, None, None]
    wander = np.broadcast_to(0.1 * np.sin(t / 9.0), flicker.shape).astype(np.float32)   # a camera's exposure
    assert ap.hold_time(wander) == ap.hold_time_uncorrected(wander)


def test_what_stationary_flicker_makes_of_the_trend_is_not_kept():
    flicker = _window_flicker(150, 3, (3, 4), 0.1, seed=1)   # a locked-off shot whose look never changes

    def wander(significance):
        kept, _ = ap.adaptive_trend(flicker, ap.AdaptiveConfig(significance=significance))
        return np.abs(kept - np.median(kept, axis=0)).max()

    assert wander(2.0) < 0.5 * wander(0.0)


def test_the_kept_look_sits_at_the_flicker_centre_not_its_middle_draw():
    # a short W = 10 shot: ten draws of local flicker per cell, lopsided, as a few draws are
    flicker = _window_flicker(100, 10, (4, 6), 0.2, seed=7)
    kept, _ = ap.adaptive_trend(flicker)
    centre = flicker.mean(axis=0)                      # the best guess at the clean look from ten draws
    median_off = np.sqrt(np.mean((np.median(flicker, axis=0) - centre) ** 2))
    kept_off = np.sqrt(np.mean((kept.mean(axis=0) - centre) ** 2))
    assert kept_off < 0.85 * median_off, (kept_off, median_off)


def test_adaptive_keeps_a_genuine_step_and_a_ramp():
    count = 120
    t = np.arange(count, dtype=np.float32)[:, None, None, None]
    flicker = _window_flicker(count, 1, (4, 6), 0.15, seed=5)
    for change in (np.where(t >= 60, 0.4, 0.0), np.clip((t - 30) / 48, 0, 1) * 0.5):
        change = np.broadcast_to(change, flicker.shape).astype(np.float32)
        kept, chosen = ap.genuine_change(flicker + change, "adaptive", 12.0)
        error = np.abs(kept - change - flicker.mean(0, keepdims=True)).mean()
        assert error < 0.5 * np.abs(ap.hold(flicker + change) - change).mean(), chosen


def test_a_colour_change_under_brightness_flicker_is_kept():
    # W = 3 flicker that is mostly brightness (as exposure and light flicker are), and a white balance turning
    # from warm to cool over 48 frames: too small against the brightness flicker in any one channel, plain
    # against the flicker's own colour part
    count = 120
    rng = np.random.default_rng(8)
    draws = rng.normal(0, 0.25, (count // 3 + 1, 4, 6, 1)) + rng.normal(0, 0.02, (count // 3 + 1, 4, 6, 3))
    flicker = draws[np.arange(count) // 3].astype(np.float32)
    u = np.clip((np.arange(count, dtype=np.float32) - 50) / 48, 0, 1)[:, None, None, None]
    shift = (0.07 * (1 - 2 * u) * np.array([1.0, 0.0, -1.0], np.float32)).astype(np.float32)
    kept, _ = ap.adaptive_trend(flicker + shift)
    colour = (kept[..., 0] - kept[..., 2]).mean(axis=(1, 2))            # red against blue, frame-wide
    truth = (shift[..., 0] - shift[..., 2]).mean(axis=(1, 2))
    assert np.corrcoef(colour, truth)[0, 1] > 0.97
    assert 0.85 * np.ptp(truth) < np.ptp(colour) < 1.25 * np.ptp(truth)   # tested per channel: 0.57 of it
    level = kept.mean(axis=-1).mean(axis=(1, 2))                         # brightness: the flicker's, not kept
    assert np.ptp(level) < 0.02


def test_the_gate_leaves_steady_clips_and_regions_alone():
    level = np.array([[0.005, 0.2], [0.15, 0.5]], np.float32)
    gate = ap.harm_gate(level, 0.02, (20, 20), 0.04)
    assert gate.shape == (20, 20, 1) and gate[2, 2, 0] == 0.0 and gate[-3, -3, 0] == 1.0
    assert ap.harm_gate(np.full((2, 2), 0.3, np.float32), 0.02, (8, 8), 0.04) is None
    steady = ap.harm_gate(np.full((2, 2), 0.035, np.float32), 0.02, (8, 8), 0.04)   # a clean clip's atlas error
    assert steady.max() == 0.0


def test_frame_to_frame_flicker_opens_the_gate_a_slow_wander_of_the_same_size_does_not():
    rng = np.random.default_rng(4)
    t = np.arange(96, dtype=np.float32)
    beat = 0.05 * np.sin(2 * np.pi * t / 5.0)                                  # mains light: a 5-frame beat
    wander = 0.05 * np.sin(2 * np.pi * t / 80.0) * np.sqrt(2)                  # an atlas's slow error, same spread
    for series, opens in ((beat, True), (wander, False)):
        series = (series[:, None, None, None] + rng.normal(0, 0.002, (96, 3, 4, 3))).astype(np.float32)
        level = np.full((3, 4), 0.05, np.float32)                     # between the clip floor and twice it
        quick = ap.frame_to_frame_level(series)
        gate = ap.harm_gate(level, 0.02, (12, 16), 0.04, quick, 0.02)
        plain = ap.harm_gate(level, 0.02, (12, 16), 0.04)
        assert plain is not None and plain.max() < 0.5                # the level alone: mostly left alone
        assert (gate is None) == opens, float(np.quantile(quick, 0.75))
        if not opens:
            assert np.array_equal(gate, plain)


def test_jumps_count_sudden_changes_of_the_whole_look_not_a_wander_or_one_region():
    rng = np.random.default_rng(6)
    t = np.arange(90, dtype=np.float32)[:, None, None, None]
    noise = rng.normal(0, 0.004, (90, 3, 4, 3)).astype(np.float32)
    plateaus = np.select([t < 30, t < 60], [0.0, 0.25], -0.1)                 # flicker redrawn every 30 frames
    light_on = np.where(t >= 45, 0.3, 0.0)                                     # a light switched on: once
    ramp = np.clip((t - 20) / 40, 0, 1) * 0.6                                  # the same size, but gradual
    corner = np.zeros((90, 3, 4, 1), np.float32)
    corner[45:, 0, 0] = 0.5                                                    # one region only: not the frame
    for change, jumps in ((plateaus, 2), (light_on, 1), (ramp, 0), (corner, 0)):
        assert ap.jump_count((np.broadcast_to(change, noise.shape) + noise).astype(np.float32)) == jumps


def test_a_beat_is_a_periodic_whole_frame_change_not_a_wander_redrawn_flicker_or_noise():
    rng = np.random.default_rng(9)
    t = np.arange(100, dtype=np.float32)[:, None, None, None]
    noise = rng.normal(0, 0.004, (100, 3, 4, 3)).astype(np.float32)
    slow_beat = 0.05 * np.sin(2 * np.pi * t / 24.0 + 1.0)                      # 1 Hz at 24 fps: slow frame to frame
    wander = 0.06 * np.sin(2 * np.pi * t / 150.0) + 0.03 * np.sin(2 * np.pi * t / 61.0)   # a camera's exposure
    redrawn = np.repeat(rng.normal(0, 0.06, (10, 1, 1, 1)), 10, axis=0)       # W = 10 flicker: not periodic
    faint = 0.01 * np.sin(2 * np.pi * t / 12.0)                               # periodic, but an atlas's error's size
    for change, beating in ((slow_beat, True), (wander, False), (redrawn, False), (faint, False),
                            (np.zeros_like(t), False)):
        series = (np.broadcast_to(change, noise.shape) + noise).astype(np.float32)
        assert ap.beats(*ap.beat(series)[:2]) == beating, ap.beat(series)[:2]
    amplitude, share, fitted = ap.beat((np.broadcast_to(slow_beat, noise.shape) + noise).astype(np.float32))
    assert abs(amplitude - 0.05) < 0.005 and share > 0.9
    assert np.abs(fitted - slow_beat[:, 0, 0]).max() < 0.01           # the beat itself, in every channel
    assert ap.beat(np.zeros((8, 3, 4, 3), np.float32))[:2] == (0.0, 0.0)          # too short to repeat three times


def test_a_clip_known_to_flicker_passes_the_clip_test_its_regions_are_still_weighed():
    level = np.array([[0.05, 0.05], [0.05, 0.01]], np.float32)    # between the clip floor and twice it; one calm
    plain = ap.harm_gate(level, 0.02, (8, 8), 0.04)
    known = ap.harm_gate(level, 0.02, (8, 8), 0.04, flickers=True)
    assert plain.max() < 0.5 and known.max() == 1.0
    assert known[-1, -1, 0] == 0.0                                 # the calm region is left alone all the same


def test_window_offset_is_the_gain_between_two_renders_of_the_same_frames():
    frames = textured_scene(4, 48, 64, seed=2)
    grid = ap.grid_shape(48, 64)
    offset = ap.window_offset(frames * 1.25, frames, grid)
    assert np.allclose(offset, np.log(1.25), atol=0.02)


def test_step_level_counts_flicker_redrawn_every_few_frames_at_its_full_size():
    """W = 3 flicker steps on one frame in three: a robust spread calls that steady, the RMS step does not."""
    rng = np.random.default_rng(2)
    series = np.broadcast_to(_window_flicker(90, 3, (1, 1), 0.12, seed=2), (90, 3, 4, 3))   # smooth in space
    steps = np.diff(series, axis=0)
    assert np.quantile(ap.frame_to_frame_level(series), 0.75) < 0.01
    assert ap.step_level(steps) > 0.08
    drift = np.full((89, 3, 4, 3), 0.004, np.float32) + rng.normal(0, 0.002, (89, 3, 4, 3)).astype(np.float32)
    assert ap.step_level(drift) < 0.01                  # a slow drift, whatever it adds up to, steps by little
    assert ap.step_level(np.zeros((5, 3, 4, 3), np.float32)) == 0.0

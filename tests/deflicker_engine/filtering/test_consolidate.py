"""Temporal consolidation: small frame-to-frame leftovers go, real changes and occlusions stay."""
import numpy as np

from deflicker_engine.filtering.consolidate import consolidate
from tests.conftest import textured_scene

PAN = 2.0


def _pan_flows(count: int, height: int, width: int, pan: float = PAN, mask: float = 1.0):
    """Exact flows of textured_scene's pan: content moves left by `pan` pixels per frame."""
    fwd = np.zeros((count - 1, height, width, 2), np.float32)
    fwd[..., 0] = -pan
    masks = np.full((count - 1, height, width), mask, np.float32)
    return fwd, -fwd, masks, masks.copy()


def _leftover(frames: np.ndarray, seed: int = 0, amount: float = 0.04) -> np.ndarray:
    gains = 1 + np.random.default_rng(seed).uniform(-amount, amount, (len(frames), 1, 1, 3))
    return (frames * gains).astype(np.float32)


def _frame_to_frame(frames: np.ndarray, clean: np.ndarray) -> float:
    """Spread of each frame's ratio to its clean frame: what a viewer sees as flicker."""
    ratios = (frames / clean).mean(axis=(1, 2, 3))
    return float(np.abs(np.diff(ratios)).mean())


def test_small_leftover_flicker_on_a_moving_scene_is_removed():
    clean = textured_scene(16, 48, 64, seed=4, pan=PAN)
    leftover = _leftover(clean)
    out = consolidate(leftover, _pan_flows(16, 48, 64))
    inner = (slice(None), slice(None), slice(8, -8))  # away from the pan's entering edge
    assert _frame_to_frame(out[inner], clean[inner]) < 0.35 * _frame_to_frame(leftover[inner], clean[inner])
    # the picture itself is not smeared: closer to the clean frames than the input was
    assert np.abs(out[inner] - clean[inner]).mean() < np.abs(leftover[inner] - clean[inner]).mean()


def _leftover_per_frame(frames: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return np.abs((frames / clean).mean(axis=(1, 2, 3)) - 1)


def test_the_first_and_last_frames_of_a_shot_lose_their_leftover_as_the_middle_ones_do():
    # a pass that has only just started stands for one frame: the other pass carries the shot's ends
    clean = textured_scene(24, 48, 64, seed=12, pan=0.0)
    gains = 1 + np.where(np.arange(24) % 2, 0.04, -0.04)[:, None, None, None]
    leftover = (clean * gains).astype(np.float32)
    out = _leftover_per_frame(consolidate(leftover, _pan_flows(24, 48, 64, pan=0.0)), clean)
    middle = out[8:-8].mean()
    assert middle < 0.15 * 0.04
    assert out[0] < 3 * middle + 0.002 and out[-1] < 3 * middle + 0.002


def test_consolidating_uniform_frames_changes_nothing():
    frames = np.full((6, 16, 16, 3), 0.3, np.float32)
    np.testing.assert_allclose(consolidate(frames, _pan_flows(6, 16, 16)), frames, atol=1e-6)


def test_misaligned_neighbours_are_not_blended():
    clean = textured_scene(12, 48, 64, seed=5, pan=6.0)
    leftover = _leftover(clean)
    fwd, bwd, mask_f, mask_b = _pan_flows(12, 48, 64, pan=6.0)
    swapped = consolidate(leftover, (bwd, fwd, mask_f, mask_b))   # 12 px off: the texture disagrees
    aligned = consolidate(leftover, (fwd, bwd, mask_f, mask_b))
    assert np.abs(swapped - leftover).mean() < 0.5 * np.abs(aligned - leftover).mean()


def test_a_real_change_is_kept_without_lag():
    clean = textured_scene(12, 48, 64, seed=6, pan=0.0)
    clean[6:] = np.clip(clean[6:] * 0.6, 0, 1)        # the light goes down at frame 6 and stays down
    out = consolidate(clean, _pan_flows(12, 48, 64, pan=0.0))
    assert np.abs(out - clean).max() < 0.02


def test_occluded_pixels_are_not_blended():
    frames = _leftover(textured_scene(8, 32, 32, seed=7, pan=0.0), amount=0.03)
    out = consolidate(frames, _pan_flows(8, 32, 32, pan=0.0, mask=0.0))
    np.testing.assert_allclose(out, frames, atol=1e-6)


def test_strength_zero_and_single_frames_are_identity():
    frames = _leftover(textured_scene(6, 32, 32, seed=8))
    np.testing.assert_array_equal(consolidate(frames, _pan_flows(6, 32, 32), strength=0.0), frames)
    np.testing.assert_array_equal(consolidate(frames[:1], _pan_flows(1, 32, 32)), frames[:1])


def _gradient_energy(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(frames, axis=2)).mean() + np.abs(np.diff(frames, axis=1)).mean())


def test_sub_pixel_motion_does_not_soften_the_picture():
    # every warp resamples between pixels; a recursion that blurred a little per frame would pile it up
    clean = textured_scene(20, 48, 64, seed=9, pan=0.5)
    out = consolidate(clean, _pan_flows(20, 48, 64, pan=0.5))
    inner = (slice(None), slice(None), slice(8, -8))
    assert _gradient_energy(out[inner]) > 0.97 * _gradient_energy(clean[inner])


def test_the_result_can_go_straight_into_a_float16_analysis():
    frames = _leftover(textured_scene(10, 32, 48, seed=10))
    flows = _pan_flows(10, 32, 48)
    half = np.empty(frames.shape, np.float16)
    consolidate(frames, flows, out=half)
    np.testing.assert_allclose(half.astype(np.float32), consolidate(frames, flows), atol=2e-3)


def test_a_cancel_raised_between_frames_stops_it():
    frames = _leftover(textured_scene(10, 32, 48, seed=11))
    seen = []

    def on_frame(t):
        seen.append(t)
        if len(seen) == 14:   # in the backward pass
            raise KeyboardInterrupt

    try:
        consolidate(frames, _pan_flows(10, 32, 48), on_frame=on_frame)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("on_frame's exception did not stop consolidation")
    assert seen[:10] == list(range(10)) and seen[10:] == [9, 8, 7, 6]

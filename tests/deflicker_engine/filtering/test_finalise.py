"""Pass two: targets streamed chunk by chunk equal the whole shot at once; the gate and neutrality hold."""
import numpy as np
import pytest
import torch

from deflicker_engine import Deflicker
from deflicker_engine.filtering.finalise import ShotFinaliser
from tests.conftest import flicker, textured_scene


@pytest.fixture(scope="module")
def engine():
    return Deflicker(device="cpu")


def _targets(engine, frames, looks, chunk, gate=None, neutral=False, tensors=False, tolerance=0.08):
    finaliser = ShotFinaliser(lambda t: looks[t], gate, neutral, engine.filter, engine.refiner, 0.8,
                              torch.device("cpu"), chunk=chunk, tensors=tensors, tolerance=tolerance)
    out = list(finaliser.run(iter(frames)))
    assert [t for t, _ in out] == list(range(len(frames)))
    assert all(isinstance(target, torch.Tensor) == tensors for _, target in out)
    return np.stack([np.asarray(target.numpy() if tensors else target, np.float32) for _, target in out])


def test_streamed_targets_equal_the_whole_shot_within_float16_rounding(engine):
    clean = textured_scene(48, 32, 48, pan=0.7, seed=3)
    frames = flicker(clean, amount=0.15)
    streamed = _targets(engine, frames, clean, chunk=8)
    whole = _targets(engine, frames, clean, chunk=10 ** 6)
    assert np.abs(streamed - whole).max() < 1e-3
    assert np.abs(whole - clean).mean() < 0.5 * np.abs(frames - clean).mean()


def test_a_closed_gate_returns_the_frames_and_black_and_white_stays_neutral(engine):
    clean = textured_scene(12, 24, 32, seed=4)
    frames = flicker(clean)
    closed = _targets(engine, frames, clean, chunk=8, gate=np.zeros((24, 32, 1), np.float32))
    assert np.abs(closed - frames).max() < 1e-3
    grey = frames.mean(axis=3, keepdims=True).repeat(3, axis=3)
    neutral = _targets(engine, grey, clean, chunk=8, neutral=True)
    assert np.array_equal(neutral[..., 0], neutral[..., 1]) and np.array_equal(neutral[..., 1], neutral[..., 2])


def test_the_gpu_form_holds_tensors_and_gives_the_cpu_result(engine):
    clean = textured_scene(20, 32, 48, pan=0.7, seed=5)
    frames = flicker(clean, amount=0.15)
    gate = np.full((32, 48, 1), 0.7, np.float32)
    on_tensors = _targets(engine, frames, clean, chunk=8, gate=gate, tensors=True)
    on_arrays = _targets(engine, frames, clean, chunk=8, gate=gate)
    assert np.abs(on_tensors - on_arrays).max() < 5e-3 and np.abs(on_tensors - on_arrays).mean() < 5e-4


def test_a_wider_real_change_threshold_lets_the_consolidation_take_out_more_leftover_flicker(engine):
    clean = textured_scene(24, 32, 48, pan=0.5, seed=6)
    frames = flicker(clean, amount=0.3)
    looks = flicker(clean, amount=0.3, seed=9)      # a look that itself wavers: the filter leaves flicker

    def frame_to_frame(targets):
        return float(np.abs(np.diff(targets - clean, axis=0)).mean())

    tight = _targets(engine, frames, looks, chunk=8, tolerance=0.02)
    wide = _targets(engine, frames, looks, chunk=8, tolerance=0.3)
    assert frame_to_frame(wide) < 0.8 * frame_to_frame(tight)

"""Shared fixtures: tiny generated clips, and the data folder beside the repo when it exists."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def textured_scene(count: int = 12, height: int = 48, width: int = 64, seed: int = 0,
                   pan: float = 1.0) -> np.ndarray:
    """A clean clip: a smooth random texture seen through a camera panning `pan` pixels per frame."""
    rng = np.random.default_rng(seed)
    big_w = width + int(abs(pan) * count) + 8
    texture = np.zeros((height, big_w, 3), np.float32)
    for octave in (4, 8, 16):
        coarse = rng.random((max(2, height // octave), max(2, big_w // octave), 3)).astype(np.float32)
        texture += cv2.resize(coarse, (big_w, height), interpolation=cv2.INTER_CUBIC) / 3
    texture = np.clip(0.15 + 0.7 * texture, 0, 1)
    frames = []
    for t in range(count):
        shift = np.float32([[1, 0, -pan * t], [0, 1, 0]])
        frames.append(cv2.warpAffine(texture, shift, (width, height), borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def flicker(frames: np.ndarray, seed: int = 1, amount: float = 0.25) -> np.ndarray:
    """Strong global + colour flicker, a new draw every frame."""
    rng = np.random.default_rng(seed)
    gains = 1 + rng.uniform(-amount, amount, (len(frames), 1, 1, 3)).astype(np.float32)
    return np.clip(frames * gains, 0, 1)


def temporal_error(frames: np.ndarray, clean: np.ndarray) -> float:
    """Mean |O_t - warp(O_{t-1})| with flow and occlusion from the clean clip, as the paper's E_warp does."""
    from deflicker_engine.analysis.flow import shot_flows, warp

    _, bwd, _, mask_b = shot_flows(np.asarray(clean, np.float32))
    errors = [np.mean(mask_b[t - 1][..., None] * np.abs(frames[t] - warp(frames[t - 1], bwd[t - 1])))
              for t in range(1, len(frames))]
    return float(np.mean(errors))


@pytest.fixture
def scene():
    return textured_scene


@pytest.fixture
def data_dir():
    if not DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return DATA

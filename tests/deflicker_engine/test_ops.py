"""The torch forms of the per-frame operations (used on a GPU) agree with the OpenCV forms (used on a CPU)."""
import numpy as np
import pytest
import torch

from deflicker_engine import ops
from deflicker_engine.filtering.anchor import anchor_to_atlas, look_where_atlas_holds
from deflicker_engine.filtering.consolidate import blend_weight
from deflicker_engine.transfer import apply_correction, downscale, fit_correction
from tests.conftest import textured_scene

CPU = torch.device("cpu")


def _both(x):
    return x, torch.from_numpy(np.ascontiguousarray(x))


def _close(a, b, atol, inner=0):
    a, b = ops.to_numpy(a), ops.to_numpy(b)
    if inner:
        a, b = a[inner:-inner, inner:-inner], b[inner:-inner, inner:-inner]
    assert a.shape == b.shape and np.abs(a - b).max() < atol, np.abs(a - b).max()


@pytest.fixture
def frame():
    return textured_scene(1, 40, 56, seed=3)[0]


def test_warps_agree(frame):
    rng = np.random.default_rng(0)
    flow = (rng.normal(0, 1.5, (40, 56, 2))).astype(np.float32)
    for cubic, atol in ((False, 1e-4), (True, 2e-3)):
        a, b = _both(frame)
        _close(ops.warp(a, flow, cubic), ops.warp(b, torch.from_numpy(flow), cubic), atol, inner=3)


def test_filters_and_resizes_agree(frame):
    a, b = _both(frame)
    _close(ops.gaussian_blur(a, 2.5), ops.gaussian_blur(b, 2.5), 1e-4)
    _close(ops.box(a, 2), ops.box(b, 2), 1e-5)
    _close(ops.resize(a, (20, 28), "area"), ops.resize(b, (20, 28), "area"), 1e-5)
    _close(ops.resize(a, (80, 112), "linear"), ops.resize(b, (80, 112), "linear"), 1e-5)
    mask = np.ones((40, 56, 1), np.float32)
    assert ops.gaussian_blur(mask, 2.0).shape == (40, 56, 1) and ops.box(mask, 1).shape == (40, 56, 1)


def test_stages_give_the_same_result_on_tensors(frame):
    atlas = np.clip(frame * 1.1 + 0.02, 0, 1).astype(np.float32)
    a, b = _both(frame)
    _close(anchor_to_atlas(a, atlas), anchor_to_atlas(b, torch.from_numpy(atlas)), 1e-4)
    lost = atlas.copy()
    lost[10:30, 15:40] = 0.5                           # a region where the atlas lost the picture
    _close(look_where_atlas_holds(a, lost), look_where_atlas_holds(b, torch.from_numpy(lost)), 1e-4)
    mask = np.ones((40, 56), np.float32)
    _close(blend_weight(a, atlas, mask, 0.8, 0.08), blend_weight(b, torch.from_numpy(atlas), torch.from_numpy(mask),
                                                                  0.8, 0.08), 1e-5)
    small = downscale(frame, (20, 28))
    ca, cb = fit_correction(small, small * 0.9), fit_correction(torch.from_numpy(small), torch.from_numpy(small) * 0.9)
    _close(ca[0], cb[0], 1e-4)
    _close(apply_correction(frame, *ca), apply_correction(torch.from_numpy(frame), *cb), 1e-4)

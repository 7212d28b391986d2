"""Training data: the held-out split, crops, and synthetic clips whose flow and occlusion are exact."""
import cv2
import numpy as np
import pytest
import torch

from deflicker_engine.analysis.flow import warp
from deflicker_engine.errors import InputError
from deflicker_engine.training import data as D
from deflicker_engine.training.train_refiner import flow_warp


def texture(seed: int, h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = sum(cv2.resize(rng.random((h // s + 2, w // s + 2, 3)).astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC) for s in (32, 8, 3)) / 3
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def folder(tmp_path):
    for name in ("a/one.png", "a/b/two.jpg", "kodak24/kodim01.png", "c/three.png"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), texture(len(name)))
    (tmp_path / "notes.txt").write_text("not a picture")
    return tmp_path


def test_kodak24_is_held_out(folder):
    training, validation = D.list_images(folder)
    assert [p.name for p in validation] == ["kodim01.png"]
    assert sorted(p.name for p in training) == ["one.png", "three.png", "two.jpg"]


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        D.list_images(tmp_path / "absent")
    with pytest.raises(InputError):
        D.list_images(tmp_path)


def test_pool_is_downscaled_uint8(folder):
    training, _ = D.list_images(folder)
    pool = D.load_pool(training, max_side=160)
    assert all(p.dtype == np.uint8 and max(p.shape[:2]) == 160 for p in pool)


def test_filter_batch_is_seeded(folder):
    pool = D.load_pool(D.list_images(folder)[0])
    a = D.filter_batch(pool, np.random.default_rng(5), 3, 64)
    b = D.filter_batch(pool, np.random.default_rng(5), 3, 64)
    assert all(x.shape == (3, 3, 64, 64) and x.dtype == np.float32 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("with_object", [False, True])
def test_clip_flow_and_mask_are_exact(with_object):
    rng = np.random.default_rng(3)
    clip = None
    while clip is None:
        clip = D.make_sequence(texture(1), texture(2) if with_object else None, rng, frames=4, size=96)
    assert clip.clean.shape == (4, 96, 96, 3) and clip.mask[0].sum() == 0 and np.abs(clip.flow[0]).sum() == 0
    for t in range(1, 4):
        mask = clip.mask[t] > 0
        assert 0.3 < mask.mean() <= 1.0
        aligned = np.abs(warp(clip.clean[t - 1], clip.flow[t]) - clip.clean[t]).mean(-1)[mask].mean()
        unaligned = np.abs(clip.clean[t - 1] - clip.clean[t]).mean(-1)[mask].mean()
        assert aligned < 0.02 and aligned < 0.5 * unaligned


def test_torch_warp_matches_the_analysis_warp():
    rng = np.random.default_rng(0)
    image = rng.random((20, 30, 3)).astype(np.float32)
    flow = (rng.random((20, 30, 2)).astype(np.float32) - 0.5) * 6
    expected = warp(image, flow)
    got = flow_warp(torch.from_numpy(image.transpose(2, 0, 1))[None], torch.from_numpy(flow.transpose(2, 0, 1))[None])
    assert np.abs(got[0].numpy().transpose(1, 2, 0) - expected).max() < 1e-3


def test_flicker_sequence_changes_every_frame_differently():
    clean = np.repeat(D.to_float(texture(4, 64, 64))[None], 4, axis=0)
    rng = np.random.default_rng(1)
    flickering = D.flicker_sequence(clean, rng)
    while np.array_equal(flickering, clean):        # one clip in ten is left clean on purpose
        flickering = D.flicker_sequence(clean, rng)
    assert not np.allclose(flickering[0], flickering[1])
    assert np.abs(flickering - clean).mean() < 0.1

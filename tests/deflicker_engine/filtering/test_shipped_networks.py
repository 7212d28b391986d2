"""The weights we ship: load offline and safely, stay small, and do their job on pictures never trained on."""
import cv2
import numpy as np
import pytest
import torch

from deflicker_engine.filtering import (FILTER_WEIGHTS, REFINER_WEIGHTS, LocalRefiner, NeuralFilter, load_filter,
                                        load_refiner)
from deflicker_engine.training import data as D
from deflicker_engine.training import distortions as X
from deflicker_engine.training.train_refiner import temporal_error, unroll


def picture(seed: int, h: int = 160, w: int = 224) -> np.ndarray:
    """A generated photo-like picture: smooth colour texture, fine grain and a few hard-edged shapes."""
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.float32)
    for octave, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
        coarse = rng.random((h // octave + 2, w // octave + 2, 3)).astype(np.float32)
        image += weight * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        colour = tuple(float(c) for c in rng.uniform(0.05, 0.95, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.circle(image, centre, int(rng.integers(8, 40)), colour, -1)
        else:
            cv2.rectangle(image, centre, (centre[0] + int(rng.integers(10, 60)), centre[1] + int(rng.integers(10, 60))),
                          colour, -1)
    return np.clip(image, 0, 1)


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a.clamp(0, 1) - b) ** 2).mean())


def filter_gain(model, cleans, seed):
    """(input MSE, output MSE) per case: appearance-distorted frame + structurally distorted true appearance."""
    results = []
    for i, clean in enumerate(cleans):
        rng = np.random.default_rng(seed + i)
        frame = X.appearance_distortion(clean, rng, identity_chance=0.0)
        other = cv2.resize(cleans[(i + 1) % len(cleans)], (clean.shape[1], clean.shape[0]))
        atlas = X.structure_distortion(clean, rng, other, identity_chance=0.0)
        with torch.no_grad():
            out = model(tensor(frame), tensor(atlas))
        results.append((mse(tensor(frame), tensor(clean)), mse(out, tensor(clean))))
    return np.array(results)


def test_shipped_weights_load_offline_with_weights_only():
    for path, arch in ((FILTER_WEIGHTS, "NeuralFilter"), (REFINER_WEIGHTS, "LocalRefiner")):
        assert path.is_file(), f"{path} is not shipped"
        assert path.stat().st_size < 4 * 2 ** 20, "shipped checkpoints must stay small"
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        assert checkpoint["arch"] == arch and checkpoint["meta"]["steps_done"] > 0
    assert isinstance(load_filter("cpu"), NeuralFilter) and not load_filter("cpu").training
    assert isinstance(load_refiner("cpu"), LocalRefiner)


def test_shipped_filter_is_not_the_identity():
    frame, atlas = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert not torch.allclose(load_filter()(frame, atlas), frame)


def test_shipped_filter_beats_identity_on_generated_pictures():
    cleans = [picture(seed) for seed in range(4)]
    results = filter_gain(load_filter(), cleans, seed=500)
    assert (results[:, 1] < results[:, 0]).all(), results
    assert results[:, 1].mean() < 0.5 * results[:, 0].mean(), results


@pytest.mark.data
def test_shipped_filter_beats_identity_on_held_out_photographs(data_dir):
    paths = sorted((data_dir / "images" / "kodak24").glob("*.png"))[:4]
    if not paths:
        pytest.skip("kodak24 is not present")
    cleans = [D.read_rgb(p, max_side=224) for p in paths]
    results = filter_gain(load_filter(), cleans, seed=900)
    assert (results[:, 1] < results[:, 0]).all(), results
    assert results[:, 1].mean() < 0.5 * results[:, 0].mean(), results


def test_shipped_refiner_steadies_a_flickering_clip():
    background = (picture(7, 320, 320) * 255).astype(np.uint8)
    rng = np.random.default_rng(11)
    clip = D.make_sequence(background, None, rng, frames=6, size=96)
    filtered = np.stack([X.local_flicker(f, rng, 0.08, 96) for f in clip.clean])
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[:, None]  # noqa: E731  T x 1 x C x H x W
    frames, flow, mask = t(filtered.transpose(0, 3, 1, 2)), t(clip.flow.transpose(0, 3, 1, 2)), t(clip.mask[:, None])
    with torch.no_grad():
        out = torch.stack(unroll(load_refiner(), frames, flow, mask))
    clean = t(clip.clean.transpose(0, 3, 1, 2))
    assert temporal_error(out, flow, mask) < 0.8 * temporal_error(frames, flow, mask)
    assert mse(out, clean) < mse(frames, clean)

"""Distortions: fixed by their seed, in range, and each changes only what it claims to change."""
import cv2
import numpy as np
import pytest

from deflicker_engine.training import distortions as X


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    coarse = rng.random((12, 16, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (96, 72), interpolation=cv2.INTER_CUBIC)
    return np.clip(0.2 + 0.6 * smooth + 0.1 * rng.random((72, 96, 3), dtype=np.float32), 0, 1)


CASES = {
    "appearance": lambda img, rng: X.appearance_distortion(img, rng, identity_chance=0.0),
    "structure": lambda img, rng: X.structure_distortion(img, rng, img[::-1].copy(), identity_chance=0.0),
    "flicker": lambda img, rng: X.local_flicker(img, rng, 0.1, 40),
    "field": lambda img, rng: X.smooth_field(rng, 30, 40, 10, 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_same_result_other_seed_other_result(image, name):
    make = CASES[name]
    a = make(image, np.random.default_rng(42))
    b = make(image, np.random.default_rng(42))
    c = make(image, np.random.default_rng(43))
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", ["appearance", "structure", "flicker"])
def test_images_stay_in_range_and_shape(image, name):
    for seed in range(10):
        out = CASES[name](image, np.random.default_rng(seed))
        assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1


def test_appearance_keeps_the_structure(image):
    """Colour and tone change, edges do not move: the gradient directions still line up."""
    grad = lambda img: cv2.Sobel(img.mean(-1), cv2.CV_32F, 1, 0)  # noqa: E731
    for seed in range(8):
        out = X.appearance_distortion(image, np.random.default_rng(seed), identity_chance=0.0)
        assert np.corrcoef(grad(image).ravel(), grad(out).ravel())[0, 1] > 0.8


def test_structure_keeps_the_appearance(image):
    """No patches from elsewhere: mean colour stays where it was, while pixels move."""
    moved = 0.0
    for seed in range(8):
        out = X.structure_distortion(image, np.random.default_rng(seed), None, identity_chance=0.0)
        assert np.abs(out.mean((0, 1)) - image.mean((0, 1))).max() < 0.03
        moved += np.abs(out - image).mean()
    assert moved / 8 > 0.005


def test_smooth_field_is_normalised_and_smooth():
    field = X.smooth_field(np.random.default_rng(0), 64, 64, 16, 1)
    assert abs(field.mean()) < 1e-4 and abs(field.std() - 1) < 1e-3
    assert np.abs(np.diff(field, axis=1)).mean() < 0.3 * np.abs(field).mean()


def test_identity_chance_returns_the_input(image):
    out = X.appearance_distortion(image, np.random.default_rng(0), identity_chance=1.0)
    assert np.array_equal(out, image) and out is not image

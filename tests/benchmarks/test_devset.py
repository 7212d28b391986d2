"""The development benchmark's generators (benchmarks/devset*.py): deterministic, B/W exactly neutral,
processed pairs really processed, and no photograph shared between the dev and held-out splits."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def devset():
    from tests.conftest import DATA

    if not (DATA / "images").is_dir() or not (DATA / "clips").is_dir():
        pytest.skip("../shared/data is not present")
    import devset

    return devset


def _tiny(devset, name="d01", frames=4):
    """A small, short version of a real procedural clip."""
    spec = devset.scene_specs("dev")[name]
    return dataclasses.replace(spec, width=96, height=64, frames=frames)


def test_procedural_clip_is_deterministic_and_a_prefix(devset):
    from devset_scenes import Scene

    spec = _tiny(devset)
    a = Scene(spec, devset.IMAGES).frames()
    b = Scene(spec, devset.IMAGES).frames()
    shorter = Scene(dataclasses.replace(spec, frames=2), devset.IMAGES).frames()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(x, y) for x, y in zip(a, shorter))
    assert not np.array_equal(a[0], a[-1])  # the camera moves
    assert a[0].dtype == np.float32 and a[0].shape == (64, 96, 3) and 0 <= a[0].min() and a[0].max() <= 1


def test_flicker_kinds_are_deterministic(devset):
    from devset_flicker import flicker_effect
    from devset_scenes import Scene

    frames = Scene(_tiny(devset), devset.IMAGES).frames()
    for setting in devset.SYNTHETIC_SETTINGS:
        a = flicker_effect(setting, 7, len(frames), 24.0).apply(frames)
        b = flicker_effect(setting, 7, len(frames), 24.0).apply(frames)
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), setting
        assert any(not np.array_equal(x, y) for x, y in zip(a, frames)), setting


def test_window_flicker_is_the_engines_synthetic_flicker(devset):
    from devset_flicker import WindowFlicker
    from devset_scenes import Scene

    from deflicker_engine.synthetic import add_flicker

    frames = Scene(_tiny(devset), devset.IMAGES).frames()
    ours = WindowFlicker(3, True, 11).apply(frames)
    theirs = add_flicker(frames, 3, 11, local=True)
    assert all(np.array_equal(x, y) for x, y in zip(ours, theirs))


def test_bw_and_oldfilm_are_exactly_neutral(devset):
    from devset_flicker import BW, FilmLook, oldfilm_flicker
    from devset_scenes import Scene

    frames = Scene(_tiny(devset), devset.IMAGES).frames()
    for effect in (BW(), FilmLook(3)):
        reference = effect.apply(frames)
        flickering = oldfilm_flicker(5).apply(reference)
        for f in reference + flickering:
            assert np.array_equal(f[..., 0], f[..., 1]) and np.array_equal(f[..., 1], f[..., 2])
    assert devset.tint(flickering) == 0.0


def test_processed_frames_differ_from_their_input(devset):
    from devset_processing import ALGORITHMS, lab_stats
    from devset_scenes import Scene, read_photo

    frames = Scene(_tiny(devset, frames=2), devset.IMAGES).frames()
    context = {"reference_stats": lab_stats(read_photo(str(devset.IMAGES / devset.reinhard_photo("dev"))))}
    for name, algorithm in ALGORITHMS.items():
        out = algorithm(frames[0], context)
        assert out.shape == frames[0].shape and np.isfinite(out).all(), name
        assert np.abs(out - frames[0]).mean() > 0.005, name


def test_splits_share_no_photograph_and_cover_every_setting(devset):
    dev, heldout = devset.cases("dev"), devset.cases("heldout")
    photos = {split: {p for c in cs for p in c.clip.photos()} for split, cs in (("dev", dev), ("heldout", heldout))}
    photos["dev"].add(devset.reinhard_photo("dev"))
    photos["heldout"].add(devset.reinhard_photo("heldout"))
    shared = photos["dev"] & photos["heldout"]
    assert shared == set(), shared
    for split, cs, least in (("dev", dev, 2), ("heldout", heldout, 1)):
        settings = [c.setting for c in cs if c.kind == "synthetic"]
        for s in devset.SYNTHETIC_SETTINGS:
            assert settings.count(s) >= least, (split, s)
        assert {c.kind for c in cs} == set(devset.KINDS)
        assert len({c.name for c in cs}) == len(cs)
        # every clip under synthetic flicker has local flicker of W = 1, 3 or 10 at least once
        clips = {c.clip.name for c in cs if c.kind == "synthetic"}
        local = {c.clip.name for c in cs if c.kind == "synthetic" and c.setting in ("w1-local", "w3-local", "w10-local")}
        assert clips == local
    quick = devset.cases("all", quick=True)
    assert 8 <= len(quick) <= 14
    assert all(c.clip.name != "dlong" for c in quick)


def test_contrast_scale_is_the_gradient_gain_of_a_processing(devset):
    frames = [np.random.default_rng(s).uniform(0.2, 0.6, (32, 48, 3)).astype(np.float32) for s in range(3)]
    assert devset.contrast_scale(frames, frames) == pytest.approx(1.0)
    steeper = [0.5 + 1.5 * (f - 0.5) for f in frames]      # stays inside [0, 1]: no clipping
    assert devset.contrast_scale(steeper, frames) == pytest.approx(1.5, rel=1e-3)
    assert devset.contrast_scale([f * 0.8 + 0.1 for f in frames], frames) == pytest.approx(0.8, rel=1e-3)


def test_a_processed_pair_scores_how_much_detail_the_output_keeps(devset):
    # E_warp rewards blur: a softened output must show it beside the gap it closes
    import cv2

    (case,) = devset.cases("dev", names="d02/histeq")      # the shortest processed pair (72 frames)
    processed = case.inputs()
    same = devset.evaluate(case, processed)
    soft = devset.evaluate(case, [cv2.GaussianBlur(f, (0, 0), 1.5) for f in processed])
    assert same["detail_kept"] == pytest.approx(1.0)
    assert soft["detail_kept"] < 0.5 and soft["gap_closed"] > same["gap_closed"]

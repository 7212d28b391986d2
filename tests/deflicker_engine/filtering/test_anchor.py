"""Anchoring the filtered frame to the atlas: smooth leftovers go, the atlas's structural flaws stay out."""
import numpy as np

from deflicker_engine.filtering.anchor import anchor_to_atlas
from tests.conftest import textured_scene


def test_a_smooth_leftover_gain_is_removed():
    atlas = textured_scene(1, 96, 128, seed=2)[0].astype(np.float32)
    yy, xx = np.mgrid[0:96, 0:128] / 128.0
    gain = np.exp(0.15 * np.sin(3 * xx + 2 * yy))[..., None].astype(np.float32)
    filtered = atlas * gain
    out = anchor_to_atlas(filtered, atlas)
    assert np.abs(out - atlas).mean() < 0.3 * np.abs(filtered - atlas).mean()


def test_where_the_atlas_lost_an_object_the_frame_keeps_it():
    frame = textured_scene(1, 96, 128, seed=3)[0].astype(np.float32)
    atlas = frame.copy()
    frame[30:60, 40:80] = [0.9, 0.1, 0.1]   # an object the atlas averaged away
    out = anchor_to_atlas(frame, atlas)
    assert np.abs(out[30:60, 40:80] - frame[30:60, 40:80]).mean() < 0.02
    assert np.abs(out[:20] - frame[:20]).max() < 0.02   # agreeing regions are left alone

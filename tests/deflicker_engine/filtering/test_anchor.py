"""Anchoring the filtered frame to the atlas: smooth leftovers go, the atlas's structural flaws stay out."""
import numpy as np

from deflicker_engine.filtering.anchor import anchor_to_atlas, look_where_atlas_holds
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


def test_the_look_is_the_atlas_where_it_holds_and_the_frame_where_it_lost_the_picture():
    atlas = textured_scene(1, 96, 128, seed=5)[0].astype(np.float32)
    frame = atlas * np.float32(0.8)                    # flickered darker than the atlas's look
    frame[30:70, 40:100] = [0.2, 0.6, 0.3]             # a large object the atlas could not hold
    look = look_where_atlas_holds(frame, atlas)
    assert np.abs(look[:20] - atlas[:20]).max() < 0.02                  # agreeing: the atlas's look
    inner = look[40:60, 55:85]
    lost = frame[40:60, 55:85]
    # lost: the frame's own picture, under a smooth gain of at most the atlas's level (x 1/0.8)
    assert 0.85 < (inner / lost).min() and (inner / lost).max() < 1.3
    assert np.abs(inner - atlas[40:60, 55:85]).mean() > 0.1             # not the atlas's garbage

import numpy as np

from deflicker_engine.analysis.shots import detect_shots, split_shots
from tests.conftest import flicker, textured_scene


def test_two_shots_are_split_at_the_cut_despite_flicker():
    first = textured_scene(10, 48, 64, seed=1)
    second = textured_scene(8, 48, 64, seed=2, pan=-1.5)
    clip = flicker(np.concatenate([first, second]), amount=0.3)
    assert detect_shots(list(clip)) == [(0, 10), (10, 18)]


def test_flicker_alone_is_not_a_cut():
    clip = flicker(textured_scene(16, 48, 64, seed=3), amount=0.35)
    assert detect_shots(list(clip)) == [(0, 16)]


def test_sensitivity_extremes():
    clip = list(textured_scene(6, 32, 32))
    assert detect_shots(clip, sensitivity=1.0) == [(0, 6)]
    assert detect_shots(clip, sensitivity=0.0) == [(t, t + 1) for t in range(6)]


def test_shots_cover_every_frame_once():
    scores = np.array([0, 0.1, 1.5, 0.1, 0.1, 1.4, 0.1], np.float32)
    shots = split_shots(scores, 0.5)
    assert shots == [(0, 2), (2, 5), (5, 7)]

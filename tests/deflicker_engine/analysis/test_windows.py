import numpy as np

from deflicker_engine.analysis.windows import blend_weights, shot_windows


def test_windows_cover_long_shots_with_overlap():
    windows = shot_windows(0, 300, 120, 24)
    assert windows[0] == (0, 120) and windows[-1][1] == 300
    for (a, b), (c, d) in zip(windows, windows[1:]):
        assert c < b, "neighbouring windows must overlap"
    assert shot_windows(5, 50, 120, 24) == [(5, 50)]


def test_blend_weights_sum_to_one_and_fade():
    windows = shot_windows(0, 200, 80, 20)
    weights = blend_weights(windows, 0, 200)
    assert np.allclose(weights.sum(0), 1)
    overlap = range(windows[1][0], windows[0][1])
    assert all(np.diff(weights[0, list(overlap)]) < 0)

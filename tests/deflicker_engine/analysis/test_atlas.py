import numpy as np

from deflicker_engine.analysis.atlas import AtlasConfig, chain_homographies, fit_atlas, pair_homography
from deflicker_engine.analysis.flow import shot_flows
from tests.conftest import flicker, temporal_error, textured_scene


def test_pair_homography_recovers_a_translation():
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    H = pair_homography(flow, np.ones((40, 50), np.float32))
    assert np.allclose(H, [[1, 0, 3], [0, 1, -2], [0, 0, 1]], atol=1e-3)


def test_chained_homographies_map_every_frame_to_the_reference():
    step = np.array([[1, 0, 2.0], [0, 1, 0], [0, 0, 1]])
    homs = chain_homographies([step] * 4, reference=2)
    assert np.allclose(homs[2], np.eye(3))
    assert np.allclose(homs[0][:2, 2], [4, 0]) and np.allclose(homs[4][:2, 2], [-4, 0])


def test_atlas_frames_are_consistent_and_keep_the_scene():
    clean = textured_scene(10, 48, 64, seed=4, pan=1.5)
    noisy = flicker(clean, amount=0.3)
    flows = shot_flows(noisy)
    atlas = fit_atlas(noisy, *flows, AtlasConfig(steps=40), seed=0)
    rendered = atlas.render()
    assert rendered.shape == clean.shape
    assert temporal_error(rendered, clean) < 0.5 * temporal_error(noisy, clean)
    # appearance follows the clip's average, structure follows the scene
    assert np.abs(rendered - clean).mean() < np.abs(noisy - clean).mean()


def test_atlas_renders_at_another_size_and_handles_single_frames():
    clip = textured_scene(1, 32, 40)
    empty = np.zeros((0, 32, 40, 2), np.float32)
    masks = np.zeros((0, 32, 40), np.float32)
    atlas = fit_atlas(clip, empty, empty, masks, masks, AtlasConfig(steps=10))
    assert atlas.render((64, 80)).shape == (1, 64, 80, 3)
    assert np.abs(atlas.render()[0] - clip[0]).mean() < 0.02


def test_an_object_crossing_the_shot_leaves_no_ghost_on_the_canvas():
    # a dark object walks across a bright panned scene: the frames where it has gone must get the background
    # back from the atlas, not a darkened trace of the object (what an L1 fit leaves: 5x the error here)
    count, h, w = 16, 48, 64
    clean = 0.4 + 0.5 * textured_scene(count, h, w, seed=3, pan=1.0)
    shown = clean.copy()
    crossed = np.zeros((count, h, w), bool)
    for t in range(count):
        shown[t, 18:32, 4 + 3 * t:14 + 3 * t] = 0.05
        crossed[t, 18:32, 4:3 * count + 14] = True
    crossed &= shown.max(-1) > 0.1       # where the object is not, this frame
    shown = flicker(shown, amount=0.1, seed=2)
    flows = shot_flows(shown)

    def ghost(config: AtlasConfig) -> float:
        rendered = fit_atlas(shown, *flows, config, seed=0).render()
        return float(np.abs((rendered - clean).mean(-1)[crossed]).mean())

    assert ghost(AtlasConfig(steps=120)) < 0.5 * ghost(AtlasConfig(steps=120, robust_scale=0.0))

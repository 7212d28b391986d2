import numpy as np

from deflicker_engine.analysis.atlas import (AtlasConfig, camera_path, chain_homographies, fit_atlas, pair_homography,
                                             pair_motions)
from deflicker_engine.analysis.flow import shot_flows
from tests.conftest import flicker, temporal_error, textured_scene


def test_pair_homography_recovers_a_translation():
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    H = pair_homography(flow, np.ones((40, 50), np.float32))
    assert np.allclose(H, [[1, 0, 3], [0, 1, -2], [0, 0, 1]], atol=1e-3)


def _layered_flows(count: int, h: int, w: int, camera, covered) -> tuple:
    """Flows t -> t+1 of a camera moving by camera[t] (dx, dy) and a big object moving 12 px a frame over the
    frame's left `covered[t]` share of its width."""
    flows = np.zeros((count - 1, h, w, 2), np.float32)
    for t in range(count - 1):
        flows[t, ..., 0], flows[t, ..., 1] = camera[t]
        flows[t, :, :int(covered[t] * w), 0] = -12.0
    return flows, np.ones((count - 1, h, w), np.float32)


def test_a_big_object_crossing_a_still_shot_is_not_taken_for_the_camera():
    # for three pairs the object fills 80% of the frame: the dominant motion is then the object's, and a
    # chain built from it would throw every later frame of the window 36 px off on the canvas
    count, h, w = 12, 40, 60
    camera = [(0.5, 0.0)] * (count - 1)
    covered = [0, 0, 0, 0.3, 0.8, 0.8, 0.8, 0.3, 0, 0, 0]
    flows, masks = _layered_flows(count, h, w, camera, covered)
    assert abs(pair_homography(flows[5], masks[5])[0, 2] + 12.0) < 0.1
    path = camera_path(pair_motions(flows, masks), h, w)
    assert np.allclose([H[0, 2] for H in path], 0.5, atol=0.05)
    assert np.allclose([H[1, 2] for H in path], 0.0, atol=0.05)


def test_a_shaking_camera_keeps_its_own_motion_from_pair_to_pair():
    # no second layer: every pair's motion is its own, however much it jumps (hand-held shake)
    count, h, w = 12, 40, 60
    rng = np.random.default_rng(0)
    camera = [tuple(rng.uniform(-4, 4, 2)) for _ in range(count - 1)]
    flows, masks = _layered_flows(count, h, w, camera, [0] * (count - 1))
    path = camera_path(pair_motions(flows, masks), h, w)
    assert np.allclose([H[:2, 2] for H in path], camera, atol=0.05)


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

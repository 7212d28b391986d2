"""Pass one: cuts on the fly, window after window, holding little, one look across windows."""
import numpy as np
import torch

from deflicker_engine.analysis import appearance as ap
from deflicker_engine.analysis import survey as sv
from deflicker_engine.analysis.atlas import AtlasConfig
from deflicker_engine.analysis.shots import CutDetector, cut_scores, split_shots
from tests.conftest import flicker, textured_scene

CPU = torch.device("cpu")


def _survey(clip, window=16, overlap=4, steps=10, sensitivity=1.0):
    frames = iter(np.asarray(clip, np.float16))
    return list(sv.survey(frames, clip.shape[1:3], window, overlap, AtlasConfig(steps=steps), 0, sensitivity, CPU,
                          lambda done: None, None))


def test_cuts_settled_on_the_fly_are_the_whole_clip_decision():
    clip = np.concatenate([flicker(textured_scene(9, 40, 56, seed=1)), flicker(textured_scene(11, 40, 56, seed=9))])
    detector = CutDetector(0.5)
    settled = [d for f in clip for d in detector.push(f)] + detector.finish()
    starts = [t for t, cut in settled if cut or t == 0]
    assert [t for t, _ in settled] == list(range(20))
    assert starts == [a for a, _ in split_shots(cut_scores(clip), 0.5)] == [0, 9]


def test_a_long_shot_is_surveyed_window_by_window_holding_about_two_windows(monkeypatch):
    clip = flicker(textured_scene(60, 32, 48, pan=0.5), amount=0.2)
    held = []
    push = sv.ShotSurveyor.push

    def counting(self, frame):
        push(self, frame)
        held.append(len(self.frames))
    monkeypatch.setattr(sv.ShotSurveyor, "push", counting)
    (shot,) = _survey(clip)
    assert [(w.start, w.stop) for w in shot.windows] == [(0, 16), (12, 28), (24, 40), (36, 52), (44, 60)]
    assert shot.series.shape == (60, *shot.grid, 3) and (shot.start, shot.stop) == (0, 60)
    assert max(held) <= 16 + 12 + 1


def test_neighbouring_windows_are_brought_to_one_look():
    drift = np.linspace(0.7, 1.3, 40, dtype=np.float32)[:, None, None, None]   # each window averages its own look
    clip = np.clip(flicker(textured_scene(40, 32, 48, pan=0.3), amount=0.1, seed=4) * drift, 0, 1)
    (shot,) = _survey(clip, window=16, overlap=8, steps=20)
    for previous, current in zip(shot.windows, shot.windows[1:]):
        shared = list(range(current.start, previous.stop))
        a = previous.atlas.render(shot.shape, [t - previous.start for t in shared])
        b = current.atlas.render(shot.shape, [t - current.start for t in shared])
        raw = np.median([ap.measure(x, y, shot.grid) for x, y in zip(a, b)], axis=0)
        a = a * ap.gain_field(previous.offset, shot.shape)
        b = b * ap.gain_field(current.offset, shot.shape)
        normalised = np.median([ap.measure(x, y, shot.grid) for x, y in zip(a, b)], axis=0)
        assert np.abs(raw).mean() > 0.05 and np.abs(normalised).mean() < 0.2 * np.abs(raw).mean()


def test_black_and_white_shots_are_recognised():
    grey = textured_scene(6, 24, 32).mean(axis=3, keepdims=True).repeat(3, axis=3)
    (shot,) = _survey(grey, steps=2)
    assert shot.neutral
    (shot,) = _survey(textured_scene(6, 24, 32), steps=2)
    assert not shot.neutral


def test_pass_one_stopped_inside_a_shot_resumes_from_its_checkpoint_without_fitting_again(monkeypatch, tmp_path):
    """Two shots, the second long: pass one is stopped after that shot's third window and carried on from the saved
    checkpoint (through the file, as a restarted server would): the same shots, windows, atlases and series
    as an uninterrupted run, and only the windows not yet fitted are fitted."""
    from deflicker_engine.errors import Cancelled

    clip = np.concatenate([flicker(textured_scene(14, 32, 48, seed=1), amount=0.2),
                           flicker(textured_scene(52, 32, 48, seed=9, pan=0.5), amount=0.2, seed=3)])
    frames = np.asarray(clip, np.float16)

    def run(start=0, resume=None, checkpoint=None, cancel=None):
        return list(sv.survey(iter(frames[start:]), clip.shape[1:3], 16, 4, AtlasConfig(steps=10), 0, 0.5, CPU,
                              lambda done: None, cancel, resume=resume, checkpoint=checkpoint))

    whole = run()
    assert [(s.start, s.stop) for s in whole] == [(0, 14), (14, 66)] and len(whole[1].windows) == 4

    class StopAfter:
        def __init__(self, n):
            self.n, self.saved = n, 0

        def __call__(self, build):
            build().save(tmp_path / "partial.npz")
            self.saved += 1

        def is_set(self):
            return self.saved >= self.n

    stop = StopAfter(3)
    try:
        run(checkpoint=stop, cancel=stop)
        raise AssertionError("the survey was not stopped")
    except Cancelled:
        pass
    state = sv.SurveyCheckpoint.load(tmp_path / "partial.npz", CPU)
    assert [s.start for s in state.shots] == [0] and state.current.start == 14 and len(state.current.windows) == 3
    fitted = []
    fit = sv.fit_atlas
    monkeypatch.setattr(sv, "fit_atlas", lambda frames, *a, **k: fitted.append(len(frames)) or fit(frames, *a, **k))
    resumed = run(state.replay_from, resume=state)
    assert fitted == [16]                                      # the second shot's last window, nothing more
    assert [(s.start, s.stop) for s in resumed] == [(0, 14), (14, 66)]
    for a, b in zip(whole, resumed):
        assert [(w.start, w.stop) for w in a.windows] == [(w.start, w.stop) for w in b.windows]
        np.testing.assert_allclose(a.series, b.series, atol=1e-5)
        for wa, wb in zip(a.windows, b.windows):
            np.testing.assert_allclose(wa.atlas.texture.numpy(), wb.atlas.texture.numpy(), atol=1e-5)
            np.testing.assert_allclose(wa.offset, wb.offset, atol=1e-5)


def test_only_windows_that_flicker_fast_fit_per_frame_gains_and_the_choice_is_saved(monkeypatch, tmp_path):
    """Frame-to-frame flicker, tracked along the flow so the pan does not count, turns the atlas's fast gains on
    for its window; a clean pan leaves them off (on a camera clip they would take up the picture's own
    changes). The choice travels with the saved survey; a survey saved before it existed reads as off."""
    fitted = []
    fit = sv.fit_atlas

    def recording(*args, **kwargs):
        fitted.append(args[5].appearance_cells)
        return fit(*args, **kwargs)
    monkeypatch.setattr(sv, "fit_atlas", recording)
    clean = textured_scene(20, 32, 48, pan=0.7, seed=3)
    (steady,) = _survey(clean, window=20, steps=2)
    assert fitted == [0] and [w.fast for w in steady.windows] == [False]
    (flickering,) = _survey(flicker(clean, amount=0.2), window=20, steps=2)
    assert fitted == [0, AtlasConfig().appearance_cells] and AtlasConfig().appearance_cells > 0
    assert [w.fast for w in flickering.windows] == [True]

    path = tmp_path / "surveys.npz"
    sv.save_surveys(path, [flickering])
    assert [w.fast for w in sv.load_surveys(path, CPU)[0].windows] == [True]
    arrays = dict(np.load(path))
    del arrays["s0_w0_fast"]
    np.savez(tmp_path / "older.npz", **arrays)
    assert [w.fast for w in sv.load_surveys(tmp_path / "older.npz", CPU)[0].windows] == [False]

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

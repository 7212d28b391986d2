"""The real pipeline, shipped weights included, on tiny generated clips."""
import threading

import cv2
import numpy as np
import pytest

from deflicker_engine import AnalysisParams, Cancelled, ClipAnalysis, Deflicker, InputError, RenderParams
from deflicker_engine.io import open_source
from tests.conftest import flicker, temporal_error, textured_scene

FAST = AnalysisParams(atlas_steps=30, working_size=128)


@pytest.fixture(scope="module")
def engine():
    return Deflicker(device="cpu")


def _write_png_folder(folder, frames, bits=8):
    folder.mkdir()
    scale = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"f_{i:04d}.png"), cv2.cvtColor((f * scale).round().astype(dtype), cv2.COLOR_RGB2BGR))
    return folder


def _read_folder(folder):
    with open_source(str(folder)) as src:
        return src.info, [f for f in src.frames()]


def test_flicker_is_measurably_reduced_and_format_is_kept(engine, tmp_path):
    clean = textured_scene(16, 72, 96, seed=5, pan=1.0)
    noisy = flicker(clean, amount=0.25)
    src = _write_png_folder(tmp_path / "in", noisy, bits=16)
    engine.process(str(src), str(tmp_path / "out"), FAST)
    info, out = _read_folder(tmp_path / "out")
    assert info.count == 16 and (info.height, info.width) == (72, 96) and info.dtype == "uint16"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in src.iterdir())
    result = np.stack([f.astype(np.float32) / 65535 for f in out])
    assert temporal_error(result, clean) < 0.6 * temporal_error(noisy, clean)


def test_strength_zero_returns_the_input_and_render_is_random_access(engine, tmp_path):
    noisy = flicker(textured_scene(10, 48, 64, seed=6))
    src = _write_png_folder(tmp_path / "in", noisy)
    with open_source(str(src)) as source:
        analysis = engine.analyse(source, FAST)
        untouched = [f for _, f in engine.render(source, analysis, RenderParams(strength=0.0))]
        assert all(np.abs(u.astype(int) - n.astype(int)).max() <= 1 for u, n in zip(untouched, source.frames()))
        whole = dict(engine.render(source, analysis))
        part = dict(engine.render(source, analysis, start=7, stop=9))
        assert list(part) == [7, 8] and all(np.array_equal(part[i], whole[i]) for i in part)


def test_analysis_round_trips_through_a_file(engine, tmp_path):
    src = _write_png_folder(tmp_path / "in", flicker(textured_scene(6, 32, 48)))
    with open_source(str(src)) as source:
        analysis = engine.analyse(source, FAST)
    analysis.save(tmp_path / "a.npz")
    again = ClipAnalysis.load(tmp_path / "a.npz")
    assert again.shots == analysis.shots
    assert all(np.array_equal(again.target(i), analysis.target(i)) for i in range(analysis.count))
    (tmp_path / "bad.npz").write_bytes(b"not an analysis")
    with pytest.raises(InputError):
        ClipAnalysis.load(tmp_path / "bad.npz")


def test_cancel_stops_between_frames_and_writes_nothing(engine, tmp_path):
    src = _write_png_folder(tmp_path / "in", flicker(textured_scene(8, 32, 48)))
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        engine.process(str(src), str(tmp_path / "out"), FAST, cancel=stop)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_iterator_in_iterator_out(engine):
    frames = (f for f in (flicker(textured_scene(6, 32, 48)) * 255).astype(np.uint8))
    out = list(engine.deflicker_frames(frames, FAST))
    assert len(out) == 6 and out[0].dtype == np.uint8 and out[0].shape == (32, 48, 3)


def test_observe_sees_every_frame_at_every_stage_of_pass_two_and_the_target_it_yields(engine):
    frames = flicker(textured_scene(7, 32, 48, seed=3)).astype(np.float32)
    seen, targets = {}, {}

    def observe(stage, index, image):
        seen.setdefault(stage, []).append(index)
        if stage == "target":
            targets[index] = np.asarray(image, np.float32).copy()

    from deflicker_engine.io import spool_frames

    with spool_frames(iter(frames)) as source:
        engine_targets = list(engine.targets(source, FAST, observe=observe))
    assert set(seen) == {"look", "look given", "filtered", "refined", "target"}
    assert all(indices == list(range(7)) for indices in seen.values())
    assert all(np.array_equal(targets[i], np.asarray(t, np.float32)) for i, t in engine_targets)
    # the stages differ: the look is the atlas's, the target the filtered and consolidated frame
    assert not np.allclose(targets[3], frames[3], atol=1e-3)


def test_deflicker_frames_takes_the_frames_rate_its_time_constants_are_in(engine):
    frames = (flicker(textured_scene(6, 32, 48)) * 255).astype(np.uint8)
    params = AnalysisParams(atlas_steps=8, working_size=128, appearance="follow", slow_changes=0.5)
    decided = {}
    for rate in (None, "50"):
        decisions = []
        list(engine.deflicker_frames(iter(frames), params, decisions=decisions, rate=rate))
        decided[rate] = decisions[0]["frames"]
    assert decided == {None: 12.0, "50": 25.0}     # half a second at the default 24 fps, and at 50


def _write(path, frames, info):
    from deflicker_engine.io import open_sink

    with open_sink(str(path), info) as sink:
        for f in frames:
            sink.write(f)


def test_exr_half_with_alpha_keeps_alpha_highlights_and_type(engine, tmp_path):
    from deflicker_engine.io import ClipInfo

    clean = textured_scene(8, 40, 56, seed=7)
    linear = (flicker(clean) ** 2.2) * 3.0                       # scene-linear, highlights above 1.0
    alpha = np.linspace(0, 1, 40 * 56, dtype=np.float32).reshape(40, 56, 1)
    frames = [np.concatenate([f, alpha], -1).astype(np.float16) for f in linear]
    info = ClipInfo("sequence", 8, 56, 40, 4, "float16", encoding="linear",
                    names=tuple(f"plate.{i + 1001:04d}.exr" for i in range(8)))
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "plate.%04d.exr", frames, info)
    engine.process(str(tmp_path / "in" / "plate.%04d.exr"), str(tmp_path / "out"), FAST)
    out_info, out = _read_folder(tmp_path / "out")
    assert out_info.dtype == "float16" and out_info.channels == 4 and out_info.encoding == "linear"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == list(info.names)
    assert all(np.array_equal(o[..., 3], f[..., 3]) for o, f in zip(out, frames))
    assert max(float(o[..., :3].max()) for o in out) > 1.5


def test_video_keeps_rate_count_and_size(engine, tmp_path):
    from deflicker_engine.io import ClipInfo

    frames = (flicker(textured_scene(12, 48, 64, seed=8)) * 255).round().astype(np.uint8)
    info = ClipInfo("video", 12, 64, 48, 3, "uint8", fps=24000 / 1001, rate="24000/1001")
    _write(tmp_path / "in.mp4", frames, info)
    engine.process(str(tmp_path / "in.mp4"), str(tmp_path / "out.mov"), FAST)
    with open_source(str(tmp_path / "out.mov")) as out:
        assert (out.info.count, out.info.width, out.info.height, out.info.rate) == (12, 64, 48, "24000/1001")


class _CancelAfter:
    """A cancel token that fires once pass two has finalised `frames` frames."""

    def __init__(self, frames):
        self.frames, self.done = frames, 0

    def progress(self, stage, done, total):
        if stage == "finalise":
            self.done = done

    def is_set(self):
        return self.done >= self.frames


def test_a_disk_analysis_is_kept_in_chunks_and_resumes_where_it_stopped(engine, tmp_path):
    from deflicker_engine.targets import DiskTargets

    clean = textured_scene(150, 32, 48, seed=9, pan=0.5)
    src = _write_png_folder(tmp_path / "in", flicker(clean, amount=0.2))
    params = AnalysisParams(atlas_steps=10, working_size=128, window=48, overlap=8)
    with open_source(str(src)) as source:
        whole = engine.analyse(source, params)
        stop = _CancelAfter(100)
        with pytest.raises(Cancelled):
            engine.analyse(source, params, progress=stop.progress, cancel=stop, folder=tmp_path / "a")
        partial = DiskTargets(tmp_path / "a", 150, (32, 48))
        assert partial.done_until() == 64 and (tmp_path / "a" / "survey.npz").is_file()
        resumed = engine.analyse(source, params, folder=tmp_path / "a")
    reopened = ClipAnalysis.open(tmp_path / "a", resident=2)
    difference = max(float(np.abs(reopened.target(i).astype(np.float32) - whole.target(i).astype(np.float32)).max())
                     for i in range(150))
    assert difference < 5e-3 and resumed.shots == whole.shots
    assert reopened.nbytes <= 2 * 64 * 32 * 48 * 3 * 2


def test_the_device_running_out_of_memory_is_a_device_error_and_leaves_no_output(engine, tmp_path, monkeypatch):
    """Simulated on the CPU: the accelerator's OOM raised from inside the analysis reaches the caller as a
    DeviceError naming the clip, its size and what to do, and the atomic output is not left behind."""
    import torch

    from deflicker_engine import pipeline
    from deflicker_engine.errors import DeviceError

    src = _write_png_folder(tmp_path / "in", flicker(textured_scene(8, 40, 56, seed=2), amount=0.2))

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(pipeline, "correct_frame", exhausted)
    with pytest.raises(DeviceError, match=r"ran out of memory while rendering .*56x40.*--working-size"):
        engine.process(str(src), str(tmp_path / "out.mp4"), FAST)
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob("*.tmp*"))
    monkeypatch.setattr(pipeline.ShotFinaliser, "run", exhausted)
    with pytest.raises(DeviceError, match=r"ran out of memory while analysing"):
        engine.analyse(open_source(str(src)), FAST)


def test_a_shot_of_many_atlas_windows_has_no_seams_where_they_join(engine):
    """Issue 12: one 64-frame shot in windows of 16 (overlap 4) through the whole pipeline. Where two windows
    cross-fade, the output's frame-to-frame brightness steps are no larger than in the windows' middles, and
    both are far below the input's (a pass-through fails the second, a seam the first)."""
    clean = textured_scene(64, 40, 56, seed=11, pan=0.5)
    noisy = flicker(clean, amount=0.2)
    params = AnalysisParams(atlas_steps=30, working_size=128, window=16, overlap=4)
    decisions = []
    out = np.stack(list(engine.deflicker_frames(iter(noisy), params, decisions=decisions)))
    windows = [(start, stop) for shot in decisions for start, stop in shot["windows"]]
    assert len(windows) >= 4 and windows[0][0] == 0 and windows[-1][1] == len(clean)

    def steps(frames):      # mean brightness change per pair (t-1, t), beyond the clean clip's own
        return np.abs(np.diff(frames.mean(axis=(1, 2, 3))) - np.diff(clean.mean(axis=(1, 2, 3))))

    joins = np.zeros(len(clean), bool)
    for (_, a1), (b0, _) in zip(windows, windows[1:]):
        joins[b0 - 1:a1 + 2] = True
    joins = joins[1:]
    out_steps, in_steps = steps(out), steps(noisy)
    assert out_steps[joins].mean() <= 1.5 * out_steps[~joins].mean() + 2e-3
    assert out_steps[joins].mean() < 0.3 * in_steps[joins].mean()
    assert out_steps[~joins].mean() < 0.3 * in_steps[~joins].mean()


def test_a_disk_analysis_stopped_in_pass_one_resumes_from_its_last_checkpoint(engine, tmp_path, monkeypatch):
    """Stopped inside pass one (a server killed at frame 100 of 150), the next analysis of the folder carries
    pass one on from its checkpoint (its first survey progress is past the windows already fitted) and ends
    where an uninterrupted one does; a damaged checkpoint only costs the head start."""
    from deflicker_engine import pipeline

    monkeypatch.setattr(pipeline, "CHECKPOINT_SECONDS", 0.0)
    clean = textured_scene(150, 32, 48, seed=9, pan=0.5)
    src = _write_png_folder(tmp_path / "in", flicker(clean, amount=0.2))
    params = AnalysisParams(atlas_steps=10, working_size=128, window=48, overlap=8)
    seen = []
    with open_source(str(src)) as source:
        whole = engine.analyse(source, params)
        stop = threading.Event()

        def stop_at_100(stage, done, total):
            if stage == "survey" and done >= 100:
                stop.set()
        with pytest.raises(Cancelled):
            engine.analyse(source, params, progress=stop_at_100, cancel=stop, folder=tmp_path / "a")
        assert (tmp_path / "a" / "survey-partial.npz").is_file() and not (tmp_path / "a" / "survey.npz").exists()
        resumed = engine.analyse(source, params, progress=lambda s, d, t: seen.append((s, d)), folder=tmp_path / "a")
        assert not (tmp_path / "a" / "survey-partial.npz").exists()
        first_survey = next(d for s, d in seen if s == "survey")
        assert first_survey >= 80                           # windows [0, 48) and [40, 88) were not fitted again
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "survey-partial.npz").write_bytes(b"PK\x03\x04 not a whole zip")
        fresh = engine.analyse(source, params, folder=tmp_path / "b")
    for analysis in (resumed, fresh):
        difference = max(float(np.abs(analysis.target(i).astype(np.float32) - whole.target(i).astype(np.float32)).max())
                         for i in range(150))
        assert difference < 5e-3 and analysis.shots == whole.shots


@pytest.mark.parametrize("neutral, appearance, expected", [(False, "adaptive", "precise"), (True, "adaptive", "grain"),
                                                             (True, "hold", "precise"), (False, "hold", "precise")])
def test_only_black_and_white_film_gets_the_grain_keeping_transfer(neutral, appearance, expected):
    from deflicker_engine.analysis.survey import ShotSurvey
    from deflicker_engine.filtering.consolidate import COLOUR_TOLERANCE, TOLERANCE
    from deflicker_engine.pipeline import GRAIN_TRANSFER, PRECISE_TRANSFER, decide_look

    series = np.random.default_rng(0).normal(0, 0.1, (40, 3, 4, 3)).astype(np.float32)
    shot = ShotSurvey(0, 40, (48, 64), (3, 4), [], series, neutral)
    _, _, decided = decide_look(shot, AnalysisParams(appearance=appearance), 24.0)
    assert tuple(decided["transfer"]) == {"precise": PRECISE_TRANSFER, "grain": GRAIN_TRANSFER}[expected]
    # film grain is a real per-frame change for the consolidation; a colour shot's leftover flicker is not
    assert decided["tolerance"] == (TOLERANCE if neutral else COLOUR_TOLERANCE) and TOLERANCE < COLOUR_TOLERANCE


def test_a_checkpoint_that_is_not_due_never_builds_the_state(tmp_path):
    from deflicker_engine.pipeline import _Checkpoints

    built = []
    checkpoints = _Checkpoints(tmp_path / "partial.npz", "clip", every=3600.0)
    checkpoints(lambda: built.append(1))          # 30 s throttle in the engine: the state is not even made
    assert built == [] and not (tmp_path / "partial.npz").exists()


def _gate_against(series, trend):
    """The do-no-harm gate decide_look would build for (48, 64) frames, with the flicker weighed against `trend`."""
    from deflicker_engine.analysis import appearance
    from deflicker_engine.pipeline import HARM_CLIP_FLOOR, HARM_FLOOR, HARM_QUICK_FLOOR

    return appearance.harm_gate(appearance.flicker_level(series, trend), HARM_FLOOR, (48, 64), HARM_CLIP_FLOOR,
                                appearance.frame_to_frame_level(series), HARM_QUICK_FLOOR)


def _calibrated_trend(series):
    from deflicker_engine.analysis import appearance
    from deflicker_engine.pipeline import GATE_TREND

    return appearance.adaptive_trend(series, GATE_TREND)[0]


@pytest.mark.parametrize("neutral", [False, True])
def test_film_weighs_its_flicker_against_the_kept_look_colour_against_the_calibrated_trend(neutral):
    from deflicker_engine.analysis import appearance
    from deflicker_engine.analysis.survey import ShotSurvey
    from deflicker_engine.pipeline import GATE_TREND, decide_look

    rng = np.random.default_rng(3)        # flicker holding 4 frames: the calibrated trend follows part of it
    draws = np.repeat(rng.normal(0, 0.08, (16, 1, 1, 1)), 4, axis=0)[:60]
    eased = np.convolve(np.pad(draws[:, 0, 0, 0], 3, mode="edge"), np.ones(4) / 4, mode="valid")[:60]
    draws = draws if neutral else eased[:, None, None, None]   # a colour shot's eased in over 4 frames: no jumps
    series = (draws + rng.normal(0, 0.01, (60, 3, 4, 3))).astype(np.float32)
    shot = ShotSurvey(0, 60, (48, 64), (3, 4), [], series, neutral)
    kept, gate, decided = decide_look(shot, AnalysisParams(), 24.0)
    assert neutral or decided["jumps"] < 2
    calibrated = appearance.adaptive_trend(series, GATE_TREND)[0]
    expected = _gate_against(series, kept if neutral else calibrated)
    other = _gate_against(series, calibrated if neutral else kept)
    assert gate is not None and np.array_equal(gate, expected)
    assert other is None or not np.array_equal(other, expected)     # the two choices differ on this series


def test_a_colour_shot_whose_look_jumps_again_and_again_is_corrected_where_the_calibrated_trend_left_it():
    """Slow flicker's plateaus (steps, W = 30) are partly followed by the gate's calibrated trend, which then
    sees less flicker; jumping repeatedly, the shot is also weighed against the kept look and the larger level
    counts. One jump (a light switched on) leaves the calibrated gate as it was."""
    from deflicker_engine.analysis import appearance
    from deflicker_engine.analysis.survey import ShotSurvey
    from deflicker_engine.pipeline import GATE_TREND, decide_look

    rng = np.random.default_rng(8)
    ramp = np.linspace(-1, 1, 4)[None, None, :, None]                          # smooth in space, like flicker
    levels = 0.8 * np.array([0.0, 0.125, -0.05, 0.1, 0.025, 0.12])[:, None, None, None]
    noise = rng.normal(0, 0.01, (120, 1, 1, 3)) + rng.normal(0, 0.005, (120, 3, 4, 3))   # an atlas's own error
    steps = np.broadcast_to(np.repeat(levels * (1 + 0.3 * ramp), 20, axis=0), noise.shape)   # redrawn every 20
    once = np.where(np.arange(120)[:, None, None, None] >= 60, steps[20:21], steps[:1])
    for series, jumping in ((steps + noise, True), (once + noise, False)):
        series = series.astype(np.float32)
        shot = ShotSurvey(0, 120, (48, 64), (3, 4), [], series, False)
        _, gate, decided = decide_look(shot, AnalysisParams(), 24.0)
        calibrated = _gate_against(series, appearance.adaptive_trend(series, GATE_TREND)[0])
        share = (lambda g: 1.0 if g is None else float(g.mean()))
        assert (decided["jumps"] >= 2) == jumping
        if jumping:
            assert share(gate) > share(calibrated) + 0.2, (share(gate), share(calibrated))
        else:
            assert share(gate) == share(calibrated)


def test_a_colour_shot_with_a_slow_mains_beat_gets_the_whole_correction():
    """Mains light beating at 1 Hz against 25 fps changes the look by less a frame than the quick floor, and its
    spread sits between the clip floor and twice it, so the gate left most of it alone; a beat is flicker."""
    from deflicker_engine.analysis.survey import ShotSurvey
    from deflicker_engine.pipeline import decide_look

    rng = np.random.default_rng(12)
    t = np.arange(100, dtype=np.float32)[:, None, None, None]
    noise = rng.normal(0, 0.004, (100, 3, 4, 3)) + rng.normal(0, 0.003, (100, 1, 1, 3))
    for amplitude in (0.045, 0.0):
        series = (amplitude * np.sin(2 * np.pi * t / 25.0) + noise).astype(np.float32)
        shot = ShotSurvey(0, 100, (48, 64), (3, 4), [], series, False)
        _, gate, decided = decide_look(shot, AnalysisParams(), 25.0)
        before = _gate_against(series, _calibrated_trend(series))
        if amplitude:
            assert decided["beat"] and before is not None and before.mean() < 0.5
            assert gate is None or gate.mean() > 0.9
        else:
            assert not decided["beat"] and gate is not None and gate.max() == 0.0


def test_pass_two_works_on_frames_with_a_known_beat_divided_out(engine, monkeypatch):
    """A beat's gain is known frame by frame: the finaliser gets the frames without it (so the filter, the
    consolidation and the gate's fallback never see it), and the clip still comes out without it."""
    from deflicker_engine import pipeline

    clean = textured_scene(48, 32, 48, seed=5, pan=0.0)
    beat = 1 + 0.08 * np.sin(2 * np.pi * np.arange(48) / 8.0)
    frames = np.clip(clean * beat[:, None, None, None], 0, 1).astype(np.float32)
    given = []
    run = pipeline.ShotFinaliser.run

    def spy(self, frames):
        return run(self, (given.append(np.asarray(f, np.float32)) or f for f in frames))

    monkeypatch.setattr(pipeline.ShotFinaliser, "run", spy)
    decisions = []
    out = np.stack(list(engine.deflicker_frames(iter(frames), FAST, decisions=decisions))).astype(np.float32)
    assert decisions[0]["beat"] and len(given) == 48

    def swing(clip):        # how far the frames' mean brightness strays from the clean clip's, over the shot
        means = np.log(np.stack(clip).mean(axis=(1, 2, 3)) / clean.mean(axis=(1, 2, 3)))
        return float(np.std(means))

    assert swing(given) < 0.25 * swing(frames)
    assert swing(out) < 0.25 * swing(frames)

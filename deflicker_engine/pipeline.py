"""The engine: frames in, analysis at working resolution, corrected frames out at full resolution.

`Deflicker` holds the networks (loaded once) and runs jobs. The analysis reads the clip twice, streaming:
pass one (`analysis.survey`) finds the shots and fits one atlas per window, keeping per shot only what is
compact (the atlases and a few kilobytes of log gains a frame); the shot's look is then decided on all of it
(`analysis.appearance`); pass two (`filtering.finalise`) turns every frame into its target, in order, holding
a few dozen frames at a time. Memory therefore does not grow with the length of a shot, and the look of a
frame is decided with the whole shot known. A `ClipAnalysis` keeps the targets (float16, working size), so
rendering any frame range or another strength never repeats the analysis; `process` renders each frame as
soon as its target exists and keeps nothing. The CLI, the server and the benchmarks all call this.
"""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch

from . import ops
from .analysis import appearance
from .analysis.atlas import AtlasConfig
from .analysis.survey import ShotSurvey, SurveyCheckpoint, load_surveys, save_surveys, survey
from .config import AnalysisParams, RenderParams, as_dict, resolve, validate
from .device import out_of_memory_as_error, resolve_device
from .errors import InputError
from .filtering.consolidate import COLOUR_TOLERANCE, TOLERANCE, reach
from .filtering.finalise import Observer, ShotFinaliser
from .ops import Array
from .io import (DEFAULT_RATE, ClipInfo, FrameSource, atomic_file, check_output_path, from_working, open_sink,
                 open_source, spool_frames, to_working, with_colorspace)
from .progress import CancelToken, ProgressFn, check_cancel, no_progress
from .targets import RESIDENT_CHUNKS, DiskTargets, MemoryTargets, read_meta, write_meta
from .transfer import apply_correction, downscale, fit_correction, working_shape

# Below these spreads (log units, per cell, see appearance.flicker_level) a shot's frame-to-atlas gains are what
# the atlas's own error makes of a clean clip: nothing to correct, so the target falls back to the frame.
HARM_FLOOR = 0.02          # a region
HARM_CLIP_FLOOR = 0.04     # the clip as a whole
HARM_QUICK_FLOOR = 0.02    # the clip as a whole, frame to frame (clean dev clips: 0.002-0.010; mains light 0.056)


@dataclass
class ClipAnalysis:
    """What rendering needs: the deflickered clip at working resolution (its targets), plus how it was made."""

    count: int
    height: int
    width: int
    shots: List[Tuple[int, int]]
    store: "MemoryTargets | DiskTargets"     # float16 [h, w, 3] working-encoding target per frame
    params: Dict = field(default_factory=dict)
    stage_seconds: Dict[str, float] = field(default_factory=dict)
    decisions: List[Dict] = field(default_factory=list)   # per shot: what the appearance model chose

    VERSION = 2

    @property
    def nbytes(self) -> int:
        """Memory the analysis holds now (for a disk analysis, its resident chunks)."""
        return int(self.store.nbytes)

    def target(self, index: int) -> np.ndarray:
        return self.store.get(index)

    def meta(self) -> Dict:
        return {"version": self.VERSION, "count": self.count, "height": self.height, "width": self.width,
                "shots": self.shots, "params": self.params, "stage_seconds": self.stage_seconds,
                "decisions": self.decisions}

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as .npz (no pickle: a cache file can never execute code). A disk analysis is
        already saved chunk by chunk in its folder; this writes its targets whole, for sharing."""
        targets = self.store.array if isinstance(self.store, MemoryTargets) else np.stack(
            [self.store.get(i) for i in range(self.count)])
        with atomic_file(Path(path)) as handle:
            np.savez(handle, targets=targets, meta=np.array(json.dumps(self.meta(), default=float)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ClipAnalysis":
        """An analysis saved with `save` (.npz), or a finished disk analysis (its folder)."""
        if Path(path).is_dir():
            return cls.open(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                targets = data["targets"]
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"cannot read analysis file {path}: {error}") from error
        if meta.get("version") != cls.VERSION or targets.ndim != 4 or targets.shape[0] != meta["count"]:
            raise InputError(f"analysis file {path} is from another version or damaged; analyse again")
        store = MemoryTargets(meta["count"], targets.shape[1:3], targets)
        return cls._from_meta(meta, store)

    @classmethod
    def open(cls, folder: str | os.PathLike, resident: int = RESIDENT_CHUNKS) -> "ClipAnalysis":
        """A finished disk analysis: its chunks are read when a frame needs them."""
        meta = read_meta(Path(folder))
        if meta.get("version") != cls.VERSION or not meta.get("complete"):
            raise InputError(f"analysis folder {folder} is unfinished or from another version; analyse again")
        store = DiskTargets(folder, meta["count"], tuple(meta["shape"]), meta["chunk"], resident)
        if store.done_until() != meta["count"]:
            raise InputError(f"analysis folder {folder} is missing chunks; analyse again")
        return cls._from_meta(meta, store)

    @classmethod
    def _from_meta(cls, meta: Dict, store) -> "ClipAnalysis":
        return cls(meta["count"], meta["height"], meta["width"], [tuple(s) for s in meta["shots"]], store,
                   meta["params"], meta["stage_seconds"], meta.get("decisions", []))


@contextmanager
def _timed(seconds: Dict[str, float], stage: str):
    start = time.perf_counter()
    yield
    seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


log = logging.getLogger(__name__)
SURVEY_FILE, CHECKPOINT_FILE = "survey.npz", "survey-partial.npz"
CHECKPOINT_SECONDS = 30.0   # pass one writes its state at most this often (a 3,000-frame take: about 25 times)


class _Checkpoints:
    """Pass one's state saved into an analysis folder after a window is fitted, at most every `every` s."""

    def __init__(self, path: Path, identity: str, every: float) -> None:
        self.path, self.identity, self.every = path, identity, every
        self.last = time.perf_counter()

    def __call__(self, build: Callable[[], SurveyCheckpoint]) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            state = build()
            state.identity = self.identity
            state.save(self.path)
            self.last = time.perf_counter()

    def load(self, device: torch.device) -> Optional[SurveyCheckpoint]:
        """The folder's checkpoint when it is this clip's with these parameters; else none (and it goes)."""
        if not self.path.is_file():
            return None
        try:
            state = SurveyCheckpoint.load(self.path, device)
            if state.identity == self.identity:
                log.info("%s: pass one carries on from frame %d (%d shot(s) done, %d window(s) of the next)",
                         self.path.parent, state.replay_from, len(state.shots), len(state.current.windows))
                return state
            problem = "another clip's or other parameters'"
        except Exception as error:  # a damaged or foreign file is only a lost head start
            problem = f"unreadable ({type(error).__name__}: {error})"
        log.warning("%s is %s; pass one starts from the first frame", self.path, problem)
        self.path.unlink(missing_ok=True)
        return None


def _identity(info: ClipInfo, params: AnalysisParams) -> str:
    return json.dumps({"count": info.count, "size": [info.width, info.height], "params": as_dict(params)},
                      sort_keys=True, default=str)


def _working_frames(source: FrameSource, info: ClipInfo, shape: Tuple[int, int], start: int = 0,
                    stop: Optional[int] = None) -> Iterator[np.ndarray]:
    """The clip's frames [start, stop) at the working size, float16, checked against the announced count."""
    stop = info.count if stop is None else stop
    index = start - 1
    for index, native in enumerate(source.frames(start, stop), start):
        if index >= stop:
            raise InputError(f"{info.path}: more frames than announced ({info.count})")
        yield np.clip(downscale(to_working(native, info)[0], shape), -4.0, 4.0).astype(np.float16)
    if index + 1 != stop:
        raise InputError(f"{info.path}: expected {info.count} frames, could read only {index + 1}")


# How the working-size correction is carried to full resolution (transfer.fit_correction's radius and
# regularisation): precise by default; smoother for black-and-white film, so that grain the consolidation
# evened out at the working size is not taken off the full frame (on colour footage the smoother fit lets
# local flicker through: E_warp 1.65x -> 1.48x the floor on a 640x360 W = 1 clip with the precise one).
PRECISE_TRANSFER = (2, 1e-3)
GRAIN_TRANSFER = (4, 2e-2)
WARM_UP = 32                  # frames run before a resumed start at the least (the refiner's recurrence)
NEUTRAL_CONSOLIDATION = 0.6   # black-and-white (archival film): keep more of the grain's own life
GATE_TREND = appearance.AdaptiveConfig(windows=2.5, significance=0.0)   # what the harm floors were set against
REPEATED_JUMPS = 2            # sudden changes of look in a shot that make it flicker, not a light switched on


def decide_look(shot: ShotSurvey, params: AnalysisParams, fps: float) -> Tuple[np.ndarray, Optional[np.ndarray], Dict]:
    """The shot's genuine change per frame and cell (log gains to keep), the do-no-harm gate and what was chosen
    (including the shot's consolidation strength and how its correction is carried to full resolution)."""
    beat = shot.beat
    beating = beat is not None
    # a beat (mains light against the shutter) is flicker, never a change to keep: taken out of what the trend
    # sees (and out of the frames pass two works on, `without_beat`)
    looks = shot.series - beat[:, None, None, :] if beating else shot.series
    kept, decided = appearance.genuine_change(looks, params.appearance, params.slow_changes * fps)
    hold = params.appearance == "hold"
    consolidation = min(params.consolidation, NEUTRAL_CONSOLIDATION) if shot.neutral else params.consolidation
    tolerance = TOLERANCE if shot.neutral else COLOUR_TOLERANCE
    transfer = GRAIN_TRANSFER if shot.neutral and not hold else PRECISE_TRANSFER
    decided = dict(decided, consolidation=consolidation, tolerance=tolerance, transfer=list(transfer),
                   neutral=shot.neutral, fast_gains=[w.fast for w in shot.windows], beat=beating)
    if not params.use_atlas or shot.count < 2 or hold:
        return kept, None, decided   # hold: the user says the look changes are artefacts, all of them go
    # a colour shot's gate weighs the flicker against the trend it was calibrated on (2.5 hold times, no
    # significance test): a flatter kept look must not make a clean clip's own atlas error look like flicker
    # (bmx clean: 30 -> 42 dB). Black-and-white shots are archival film, whose flicker is the reason to run
    # at all: measured that way its weaker regions were half left alone (dev film local flicker 0.13 -> 0.32),
    # so they weigh it against the kept look; a clean black-and-white clip still measures far below the floors.
    # A colour shot whose look jumps again and again is weighed both ways, the larger level counting: a clean
    # clip's atlas error never jumps, and the trend follows slow flicker's plateaus (W = 30, steps) until the
    # gate left most of it alone (dev goat W = 30 local: 38% of the correction applied).
    calibrated = params.appearance == "adaptive" and not shot.neutral
    fast = appearance.adaptive_trend(shot.series, GATE_TREND)[0] if calibrated else kept
    level = appearance.flicker_level(shot.series, fast)
    jumps = appearance.jump_count(shot.series)
    if calibrated and jumps >= REPEATED_JUMPS:
        level = np.maximum(level, appearance.flicker_level(shot.series, kept))
    quick = appearance.frame_to_frame_level(shot.series)
    # a beat is flicker however slowly it moves from frame to frame: a slow one (1 Hz at 25 fps) changes less
    # a frame than the quick floor and was left three-quarters alone
    gate = appearance.harm_gate(level, HARM_FLOOR, shot.shape, HARM_CLIP_FLOOR, quick, HARM_QUICK_FLOOR,
                                flickers=beating)
    untouched = 0.0 if gate is None else float(np.mean(gate <= 0.0))
    decided = dict(decided, flicker=float(np.median(level)), frame_to_frame=float(np.quantile(quick, 0.75)),
                   jumps=jumps, untouched=untouched)
    return kept, gate, decided


def without_beat(frames: Iterable[np.ndarray], beat: Optional[np.ndarray], first: int = 0) -> Iterator[np.ndarray]:
    """A shot's working frames from its frame `first` on, divided by its beat's gains ([T, 3] log, or None:
    as they are). The beat is known frame by frame, so pass two starts from frames without it: the filter,
    the consolidation and the gate's fallback then never see it (dev d04/mains 1.32x -> 1.19x the floor),
    and the transfer to full size carries the division, measured against the original frame."""
    if beat is None:
        yield from frames
        return
    for t, frame in enumerate(frames, first):
        yield (frame.astype(np.float32) * np.exp(-beat[t])).astype(frame.dtype)


def _doing(stage: str, info: ClipInfo, params: AnalysisParams) -> str:
    """What a job was doing, for an out-of-memory message."""
    h, w = working_shape(info.height, info.width, params.working_size)
    return f"{stage} {info.path or 'the clip'} ({info.width}x{info.height}, working size {w}x{h})"


def transfer_of(decisions: List[Dict], index: int) -> Tuple[int, float]:
    """The (radius, eps) the shot holding frame `index` was decided with (older analyses: the precise one)."""
    for d in decisions:
        if d.get("start", 0) <= index < d.get("stop", 0) and "transfer" in d:
            return int(d["transfer"][0]), float(d["transfer"][1])
    return PRECISE_TRANSFER


class Deflicker:
    """The deflicker engine. Create once (networks load here), then analyse and render many clips."""

    def __init__(self, device: str = "auto", weights_dir: Optional[str] = None):
        from .filtering.weights import load_filter, load_refiner  # torch models: load only when an engine is made

        self.device = resolve_device(device)
        folder = Path(weights_dir) if weights_dir else None
        self.filter = load_filter(self.device, folder / "filter.pt" if folder else None)
        self.refiner = load_refiner(self.device, folder / "refiner.pt" if folder else None)

    # --- analysis -------------------------------------------------------------------------------------

    def survey(self, source: FrameSource, params: AnalysisParams = AnalysisParams(),
               progress: ProgressFn = no_progress, cancel: Optional[CancelToken] = None,
               resume: Optional[SurveyCheckpoint] = None, checkpoint=None) -> List[ShotSurvey]:
        """Pass one: the clip's shots, each with its atlases and appearance series (compact). `checkpoint`
        receives a builder of its state after each window; `resume` carries on from one without fitting
        anything again."""
        params = resolve(validate(params))
        info = with_colorspace(source.info, params.colorspace)
        shape = working_shape(info.height, info.width, params.working_size)

        def on_survey(done: float) -> None:
            progress("survey", min(int(done), info.count), info.count)

        first = 0 if resume is None else resume.replay_from
        surveys = list(survey(_working_frames(source, info, shape, first), shape, params.window, params.overlap,
                              AtlasConfig(steps=params.atlas_steps), params.seed, params.cut_threshold,
                              self.device, on_survey, cancel, fit=params.use_atlas, resume=resume,
                              checkpoint=checkpoint))
        progress("survey", info.count, info.count)
        return surveys

    def finalise(self, source: FrameSource, params: AnalysisParams, surveys: List[ShotSurvey], start: int = 0,
                 progress: ProgressFn = no_progress, cancel: Optional[CancelToken] = None,
                 decisions: Optional[List[Dict]] = None, chunk: Optional[int] = None,
                 observe: Optional[Observer] = None) -> Iterator[Tuple[int, Array]]:
        """Pass two: (frame index, working-size target) for frames [start, end), in order. `observe(stage,
        frame index, image)` sees pass two's stages (ShotFinaliser), for diagnostics.

        Starting inside a shot (a resumed analysis) runs the recurrences over the frames before `start` that
        still weigh in them (`consolidate.reach`, at least WARM_UP) first, so the targets match an
        uninterrupted run to within a few thousandths.
        """
        params = resolve(validate(params))
        info = with_colorspace(source.info, params.colorspace)
        shape = working_shape(info.height, info.width, params.working_size)
        fps = info.fps or float(DEFAULT_RATE)
        finalised = start
        for shot in surveys:
            kept, gate, decided = decide_look(shot, params, fps)
            if decisions is not None:   # every shot's, also those a resumed analysis has done already
                decisions.append(dict(decided, start=shot.start, stop=shot.stop,
                                      windows=[[shot.start + w.start, shot.start + w.stop] for w in shot.windows]))
            if shot.stop <= start:
                continue

            def look(t: int, shot: ShotSurvey = shot, kept: np.ndarray = kept) -> Optional[np.ndarray]:
                if not params.use_atlas:
                    return None
                return shot.atlas_frame(t) * appearance.gain_field(kept[t], shape)

            first = max(shot.start, start - max(WARM_UP, reach(decided["consolidation"])))

            def on_frame(t: int) -> None:
                check_cancel(cancel)

            extra = {} if chunk is None else {"chunk": chunk}
            offset = first - shot.start
            if observe is not None:
                extra["observe"] = lambda stage, t, image, first=first: observe(stage, first + t, image)
            finaliser = ShotFinaliser(lambda t, offset=offset, look=look: look(t + offset), gate,
                                      shot.neutral, self.filter, self.refiner if params.refine else None,
                                      decided["consolidation"], self.device, on_frame,
                                      tolerance=decided["tolerance"], **extra)
            frames = without_beat(_working_frames(source, info, shape, first, shot.stop), shot.beat,
                                  first - shot.start)
            for t, target in finaliser.run(frames):
                index = first + t
                if index < start:
                    continue            # warming the recurrences up
                check_cancel(cancel)
                finalised += 1
                progress("finalise", finalised, info.count)
                yield index, target

    def targets(self, source: FrameSource, params: AnalysisParams = AnalysisParams(),
                progress: ProgressFn = no_progress, cancel: Optional[CancelToken] = None,
                seconds: Optional[Dict[str, float]] = None, decisions: Optional[List[Dict]] = None,
                shots: Optional[List[Tuple[int, int]]] = None, chunk: Optional[int] = None,
                observe: Optional[Observer] = None) -> Iterator[Tuple[int, Array]]:
        """The streamed analysis, both passes: (frame index, working-size target) for every frame, in order.

        `seconds`, `decisions` and `shots`, when given, are filled as the passes go; `chunk` (frames
        finalised at a time) is for tests that compare against the whole shot at once.
        """
        seconds = {} if seconds is None else seconds
        with out_of_memory_as_error(self.device, _doing("analysing", source.info, params)):
            with _timed(seconds, "survey"):
                surveys = self.survey(source, params, progress, cancel)
            if shots is not None:
                shots[:] = [(s.start, s.stop) for s in surveys]
            started = time.perf_counter()
            for index, target in self.finalise(source, params, surveys, 0, progress, cancel, decisions, chunk,
                                               observe):
                seconds["finalise"] = seconds.get("finalise", 0.0) + time.perf_counter() - started
                yield index, target
                started = time.perf_counter()

    def analyse(self, source: FrameSource, params: AnalysisParams = AnalysisParams(),
                progress: ProgressFn = no_progress, cancel: Optional[CancelToken] = None,
                folder: "str | os.PathLike[str] | None" = None) -> ClipAnalysis:
        """Every frame's target, kept for rendering any range later (the server's cached analysis).

        With `folder`, the targets go to disk chunk by chunk (memory stays flat whatever the length) and an
        interrupted analysis in that folder resumes: pass one keeps its state there as it goes
        (`survey-partial.npz`, after a window is fitted, at most every CHECKPOINT_SECONDS) and resumes from
        it without fitting those windows again; its result is kept as `survey.npz`, and pass two picks up at
        the first chunk not on disk.
        """
        params = resolve(validate(params))
        info = source.info
        shape = working_shape(info.height, info.width, params.working_size)
        seconds: Dict[str, float] = {}
        decisions: List[Dict] = []
        store = MemoryTargets(info.count, shape) if folder is None else DiskTargets(folder, info.count, shape)
        start = store.done_until()
        saved = None if folder is None else Path(folder) / SURVEY_FILE
        with out_of_memory_as_error(self.device, _doing("analysing", info, params)):
            with _timed(seconds, "survey"):
                if saved is not None and saved.is_file():
                    surveys = load_surveys(saved, self.device)
                elif saved is None:
                    surveys = self.survey(source, params, progress, cancel)
                else:
                    checkpoints = _Checkpoints(Path(folder) / CHECKPOINT_FILE, _identity(info, params),
                                               CHECKPOINT_SECONDS)
                    surveys = self.survey(source, params, progress, cancel, checkpoints.load(self.device),
                                          checkpoints)
                    save_surveys(saved, surveys)
                    checkpoints.path.unlink(missing_ok=True)
            started = time.perf_counter()
            for index, target in self.finalise(source, params, surveys, start, progress, cancel, decisions):
                store.put(index, ops.to_numpy(target))
            seconds["finalise"] = time.perf_counter() - started
        analysis = ClipAnalysis(info.count, info.height, info.width, [(s.start, s.stop) for s in surveys], store,
                                as_dict(params), seconds, decisions)
        if folder is not None:
            write_meta(Path(folder), dict(analysis.meta(), complete=True, shape=list(shape), chunk=store.chunk))
        return analysis

    # --- rendering ------------------------------------------------------------------------------------

    def render(self, source: FrameSource, analysis: ClipAnalysis, params: RenderParams = RenderParams(),
               start: int = 0, stop: Optional[int] = None, progress: ProgressFn = no_progress,
               cancel: Optional[CancelToken] = None) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield (index, native frame) for [start, stop): full resolution, native dtype, alpha untouched."""
        validate(params)
        info = with_colorspace(source.info, analysis.params.get("colorspace", ""))
        if (info.count, info.height, info.width) != (analysis.count, analysis.height, analysis.width):
            raise InputError(f"{info.path} does not match its analysis ({info.count} frames of "
                             f"{info.width}x{info.height} vs {analysis.count} of {analysis.width}x{analysis.height})")
        stop = info.count if stop is None else stop
        if not 0 <= start < stop <= info.count:
            raise InputError(f"frame range [{start}, {stop}) is outside the clip's 0..{info.count - 1}")
        with out_of_memory_as_error(self.device, f"rendering {info.path or 'the clip'} ({info.width}x{info.height})"):
            for offset, native in enumerate(source.frames(start, stop)):
                check_cancel(cancel)
                index = start + offset
                yield index, correct_frame(native, analysis.target(index), info, params.strength,
                                           transfer_of(analysis.decisions, index))
                progress("render", offset + 1, stop - start)

    # --- whole jobs -----------------------------------------------------------------------------------

    def process(self, input_path: "str | FrameSource", output_path: str, analysis_params: AnalysisParams = AnalysisParams(),
                render_params: RenderParams = RenderParams(), progress: ProgressFn = no_progress,
                cancel: Optional[CancelToken] = None, keep_targets: bool = False) -> ClipAnalysis:
        """Deflicker a file, folder or pattern into another, atomically: a failure leaves no output.

        Each frame is rendered as soon as its target exists, so nothing of the clip is kept; the returned
        ClipAnalysis carries the shots, timings and decisions, and the targets only with `keep_targets`.
        """
        validate(render_params)
        check_output_path(input_path, output_path)
        seconds: Dict[str, float] = {}
        decisions: List[Dict] = []
        shots: List[Tuple[int, int]] = []
        with open_source(input_path, colorspace=analysis_params.colorspace) as source:
            info = source.info
            shape = working_shape(info.height, info.width, analysis_params.working_size)
            kept = MemoryTargets(info.count if keep_targets else 0, shape)
            with open_sink(output_path, info) as sink, _render_reader(source) as reader:
                natives = reader.frames()
                rendered = 0.0

                def survey_only(stage: str, done: int, total: int) -> None:
                    if stage != "finalise":   # each frame is finalised and rendered at once: one bar, "render"
                        progress(stage, done, total)

                with out_of_memory_as_error(self.device, _doing("rendering", info, analysis_params)):
                    for index, target in self.targets(source, analysis_params, survey_only, cancel, seconds,
                                                      decisions, shots):
                        started = time.perf_counter()
                        sink.write(correct_frame(next(natives), target, info, render_params.strength,
                                                 transfer_of(decisions, index)))
                        rendered += time.perf_counter() - started
                        if keep_targets:
                            kept.put(index, ops.to_numpy(target))
                        progress("render", index + 1, info.count)
            seconds["render"] = rendered
        return ClipAnalysis(info.count, info.height, info.width, shots, kept, as_dict(analysis_params), seconds,
                            decisions)

    def deflicker_frames(self, frames: Iterable[np.ndarray], analysis_params: AnalysisParams = AnalysisParams(),
                         render_params: RenderParams = RenderParams(), progress: ProgressFn = no_progress,
                         cancel: Optional[CancelToken] = None, decisions: Optional[List[Dict]] = None,
                         observe: Optional[Observer] = None, rate: Optional[str] = None) -> Iterator[np.ndarray]:
        """Iterator of arrays in, deflickered arrays out, in order; frames wait on disk, not in RAM.
        `decisions`, when given, receives each shot's (its span, atlas windows and what was chosen);
        `observe`, pass two's stages (see finalise); `rate` ("num/den") the frames' rate, which the analysis's
        time constants are in (default DEFAULT_RATE)."""
        validate(render_params)
        decisions = [] if decisions is None else decisions
        with spool_frames(frames, rate=rate) as source:
            info = with_colorspace(source.info, analysis_params.colorspace)
            for index, target in self.targets(source, analysis_params, progress, cancel, decisions=decisions,
                                              observe=observe):
                yield correct_frame(source.read(index), target, info, render_params.strength,
                                    transfer_of(decisions, index))


def correct_frame(native: np.ndarray, target: Array, info: ClipInfo, strength: float,
                  transfer: Tuple[int, float] = PRECISE_TRANSFER) -> np.ndarray:
    """One full-resolution frame corrected towards its working-size target (see transfer.py), on the device
    the target lives on; `transfer` is fit_correction's (radius, eps)."""
    rgb, alpha = to_working(native, info)
    if ops.is_torch(target):
        rgb = ops.as_device(rgb, target.device)
    else:
        target = target.astype(np.float32)
    small = ops.clip(downscale(rgb, target.shape[:2]), -4.0, 4.0)
    a, b = fit_correction(small, target, *transfer)
    return from_working(ops.to_numpy(apply_correction(rgb, a, b, strength)), alpha, info)


@contextmanager
def _render_reader(source: FrameSource):
    """A second reader for rendering while the analysis reads ahead: a video gets its own decoder (two
    interleaved readers of one decoder would seek at every frame); frame files are read again as they are."""
    if source.info.kind == "video" and source.info.path:
        with open_source(source.info.path) as again:
            yield again
    else:
        yield source

"""Pass one over a clip: its shots, and per shot the atlas windows and the whole-shot appearance series.

Frames arrive one at a time at the working size. Cuts are settled on the fly (`CutDetector`); each atlas
window is fitted as soon as its frames are in, brought to the previous window's look through their overlap,
and the frames no later window can cover are measured against the blended atlas (`appearance.measure`).
Only about two windows of frames and flows are held at any time, so memory does not grow with the shot;
what a shot keeps is compact: each window's atlas (a texture and a few numbers a frame) and a few kilobytes
of log gains a frame. Pass two (`filtering.finalise`) reads the clip again with all of it known.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch

from ..progress import CancelToken, check_cancel
from . import appearance
from .atlas import Atlas, AtlasConfig, fit_atlas
from .flow import make_flow_engine, normalised_gray, pair_flows, resize_flow, warp
from .shots import CutDetector

ATLAS_SCALE = 0.5     # the atlas is fitted at half the working resolution: appearance is low-frequency
NEUTRAL_TOLERANCE = 1e-4
# A window whose frame-to-frame appearance steps, tracked along the flow, reach this level (log; the median
# cell's RMS) has fast flicker, and its atlas fit models fast per-frame gains (AtlasConfig.appearance_cells)
# so that the flicker is not averaged into the texture. Below it the gains stay off: on a clean camera clip
# they take up the picture's own fast changes and move it (dev bmx clean 41.2 -> 38.9 dB). Dev levels:
# clean 0.001-0.022, drift and W = 30 0.011-0.039, W = 10 0.037-0.079, W = 3 0.09-0.14, W = 1 0.16-0.27.
FAST_STEP = 0.05


@dataclass
class WindowAtlas:
    """One atlas window of a shot: frames [start, stop) (shot-relative) and the log gain (per cell) that
    takes its look to the shot's reference look (the first window's)."""

    start: int
    stop: int
    atlas: Atlas
    offset: np.ndarray
    fast: bool = False        # fitted with fast per-frame gains (FAST_STEP)


@dataclass
class ShotSurvey:
    """What pass one learnt about a shot: enough to render any of its atlas frames and to decide its look."""

    start: int                       # clip frames [start, stop)
    stop: int
    shape: Tuple[int, int]           # working (h, w)
    grid: Tuple[int, int]
    windows: List[WindowAtlas]
    series: np.ndarray               # [T, rows, cols, 3] log gain of each frame against the normalised atlas
    neutral: bool                    # every frame black-and-white (R = G = B)

    @property
    def count(self) -> int:
        return self.stop - self.start

    @cached_property
    def beat(self) -> Optional[np.ndarray]:
        """[T, 3] log gains of the shot's periodic flicker (mains light), or None where it does not beat:
        decided once, for the look (pipeline.decide_look) and the frames pass two works on alike."""
        return appearance.periodic_flicker(self.series)

    def atlas_frame(self, t: int) -> np.ndarray:
        """The normalised, cross-faded atlas frame of shot frame t, float32 [h, w, 3]."""
        return blended_atlas_frame(self.windows, t, self.shape)

    def to_arrays(self, prefix: str) -> Dict[str, np.ndarray]:
        """Plain arrays (for an .npz beside cached targets, so a restarted server need not survey again)."""
        out = {f"{prefix}meta": np.array([self.start, self.stop, *self.shape, *self.grid, int(self.neutral),
                                          len(self.windows)], np.int64),
               f"{prefix}series": self.series}
        for k, win in enumerate(self.windows):
            out[f"{prefix}w{k}_range"] = np.array([win.start, win.stop, *win.atlas.size], np.int64)
            out[f"{prefix}w{k}_texture"] = win.atlas.texture.cpu().numpy()
            out[f"{prefix}w{k}_to_canvas"] = win.atlas.to_canvas.cpu().numpy()
            out[f"{prefix}w{k}_residual"] = win.atlas.residual.cpu().numpy()
            out[f"{prefix}w{k}_offset"] = win.offset
            out[f"{prefix}w{k}_fast"] = np.array(win.fast)
        return out

    @classmethod
    def from_arrays(cls, data, prefix: str, device: torch.device) -> "ShotSurvey":
        start, stop, h, w, gh, gw, neutral, count = (int(v) for v in data[f"{prefix}meta"])
        windows = []
        for k in range(count):
            a, b, ah, aw = (int(v) for v in data[f"{prefix}w{k}_range"])
            atlas = Atlas(torch.from_numpy(data[f"{prefix}w{k}_texture"]).to(device),
                          torch.from_numpy(data[f"{prefix}w{k}_to_canvas"]).to(device),
                          torch.from_numpy(data[f"{prefix}w{k}_residual"]).to(device), (ah, aw))
            fast = f"{prefix}w{k}_fast" in data and bool(data[f"{prefix}w{k}_fast"])   # (older surveys: none)
            windows.append(WindowAtlas(a, b, atlas, np.asarray(data[f"{prefix}w{k}_offset"], np.float32), fast))
        return cls(start, stop, (h, w), (gh, gw), windows, np.asarray(data[f"{prefix}series"], np.float32),
                   bool(neutral))


def save_surveys(path, surveys: List[ShotSurvey]) -> None:
    """All of a clip's shot surveys in one .npz, written atomically."""
    from ..io import atomic_file

    arrays = {"count": np.array([len(surveys)], np.int64)}
    for k, shot in enumerate(surveys):
        arrays.update(shot.to_arrays(f"s{k}_"))
    with atomic_file(path) as handle:
        np.savez(handle, **arrays)


def load_surveys(path, device: torch.device) -> List[ShotSurvey]:
    with np.load(path, allow_pickle=False) as data:
        return [ShotSurvey.from_arrays(data, f"s{k}_", device) for k in range(int(data["count"][0]))]


@dataclass
class SurveyCheckpoint:
    """Pass one stopped inside a shot, after one of its windows was fitted: what carries it on from there
    without fitting any window again. `identity` says which clip and parameters it belongs to."""

    shots: List[ShotSurvey]          # the shots finished before
    current: ShotSurvey              # the shot in progress: its windows so far, the series of its settled frames
    pushed: int                      # frames of the current shot its surveyor had been given
    scores: np.ndarray               # the cut detector's scores of clip frames [0, current.start + pushed)
    last_cut: int
    identity: str = ""

    @property
    def replay_from(self) -> int:
        """The clip frame pass one reads again from: the first of the current shot's last window."""
        return self.current.start + self.current.windows[-1].start

    def save(self, path) -> None:
        from ..io import atomic_file

        arrays = {"count": np.array([len(self.shots)], np.int64), "scores": self.scores,
                  "state": np.array([self.pushed, self.last_cut], np.int64), "identity": np.array(self.identity)}
        for k, shot in enumerate(self.shots):
            arrays.update(shot.to_arrays(f"s{k}_"))
        arrays.update(self.current.to_arrays("current_"))
        with atomic_file(path) as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path, device: torch.device) -> "SurveyCheckpoint":
        with np.load(path, allow_pickle=False) as data:
            pushed, last_cut = (int(v) for v in data["state"])
            current = ShotSurvey.from_arrays(data, "current_", device)
            if not current.windows or len(data["scores"]) != current.start + pushed:
                raise ValueError(f"{path}: not a checkpoint this engine wrote")
            return cls([ShotSurvey.from_arrays(data, f"s{k}_", device) for k in range(int(data["count"][0]))],
                       current, pushed, np.asarray(data["scores"], np.float32), last_cut, str(data["identity"]))


def crossfade(windows: List[WindowAtlas], t: int) -> List[Tuple[WindowAtlas, float]]:
    """The windows covering frame t with their weights: linear fades across each overlap, summing to 1."""
    covering = []
    for k, win in enumerate(windows):
        if not win.start <= t < win.stop:
            continue
        weight = 1.0
        if k > 0 and windows[k - 1].stop > win.start:                     # fading in
            n = windows[k - 1].stop - win.start
            weight = min(weight, (t - win.start + 1) / (n + 1))
        if k + 1 < len(windows) and windows[k + 1].start < win.stop:      # fading out
            n = win.stop - windows[k + 1].start
            weight = min(weight, (win.stop - t) / (n + 1))
        covering.append((win, weight))
    total = sum(w for _, w in covering) or 1.0
    return [(win, w / total) for win, w in covering]


def blended_atlas_frame(windows: List[WindowAtlas], t: int, shape: Tuple[int, int]) -> np.ndarray:
    out = np.zeros((*shape, 3), np.float32)
    for win, weight in crossfade(windows, t):
        frame = win.atlas.render(shape, [t - win.start])[0]
        out += weight * frame * appearance.gain_field(win.offset, shape)
    return out


def is_neutral(frame: np.ndarray) -> bool:
    f = frame.astype(np.float32, copy=False)
    return bool(np.abs(f[..., 0] - f[..., 1]).max() <= NEUTRAL_TOLERANCE
                and np.abs(f[..., 1] - f[..., 2]).max() <= NEUTRAL_TOLERANCE)


class ShotSurveyor:
    """Surveys one shot as its frames arrive (`push`), then `finish()` returns its ShotSurvey."""

    def __init__(self, start: int, shape: Tuple[int, int], window: int, overlap: int, config: AtlasConfig,
                 seed: int, device: torch.device, on_progress: Callable[[float], None],
                 cancel: Optional[CancelToken], fit: bool = True) -> None:
        self.start, self.shape, self.window, self.overlap = start, shape, window, overlap
        self.step = max(1, window - overlap)
        self.config, self.seed, self.device = config, seed, device
        self.on_progress, self.cancel = on_progress, cancel  # on_progress(frames of the shot with their atlas)
        self.fit = fit                                       # False: no atlas, only the shot's extent
        self.grid = appearance.grid_shape(*shape)
        self.small = (max(8, int(shape[0] * ATLAS_SCALE)), max(8, int(shape[1] * ATLAS_SCALE)))
        self.frames: Dict[int, np.ndarray] = {}
        self.gray: Dict[int, np.ndarray] = {}
        self.flows: Dict[int, tuple] = {}           # t -> flows between t and t+1, at the atlas size
        self.steps: Dict[int, np.ndarray] = {}      # t -> log gain of frame t against frame t-1 along the flow
        self.windows: List[WindowAtlas] = []
        self.series: List[np.ndarray] = []
        self.settled = 0                             # frames [0, settled) are measured
        self.count = 0
        self.neutral = True
        self.on_window: Optional[Callable[[], None]] = None   # after each window is fitted (checkpoints)
        self._flow_engine = make_flow_engine()

    def snapshot(self) -> ShotSurvey:
        """The shot so far: its windows and the series of its settled frames (for a checkpoint)."""
        return ShotSurvey(self.start, self.start + self.settled, self.shape, self.grid, list(self.windows),
                          np.stack(self.series) if self.series else np.zeros((0, *self.grid, 3), np.float32),
                          self.neutral)

    def restore(self, shot: ShotSurvey) -> int:
        """Take up a checkpoint's shot: its windows stay fitted; the frames from the start of its last window
        on must be pushed again (returned: that frame, shot-relative), which fits nothing until they are in."""
        self.windows, self.series = list(shot.windows), list(shot.series)
        self.settled, self.neutral = shot.count, shot.neutral
        self.count = self.windows[-1].start
        return self.count

    def push(self, frame: np.ndarray) -> None:
        t = self.count
        self.neutral = self.neutral and is_neutral(frame)
        if not self.fit:
            self.count += 1
            self.series.append(np.zeros((*self.grid, 3), np.float32))
            self.on_progress(self.count)
            return
        self.frames[t] = frame
        self.gray[t] = normalised_gray(frame.astype(np.float32))
        if t - 1 in self.gray:            # (not for the first frame a restored surveyor is given again)
            fwd, bwd, mf, mb = pair_flows(self.gray[t - 1], self.gray[t], self._flow_engine)
            if self.config.appearance_cells:   # only a fit that may model fast gains needs the steps
                before = warp(self.frames[t - 1].astype(np.float32), bwd)
                self.steps[t] = appearance.measure(frame.astype(np.float32), before, self.grid)
            self.flows[t - 1] = (resize_flow(fwd, self.small).astype(np.float16),
                                 resize_flow(bwd, self.small).astype(np.float16),
                                 _shrink(mf, self.small).astype(np.float16), _shrink(mb, self.small).astype(np.float16))
            del self.gray[t - 1]
        self.count += 1
        next_start = len(self.windows) * self.step
        if self.count == next_start + self.window + 1:   # one frame more: the window is not the shot's last
            self._fit(next_start, next_start + self.window)
            if self.on_window is not None:
                self.on_window()

    def finish(self) -> ShotSurvey:
        if self.count and self.fit:
            last = self.windows[-1].stop if self.windows else 0
            if last < self.count:
                self._fit(max(0, self.count - self.window), self.count)
            self._settle(self.count)
        return ShotSurvey(self.start, self.start + self.count, self.shape, self.grid, self.windows,
                          np.stack(self.series) if self.series else np.zeros((0, *self.grid, 3), np.float32),
                          self.neutral)

    def _fit(self, a: int, b: int) -> None:
        check_cancel(self.cancel)
        frames = np.stack([_resize(self.frames[t], self.small) for t in range(a, b)]).clip(0, 1)
        if b - a > 1:
            pairs = [self.flows[t] for t in range(a, b - 1)]
            fwd, bwd, mf, mb = (np.stack([p[i] for p in pairs]).astype(np.float32) for i in range(4))
        else:
            fwd, bwd, mf, mb = _empty_flows(self.small)
        done = self.windows[-1].stop if self.windows else 0

        def on_atlas_step(stage: str, step: int, steps: int) -> None:
            self.on_progress(done + (b - done) * step / max(steps, 1))

        steps = [self.steps[t] for t in range(a + 1, b) if t in self.steps]
        fast = bool(steps) and appearance.step_level(np.stack(steps)) >= FAST_STEP
        config = self.config if fast else replace(self.config, appearance_cells=0)
        atlas = fit_atlas(frames, fwd, bwd, mf, mb, config, seed=self.seed + self.start + a,
                          progress=on_atlas_step, cancel=self.cancel, device=self.device)
        offset = np.zeros((*self.grid, 3), np.float32)
        if self.windows:
            previous = self.windows[-1]
            shared = list(range(a, min(previous.stop, b)))
            if shared:
                prev = previous.atlas.render(self.shape, [t - previous.start for t in shared])
                prev *= appearance.gain_field(previous.offset, self.shape)[None]
                cur = atlas.render(self.shape, [t - a for t in shared])
                offset = appearance.window_offset(prev, cur, self.grid)
        self.windows.append(WindowAtlas(a, b, atlas, offset, fast))
        if len(self.windows) >= 2:
            # no later window starts before this one: frames before it are covered for good
            self._settle(a)

    def _settle(self, until: int) -> None:
        for t in range(self.settled, until):
            atlas_frame = blended_atlas_frame(self.windows, t, self.shape)
            self.series.append(appearance.measure(self.frames[t], atlas_frame, self.grid))
        self.settled = max(self.settled, until)
        keep_from = self.windows[-1].start if self.windows else 0
        for t in [t for t in self.frames if t < min(keep_from, self.settled)]:
            del self.frames[t]
        for t in [t for t in self.flows if t < keep_from]:
            del self.flows[t]
        for t in [t for t in self.steps if t <= keep_from]:
            del self.steps[t]


def _resize(frame: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(frame.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _shrink(mask: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    return _resize(mask.astype(np.float32), shape)


def _empty_flows(shape: Tuple[int, int]) -> tuple:
    h, w = shape
    return (np.zeros((0, h, w, 2), np.float32), np.zeros((0, h, w, 2), np.float32),
            np.zeros((0, h, w), np.float32), np.zeros((0, h, w), np.float32))


def survey(frames: Iterable[np.ndarray], shape: Tuple[int, int], window: int, overlap: int,
           config: AtlasConfig, seed: int, cut_sensitivity: float, device: torch.device,
           progress: Callable[[float], None], cancel: Optional[CancelToken],
           fit: bool = True, resume: Optional[SurveyCheckpoint] = None,
           checkpoint: Optional[Callable[[Callable[[], SurveyCheckpoint]], None]] = None) -> Iterator[ShotSurvey]:
    """Working-size frames in clip order -> one ShotSurvey per shot, each as soon as its shot has ended.

    `progress(frames_done)` counts frames whose atlas is fitted, with fractions while a window fits.
    `checkpoint(build)` is called after every window fitted, `build()` making the state then (only a save
    that is due pays for stacking the shot's series); `resume` carries on from such a state, and then
    `frames` must start at its `replay_from` frame.
    """
    detector = CutDetector(cut_sensitivity)
    waiting: List[np.ndarray] = []
    current: List[ShotSurveyor] = []
    finished: List[ShotSurvey] = []

    def surveyor(t: int) -> ShotSurveyor:
        shot = ShotSurveyor(t, shape, window, overlap, config, seed, device,
                            lambda done, start=t: progress(start + done), cancel, fit)
        if checkpoint is not None:
            shot.on_window = lambda: checkpoint(lambda: SurveyCheckpoint(
                list(finished), shot.snapshot(), shot.count, detector.scores_until(shot.start + shot.count),
                detector.last_cut))
        return shot

    def settle(decisions: List[Tuple[int, bool]]) -> Iterator[ShotSurvey]:
        for t, cut in decisions:
            if not current or cut:
                if current:
                    finished.append(current.pop().finish())
                    yield finished[-1]
                current.append(surveyor(t))
            current[0].push(waiting.pop(0))

    frames = iter(frames)
    if resume is not None:
        finished += resume.shots
        yield from resume.shots
        current.append(surveyor(resume.current.start))
        shot_frame = current[0].restore(resume.current)
        previous = None
        for _ in range(shot_frame, resume.pushed):       # the frames the last window's successor needs again
            check_cancel(cancel)
            previous = next(frames, None)
            if previous is None:
                raise ValueError("the clip ended before the frames its pass-one checkpoint had seen")
            current[0].push(previous)
        detector.resume(resume.scores, resume.last_cut, previous)
    for frame in frames:
        check_cancel(cancel)
        waiting.append(frame)
        yield from settle(detector.push(frame))
    yield from settle(detector.finish())
    if current:
        yield current.pop().finish()

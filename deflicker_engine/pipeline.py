"""The engine: frames in, analysis at working resolution, corrected frames out at full resolution.

`Deflicker` holds the networks (loaded once) and runs jobs; a `ClipAnalysis` holds everything a clip
needs for rendering (the deflickered frames at working resolution), so rendering any frame range or
another strength never repeats the analysis. The CLI, the server and the benchmarks all call this.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch

from .analysis.atlas import AtlasConfig, fit_atlas, follow_slow_changes
from .analysis.flow import resize_flow, shot_flows, warp
from .analysis.shots import detect_shots
from .analysis.windows import blend_weights, shot_windows
from .config import AnalysisParams, RenderParams, as_dict, validate
from .device import resolve_device
from .errors import InputError
from .filtering.anchor import anchor_to_atlas
from .filtering.consolidate import consolidate
from .io import (DEFAULT_RATE, FrameSource, atomic_file, check_output_path, from_working, open_sink, open_source, spool_frames,
                 to_working)
from .progress import CancelToken, ProgressFn, check_cancel, no_progress
from .transfer import apply_correction, downscale, fit_correction, working_shape

ATLAS_SCALE = 0.5        # the atlas is fitted at half the working resolution: appearance is low-frequency
NETWORK_BATCH = 4


@dataclass
class ClipAnalysis:
    """What rendering needs: the deflickered clip at working resolution, plus how it was made."""

    count: int
    height: int
    width: int
    shots: List[Tuple[int, int]]
    targets: np.ndarray                      # [N, h, w, 3] float16, working encoding
    params: Dict = field(default_factory=dict)
    stage_seconds: Dict[str, float] = field(default_factory=dict)

    VERSION = 1

    @property
    def nbytes(self) -> int:
        return int(self.targets.nbytes)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as .npz (no pickle: a cache file can never execute code)."""
        path = Path(path)
        meta = {"version": self.VERSION, "count": self.count, "height": self.height, "width": self.width,
                "shots": self.shots, "params": self.params, "stage_seconds": self.stage_seconds}
        with atomic_file(path) as handle:
            np.savez(handle, targets=self.targets, meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ClipAnalysis":
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                targets = data["targets"]
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"cannot read analysis file {path}: {error}") from error
        if meta.get("version") != cls.VERSION or targets.ndim != 4 or targets.shape[0] != meta["count"]:
            raise InputError(f"analysis file {path} is from another version or damaged; analyse again")
        return cls(meta["count"], meta["height"], meta["width"], [tuple(s) for s in meta["shots"]], targets,
                   meta["params"], meta["stage_seconds"])


@contextmanager
def _timed(seconds: Dict[str, float], stage: str):
    start = time.perf_counter()
    yield
    seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def _to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return (x.permute(0, 3, 1, 2) if x.ndim == 4 else x[:, None]).to(device)


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).float().cpu().numpy()


class Deflicker:
    """The deflicker engine. Create once (networks load here), then analyse and render many clips."""

    def __init__(self, device: str = "auto", weights_dir: Optional[str] = None):
        from .filtering.weights import load_filter, load_refiner  # torch models: load only when an engine is made

        self.device = resolve_device(device)
        folder = Path(weights_dir) if weights_dir else None
        self.filter = load_filter(self.device, folder / "filter.pt" if folder else None)
        self.refiner = load_refiner(self.device, folder / "refiner.pt" if folder else None)

    # --- analysis -------------------------------------------------------------------------------------

    def analyse(self, source: FrameSource, params: AnalysisParams = AnalysisParams(),
                progress: ProgressFn = no_progress, cancel: Optional[CancelToken] = None) -> ClipAnalysis:
        """Shots, flow, atlas, filter and refinement at working resolution."""
        validate(params)
        info = source.info
        shape = working_shape(info.height, info.width, params.working_size)
        seconds: Dict[str, float] = {}

        with _timed(seconds, "read"):
            frames = np.empty((info.count, *shape, 3), np.float16)
            i = -1
            for i, native in enumerate(source.frames()):
                check_cancel(cancel)
                if i >= info.count:
                    raise InputError(f"{info.path}: more frames than announced ({info.count})")
                frames[i] = np.clip(downscale(to_working(native, info)[0], shape), -4.0, 4.0)
                progress("read", i + 1, info.count)
            if i + 1 != info.count:
                raise InputError(f"{info.path}: expected {info.count} frames, could read only {i + 1}")

        with _timed(seconds, "shots"):
            shots = detect_shots(frames, params.cut_threshold)

        targets = np.empty_like(frames)
        done = {"flow": 0, "atlas": 0, "filter": 0, "refine": 0}
        slow_sigma = params.slow_changes * (info.fps or float(DEFAULT_RATE))  # seconds -> frames
        atlas_steps = params.atlas_steps * sum(len(shot_windows(a, b, params.window, params.overlap)) for a, b in shots)
        for start, stop in shots:
            shot = frames[start:stop]  # float16 view: stages convert what they need, a frame at a time
            with _timed(seconds, "flow"):
                def on_pair(t: int, base: int = done["flow"]) -> None:
                    check_cancel(cancel)
                    progress("flow", base + t + 1, info.count)
                flows = shot_flows(shot, on_pair)
                done["flow"] += stop - start
            with _timed(seconds, "atlas"):
                atlas_frames = self._atlas_frames(shot, flows, params, slow_sigma, progress, cancel, done, atlas_steps)
            with _timed(seconds, "filter"):
                filtered = self._filter(shot, atlas_frames, progress, cancel, done, info.count)
            with _timed(seconds, "refine"):
                refined = self._refine(filtered, flows, params, progress, cancel, done, info.count)
                del filtered
                consolidate(refined, flows, params.consolidation, out=targets[start:stop],
                            on_frame=lambda t: check_cancel(cancel))
        return ClipAnalysis(info.count, info.height, info.width, shots, targets, as_dict(params), seconds)

    def _atlas_frames(self, shot: np.ndarray, flows, params: AnalysisParams, slow_sigma: float, progress,
                      cancel, done, total) -> Optional[np.ndarray]:
        if not params.use_atlas:
            return None
        count, h, w = shot.shape[:3]
        small = (max(8, int(h * ATLAS_SCALE)), max(8, int(w * ATLAS_SCALE)))
        shot_small = np.stack([downscale(f, small) for f in shot]).clip(0, 1)
        fwd, bwd, mask_f, mask_b = flows
        fwd_s = np.stack([resize_flow(f, small) for f in fwd]) if len(fwd) else fwd
        bwd_s = np.stack([resize_flow(f, small) for f in bwd]) if len(bwd) else bwd
        mf_s = np.stack([downscale(m, small) for m in mask_f]) if len(mask_f) else mask_f
        mb_s = np.stack([downscale(m, small) for m in mask_b]) if len(mask_b) else mask_b
        windows = shot_windows(0, count, params.window, params.overlap)
        weights = blend_weights(windows, 0, count)
        out = np.zeros((count, h, w, 3), np.float32)
        config = AtlasConfig(steps=params.atlas_steps)
        for k, (a, b) in enumerate(windows):
            check_cancel(cancel)
            def on_step(stage: str, step: int, steps: int, base: int = done["atlas"]) -> None:
                progress("atlas", base + step, total)

            atlas = fit_atlas(shot_small[a:b], fwd_s[a:b - 1], bwd_s[a:b - 1], mf_s[a:b - 1], mb_s[a:b - 1],
                              config, seed=params.seed + a, progress=on_step, cancel=cancel)
            out[a:b] += weights[k, a:b, None, None, None] * atlas.render((h, w))
            done["atlas"] += config.steps
        return follow_slow_changes(out, shot, slow_sigma, in_place=True)

    @torch.no_grad()
    def _filter(self, shot: np.ndarray, atlas_frames: Optional[np.ndarray], progress, cancel, done,
                total) -> np.ndarray:
        """Filtered float32 frames; they replace the atlas frames in their buffer (each is read once, first)."""
        if atlas_frames is None:
            done["filter"] += len(shot)
            return shot.astype(np.float32)
        out = atlas_frames
        for s in range(0, len(shot), NETWORK_BATCH):
            check_cancel(cancel)
            batch = shot[s:s + NETWORK_BATCH].astype(np.float32)
            frame = _to_tensor(batch.clip(0, 1), self.device)
            atlas = _to_tensor(atlas_frames[s:s + NETWORK_BATCH], self.device)
            filtered = _to_numpy(self.filter(frame, atlas))
            # the networks see [0, 1]; values beyond (EXR highlights) keep the correction of their clipped value
            corrected = batch + (filtered - batch.clip(0, 1))
            for k, frame in enumerate(corrected):
                out[s + k] = anchor_to_atlas(frame, atlas_frames[s + k])
            done["filter"] += len(filtered)
            progress("filter", done["filter"], total)
        return out

    @torch.no_grad()
    def _refine(self, filtered: np.ndarray, flows, params: AnalysisParams, progress, cancel, done,
                total) -> np.ndarray:
        if not params.refine or len(filtered) < 2:
            done["refine"] += len(filtered)
            return filtered
        _, bwd, _, mask_b = flows
        out = np.empty_like(filtered)
        out[0] = filtered[0]
        for t in range(1, len(filtered)):
            check_cancel(cancel)
            to_prev = bwd[t - 1]  # flow from frame t to frame t-1
            current = filtered[t].clip(0, 1)
            inputs = [current, warp(filtered[t - 1].clip(0, 1), to_prev), warp(out[t - 1].clip(0, 1), to_prev)]
            tensors = [_to_tensor(x[None], self.device) for x in inputs]
            mask = _to_tensor(mask_b[t - 1][None], self.device)
            refined = _to_numpy(self.refiner(*tensors, mask))[0]
            out[t] = filtered[t] + (refined - current)
            done["refine"] += 1
            progress("refine", done["refine"], total)
        done["refine"] += 1
        return out

    # --- rendering ------------------------------------------------------------------------------------

    def render(self, source: FrameSource, analysis: ClipAnalysis, params: RenderParams = RenderParams(),
               start: int = 0, stop: Optional[int] = None, progress: ProgressFn = no_progress,
               cancel: Optional[CancelToken] = None) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield (index, native frame) for [start, stop): full resolution, native dtype, alpha untouched."""
        validate(params)
        info = source.info
        if (info.count, info.height, info.width) != (analysis.count, analysis.height, analysis.width):
            raise InputError(f"{info.path} does not match its analysis ({info.count} frames of "
                             f"{info.width}x{info.height} vs {analysis.count} of {analysis.width}x{analysis.height})")
        stop = info.count if stop is None else stop
        if not 0 <= start < stop <= info.count:
            raise InputError(f"frame range [{start}, {stop}) is outside the clip's 0..{info.count - 1}")
        shape = analysis.targets.shape[1:3]
        for offset, native in enumerate(source.frames(start, stop)):
            check_cancel(cancel)
            index = start + offset
            rgb, alpha = to_working(native, info)
            small = np.clip(downscale(rgb, shape), -4.0, 4.0)
            a, b = fit_correction(small, analysis.targets[index].astype(np.float32))
            out = apply_correction(rgb, a, b, params.strength)
            yield index, from_working(out, alpha, info)
            progress("render", offset + 1, stop - start)

    # --- whole jobs -----------------------------------------------------------------------------------

    def process(self, input_path: "str | FrameSource", output_path: str, analysis_params: AnalysisParams = AnalysisParams(),
                render_params: RenderParams = RenderParams(), progress: ProgressFn = no_progress,
                cancel: Optional[CancelToken] = None) -> ClipAnalysis:
        """Deflicker a file, folder or pattern into another, atomically: a failure leaves no output."""
        check_output_path(input_path, output_path)
        with open_source(input_path) as source:
            analysis = self.analyse(source, analysis_params, progress, cancel)
            started = time.perf_counter()
            with open_sink(output_path, source.info) as sink:
                for _, frame in self.render(source, analysis, render_params, progress=progress, cancel=cancel):
                    sink.write(frame)
            analysis.stage_seconds["render"] = time.perf_counter() - started
        return analysis

    def deflicker_frames(self, frames: Iterable[np.ndarray], analysis_params: AnalysisParams = AnalysisParams(),
                         render_params: RenderParams = RenderParams(), progress: ProgressFn = no_progress,
                         cancel: Optional[CancelToken] = None) -> Iterator[np.ndarray]:
        """Iterator of arrays in, deflickered arrays out, in order; frames wait on disk, not in RAM."""
        with spool_frames(frames) as source:
            analysis = self.analyse(source, analysis_params, progress, cancel)
            for _, frame in self.render(source, analysis, render_params, progress=progress, cancel=cancel):
                yield frame

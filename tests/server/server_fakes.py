"""A fake engine for server tests: the real io contract and the real disk analysis layout, numpy stand-ins
for the networks.

Its "analysis" is the per-frame mean colour and its render pulls each frame's mean toward the clip's
mean (by `strength`), so tests can check a render used its clip's analysis. Like the real engine it runs
two passes into the analysis folder: "survey" (every frame's mean, saved as survey.npz) and "finalise"
(the means as float16 targets in chunk files of FAKE_CHUNK frames, default 4, so short clips have several),
then meta.json; given a folder it left unfinished, it resumes at the first missing chunk.
FAKE_ANALYSE_DELAY and FAKE_RENDER_DELAY (seconds per finalised or rendered frame, environment) make jobs
slow enough to cancel or kill mid-way; FAKE_OPEN_DELAY (seconds per open) stands for a probe stuck on slow
or unresponsive storage.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from deflicker_engine.errors import InputError
from deflicker_engine.io import atomic_file
from deflicker_engine.progress import check_cancel
from deflicker_engine.targets import DiskTargets, read_meta, write_meta
from deflicker_server.engine_adapter import EngineIO

VERSION = 1


class FakeAnalysis:
    """Per-frame means read through a store (the server's chunk store, or the engine's DiskTargets)."""

    def __init__(self, store, count: int, clip_mean: np.ndarray) -> None:
        self.store, self.count, self.clip_mean = store, count, np.asarray(clip_mean, np.float64)

    def mean(self, index: int) -> np.ndarray:
        return self.store.get(index)[0, 0].astype(np.float64)

    @property
    def nbytes(self) -> int:
        return int(self.store.nbytes)


def _scale(frame: np.ndarray) -> float:
    """Means are stored in [0, 1]-ish units so float16 holds them for any sample type."""
    return float(np.iinfo(frame.dtype).max) if frame.dtype.kind in "ui" else 1.0


class FakeEngine(EngineIO):
    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        self.device = "fake-cpu"
        self.engine_id = "fake-engine-1"
        self.analyse_delay = float(os.environ.get("FAKE_ANALYSE_DELAY", "0"))
        self.render_delay = float(os.environ.get("FAKE_RENDER_DELAY", "0"))
        self.open_delay = float(os.environ.get("FAKE_OPEN_DELAY", "0"))
        self.chunk = int(os.environ.get("FAKE_CHUNK", "4"))
        self.analyses = 0          # analyses run to the end
        self.finalised = 0         # frames finalised, over all analyses (a resume finalises fewer)

    def open_source(self, path: str):
        time.sleep(self.open_delay)
        return super().open_source(path)

    def analyse(self, source, params, progress, cancel, folder):
        folder = Path(folder)
        count = source.info.count
        store = DiskTargets(folder, count, (1, 1), chunk=self.chunk)
        survey = folder / "survey.npz"
        if survey.is_file():
            with np.load(survey, allow_pickle=False) as data:
                means = data["means"]
        else:
            rows = []
            for i, frame in enumerate(source.frames()):
                check_cancel(cancel)
                rows.append(frame.reshape(-1, frame.shape[2])[:, :3].astype(np.float64).mean(0) / _scale(frame))
                progress("survey", i + 1, count)
            means = np.array(rows)
            with atomic_file(survey) as handle:
                np.savez(handle, means=means)
        for index in range(store.done_until(), count):
            check_cancel(cancel)
            time.sleep(self.analyse_delay)
            store.put(index, means[index].astype(np.float16).reshape(1, 1, 3))
            self.finalised += 1
            progress("finalise", index + 1, count)
        write_meta(folder, {"version": VERSION, "complete": True, "count": count, "chunk": self.chunk,
                            "shape": [1, 1], "clip_mean": means.mean(0).tolist()})
        self.analyses += 1
        return FakeAnalysis(store, count, means.mean(0))

    def open_analysis(self, folder, targets):
        meta = read_meta(Path(folder))
        if meta.get("version") != VERSION or not meta.get("complete"):
            raise InputError(f"{folder} is not a finished fake analysis")
        return FakeAnalysis(targets, meta["count"], meta["clip_mean"])

    def render(self, source, analysis, params, start, stop, progress, cancel):
        for offset, frame in enumerate(source.frames(start, stop)):
            check_cancel(cancel)
            index = start + offset
            mean = analysis.mean(index)               # read before the frame goes out, as the real engine does
            gain = 1.0 + params.strength * (analysis.clip_mean / np.maximum(mean, 1e-6) - 1.0)
            out = frame.astype(np.float32)
            out[..., :3] *= gain.astype(np.float32)
            if frame.dtype.kind == "u":
                out = np.clip(np.rint(out), 0, np.iinfo(frame.dtype).max)
            time.sleep(self.render_delay)
            yield index, out.astype(frame.dtype)
            progress("render", offset + 1, stop - start)

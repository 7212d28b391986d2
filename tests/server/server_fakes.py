"""A fake engine for server tests: the real io contract, numpy stand-ins for the networks.

Its "analysis" is the per-frame mean colour and its render pulls each frame's mean toward the clip's
mean (by `strength`), so tests can check a render used its clip's analysis. FAKE_ANALYSE_DELAY and
FAKE_RENDER_DELAY (seconds per frame, environment) make jobs slow enough to cancel or kill mid-way;
FAKE_OPEN_DELAY (seconds per open) stands for a probe stuck on slow or unresponsive storage.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from deflicker_engine.errors import InputError
from deflicker_engine.progress import check_cancel
from deflicker_server.engine_adapter import EngineIO


class FakeAnalysis:
    def __init__(self, means: np.ndarray) -> None:
        self.means = means.astype(np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.means.nbytes)


class FakeEngine(EngineIO):
    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        self.device = "fake-cpu"
        self.engine_id = "fake-engine-1"
        self.analyse_delay = float(os.environ.get("FAKE_ANALYSE_DELAY", "0"))
        self.render_delay = float(os.environ.get("FAKE_RENDER_DELAY", "0"))
        self.open_delay = float(os.environ.get("FAKE_OPEN_DELAY", "0"))
        self.analyses = 0

    def open_source(self, path: str):
        time.sleep(self.open_delay)
        return super().open_source(path)

    def analyse(self, source, params, progress, cancel):
        means = []
        for i, frame in enumerate(source.frames()):
            check_cancel(cancel)
            means.append(frame.reshape(-1, frame.shape[2])[:, :3].astype(np.float64).mean(0))
            progress("analyse", i + 1, source.info.count)
            time.sleep(self.analyse_delay)
        self.analyses += 1
        return FakeAnalysis(np.array(means))

    def render(self, source, analysis, params, start, stop, progress, cancel):
        target = analysis.means.mean(0)
        for offset, frame in enumerate(source.frames(start, stop)):
            check_cancel(cancel)
            index = start + offset
            gain = 1.0 + params.strength * (target / np.maximum(analysis.means[index], 1e-6) - 1.0)
            out = frame.astype(np.float32)
            out[..., :3] *= gain
            if frame.dtype.kind == "u":
                out = np.clip(np.rint(out), 0, np.iinfo(frame.dtype).max)
            time.sleep(self.render_delay)
            yield index, out.astype(frame.dtype)
            progress("render", offset + 1, stop - start)

    def save(self, analysis, path: Path) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".partial", dir=Path(path).parent)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, means=analysis.means)
        os.replace(tmp, path)

    def load(self, path: Path):
        try:
            with np.load(path, allow_pickle=False) as data:
                return FakeAnalysis(data["means"])
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"cannot read {path}: {error}") from error

"""benchmarks/stages.py: the stage figures say which stage still carries the flicker's redraws."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import stages  # noqa: E402


def _clip(count=12, size=(40, 64)):
    rng = np.random.default_rng(0)
    texture = rng.uniform(0.2, 0.8, (*size, 3)).astype(np.float32)
    return [texture.copy() for _ in range(count)]


def test_a_stage_carrying_the_redraws_is_told_from_one_that_removed_them():
    reference = _clip()
    window = 3
    gains = np.exp(np.repeat(np.random.default_rng(1).normal(0, 0.2, 4), window)).astype(np.float32)
    errors = stages.StageErrors(reference)
    for t, ref in enumerate(reference):
        errors("input", t, ref * gains[t])                  # flicker redrawn every 3 frames
        errors("filtered", t, ref * gains[t] ** 0.5)        # half of it left
        errors("target", t, ref)                            # all of it gone
    rows = {r["stage"]: r for r in errors.figures(window)}
    assert list(rows) == ["input", "filtered", "target"]
    assert rows["input"]["step_boundary"] > 0.05 and rows["input"]["step_inside"] < 1e-4
    assert abs(rows["filtered"]["boundary_vs_input"] - 0.5) < 0.05
    assert rows["target"]["boundary_vs_input"] < 1e-3 and rows["target"]["level"] < 1e-4


def test_window_of_reads_the_setting_and_larger_stage_images_are_brought_to_the_working_size():
    assert stages.window_of("w10-local") == 10 and stages.window_of("drift") is None
    reference = _clip(count=2, size=(80, 128))
    errors = stages.StageErrors(reference)
    errors("look", 0, np.asarray(reference[0][::2, ::2]))    # working size first
    errors("output", 0, reference[0])                        # full size: scaled to the working size
    assert errors.maps["look"][0].shape == errors.maps["output"][0].shape

"""benchmarks/steady_look.py: the steady look keeps the flicker's mean and nothing of its changes."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import steady_look  # noqa: E402


def test_the_steady_look_holds_the_inputs_mean_gain_on_the_clean_picture():
    rng = np.random.default_rng(0)
    reference = [rng.uniform(0.2, 0.6, (40, 64, 3)).astype(np.float32) for _ in range(6)]
    gains = [1.3, 1.3, 1.3, 1.1, 1.1, 1.1]          # two draws of slow flicker: their mean does not vanish
    inputs = [r * g for r, g in zip(reference, gains)]
    steady = steady_look.steady_look(inputs, reference)
    expected = float(np.exp(np.mean(np.log(gains))))
    for clean, held in zip(reference, steady):
        ratio = (held + steady_look.EPS) / (clean + steady_look.EPS)
        assert np.allclose(ratio, expected, rtol=0.03)   # every frame: the same mean look, not its own
    # with no flicker at all the steady look is the reference itself
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(steady_look.steady_look(reference, reference), reference))

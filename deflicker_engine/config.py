"""Every user-facing parameter, in one screen.

The field metadata (label, range, help) is the single source for the CLI's --help, the server's
`describe` reply and the knobs the host nodes build: change a default here and every surface follows.
Analysis parameters decide what is cached per clip; render parameters are cheap to change afterwards.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict

from .errors import ParameterError


def _param(default, label: str, help: str, minimum=None, maximum=None):
    return field(default=default, metadata={"label": label, "help": help, "min": minimum, "max": maximum})


@dataclass(frozen=True)
class AnalysisParams:
    """Decide the per-clip analysis (flow, atlas, filtered frames at working resolution)."""

    working_size: int = _param(448, "Working size", "long side in pixels at which the networks see the clip; "
                               "the correction is carried back to full resolution", 128, 1024)
    use_atlas: bool = _param(True, "Use atlas", "fit a temporally consistent atlas per shot and filter each "
                             "frame against it (off: local refinement only)")
    refine: bool = _param(True, "Local refinement", "remove remaining local flicker with the recurrent refiner")
    consolidation: float = _param(0.8, "Temporal consolidation", "how strongly each frame is pulled towards "
                                  "its motion-compensated neighbours where they already agree, removing the last "
                                  "frame-to-frame flicker (0: off); real changes and occlusions are kept", 0.0, 0.95)
    window: int = _param(120, "Atlas window", "frames per atlas; longer shots are split into overlapping "
                         "windows that are blended without seams", 16, 1000)
    overlap: int = _param(24, "Window overlap", "frames shared by neighbouring atlas windows", 4, 200)
    atlas_steps: int = _param(240, "Atlas iterations", "optimisation steps per atlas window", 0, 5000)
    slow_changes: float = _param(0.5, "Slow changes (s)", "time scale in seconds below which appearance changes "
                                 "count as flicker; slower changes (exposure drift, lighting) are kept. "
                                 "0 holds one appearance for the whole atlas window", 0.0, 30.0)
    cut_threshold: float = _param(0.5, "Cut sensitivity", "how different two frames must be to count as a "
                                  "hard cut (0: every frame is a cut, 1: never cut)", 0.0, 1.0)
    seed: int = _param(0, "Seed", "random seed of the atlas fit, for reproducible results", 0, 2**31 - 1)


@dataclass(frozen=True)
class RenderParams:
    """Applied per frame at full resolution; changing them never re-analyses the clip."""

    strength: float = _param(1.0, "Strength", "0 returns the input, 1 applies the full correction", 0.0, 1.0)


def validate(params: Any) -> Any:
    """Check types and ranges of a params dataclass; return it unchanged or raise ParameterError."""
    for f in fields(params):
        value = getattr(params, f.name)
        if isinstance(f.default, bool):
            if not isinstance(value, bool):
                raise ParameterError(f"{f.name} must be true or false, got {value!r}")
            continue
        kind = type(f.default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
            raise ParameterError(f"{f.name} must be a {kind.__name__}, got {value!r}")
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ParameterError(f"{f.name}={value} is out of range [{lo}, {hi}]")
    return params


def from_dict(cls, values: Dict[str, Any]):
    """Build a params dataclass from a loose dict (CLI, wire), rejecting unknown names."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}")
    coerced = {}
    for name, value in values.items():
        kind = type(known[name].default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        coerced[name] = value
    return validate(cls(**coerced))


def schema(cls) -> list:
    """Describe a params dataclass as plain data: what the server sends and hosts turn into knobs."""
    out = []
    for f in fields(cls):
        kind = type(f.default)
        out.append({
            "name": f.name,
            "type": {bool: "boolean", int: "integer", float: "double"}[kind],
            "default": f.default,
            "min": f.metadata.get("min"),
            "max": f.metadata.get("max"),
            "label": f.metadata["label"],
            "help": f.metadata["help"],
        })
    return out


def as_dict(params: Any) -> Dict[str, Any]:
    return asdict(params)

"""Every user-facing parameter, in one screen.

The field metadata (label, range or choices, help) is the single source for the CLI's --help, the
server's `describe` reply and the knobs the host nodes build: change a default here and every surface
follows. Analysis parameters decide what is cached per clip; render parameters are cheap to change
afterwards. A preset is a named set of analysis values (PRESETS); values given explicitly win over it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Tuple

from .errors import ParameterError


def _param(default, label: str, help: str, minimum=None, maximum=None, choices: Tuple[str, ...] = ()):
    return field(default=default, metadata={"label": label, "help": help, "min": minimum, "max": maximum,
                                            "choices": tuple(choices)})


@dataclass(frozen=True)
class Preset:
    """What a user knows about the footage, as analysis values."""

    name: str
    summary: str
    values: Dict[str, Any]


PRESETS: Dict[str, Preset] = {p.name: p for p in (
    Preset("auto", "decide from the clip: flicker at any time scale is removed, genuine changes that persist "
                   "(a light switched on, an exposure ramp) are kept", {}),
    Preset("old-film", "archival film: fast global and local flicker, grain kept, black-and-white stays neutral; "
                       "colour film gets the lighter temporal consolidation black-and-white film gets anyway, so "
                       "its grain keeps its own life", {"consolidation": 0.6}),
    Preset("timelapse", "per-frame exposure jumps; the daylight's slow course is kept; the strongest temporal "
                        "consolidation (the jumps are frame to frame)", {"consolidation": 0.95}),
    Preset("mains-light", "slow-motion or high-frame-rate footage under mains light: periodic brightness "
                          "beats and rolling bands; the strongest temporal consolidation (the beats are frame to "
                          "frame)", {"consolidation": 0.95}),
    Preset("processed", "per-frame processed or generated video (colourised, dehazed, enhanced, styled): one "
                        "appearance for the whole shot, every appearance change is an artefact",
           {"appearance": "hold"}),
)}


@dataclass(frozen=True)
class AnalysisParams:
    """Decide the per-clip analysis (flow, atlas, filtered frames at working resolution)."""

    preset: str = _param("auto", "Preset", "what the footage is; a named set of the values below (values "
                         "given explicitly win)", choices=tuple(PRESETS))
    colorspace: str = _param("", "Colour space", "the input's colour space by its OpenColorIO name (the show's "
                             "config from $OCIO, else OCIO's built-in ACES config); empty: from the file (EXR "
                             "scene-linear, other formats sRGB)")
    working_size: int = _param(448, "Working size", "long side in pixels at which the networks see the clip; "
                               "the correction is carried back to full resolution", 128, 1024)
    use_atlas: bool = _param(True, "Use atlas", "fit a temporally consistent atlas per shot and filter each "
                             "frame against it (off: local refinement only)")
    refine: bool = _param(True, "Local refinement", "remove remaining local flicker with the recurrent refiner")
    consolidation: float = _param(0.9, "Temporal consolidation", "how strongly each frame is pulled towards "
                                  "its motion-compensated neighbours where they already agree, removing the last "
                                  "frame-to-frame flicker (0: off); real changes and occlusions are kept", 0.0, 0.95)
    window: int = _param(120, "Atlas window", "frames per atlas; longer shots are split into overlapping "
                         "windows that are blended without seams", 16, 1000)
    overlap: int = _param(24, "Window overlap", "frames shared by neighbouring atlas windows", 4, 200)
    atlas_steps: int = _param(240, "Atlas iterations", "optimisation steps per atlas window", 0, 5000)
    appearance: str = _param("adaptive", "Appearance", "what of the look's changes over the shot to keep: "
                             "adaptive decides from the clip which changes are flicker and which are the scene's "
                             "own (exposure drift, a light switched on); hold keeps one look for the whole shot "
                             "(processed video); follow keeps changes slower than Slow changes",
                             choices=("adaptive", "hold", "follow"))
    slow_changes: float = _param(0.5, "Slow changes (s)", "with appearance=follow: time scale in seconds below "
                                 "which changes of look count as flicker; slower changes are kept", 0.0, 30.0)
    cut_threshold: float = _param(0.5, "Cut sensitivity", "how different two frames must be to count as a "
                                  "hard cut (0: every frame is a cut, 1: never cut)", 0.0, 1.0)
    seed: int = _param(0, "Seed", "random seed of the atlas fit, for reproducible results", 0, 2**31 - 1)


@dataclass(frozen=True)
class RenderParams:
    """Applied per frame at full resolution; changing them never re-analyses the clip."""

    strength: float = _param(1.0, "Strength", "0 returns the input, 1 applies the full correction", 0.0, 1.0)


def validate(params: Any) -> Any:
    """Check types, ranges and choices of a params dataclass; return it unchanged or raise ParameterError."""
    for f in fields(params):
        value = getattr(params, f.name)
        choices = f.metadata.get("choices")
        if choices:
            if value not in choices:
                raise ParameterError(f"{f.name} must be one of {', '.join(choices)}; got {value!r}")
            continue
        if isinstance(f.default, bool):
            if not isinstance(value, bool):
                raise ParameterError(f"{f.name} must be true or false, got {value!r}")
            continue
        if isinstance(f.default, str):
            if not isinstance(value, str):
                raise ParameterError(f"{f.name} must be text, got {value!r}")
            continue
        kind = type(f.default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
            raise ParameterError(f"{f.name} must be a {kind.__name__}, got {value!r}")
        if not math.isfinite(value):  # NaN passes every range comparison
            raise ParameterError(f"{f.name} must be a finite number, got {value!r}")
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ParameterError(f"{f.name}={value} is out of range [{lo}, {hi}]")
    return params


def from_dict(cls, values: Dict[str, Any]):
    """Build a params dataclass from a loose dict (CLI, wire), rejecting unknown names.

    A `preset` among the values supplies the values of its set; the other values given win over it.
    """
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}")
    merged = dict(values)
    if "preset" in known and "preset" in values:
        preset = PRESETS.get(values["preset"]) if isinstance(values["preset"], str) else None
        if preset is None:
            raise ParameterError(f"preset must be one of {', '.join(PRESETS)}; got {values['preset']!r}")
        merged = {**preset.values, **values}
    coerced = {}
    for name, value in merged.items():
        kind = type(known[name].default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        coerced[name] = value
    return validate(cls(**coerced))


def resolve(params: Any) -> Any:
    """`params` with its preset's values in every field still at its default (explicit values win), so
    `AnalysisParams(preset="processed")` means what `from_dict` makes of {"preset": "processed"}."""
    preset = PRESETS.get(getattr(params, "preset", "auto"))
    if preset is None or not preset.values:
        return params
    defaults = {f.name: f.default for f in fields(params)}
    changes = {k: v for k, v in preset.values.items() if getattr(params, k) == defaults[k]}
    return replace(params, **changes) if changes else params


def preset_help() -> str:
    """The presets and the values each sets, for --help and the docs."""
    lines = []
    for p in PRESETS.values():
        values = ", ".join(f"{k}={v}" for k, v in p.values.items()) or "the defaults"
        lines.append(f"{p.name}: {p.summary} ({values})")
    return "\n".join(lines)


def schema(cls) -> list:
    """Describe a params dataclass as plain data: what the server sends and hosts turn into knobs."""
    out = []
    for f in fields(cls):
        choices = f.metadata.get("choices")
        kind = "choice" if choices else {bool: "boolean", int: "integer", float: "double", str: "string"}[type(f.default)]
        entry = {
            "name": f.name,
            "type": kind,
            "default": f.default,
            "min": f.metadata.get("min"),
            "max": f.metadata.get("max"),
            "label": f.metadata["label"],
            "help": f.metadata["help"],
        }
        if choices:
            entry["choices"] = list(choices)
        out.append(entry)
    return out


def presets_schema() -> Dict[str, Dict[str, Any]]:
    """{preset: {"summary": ..., "values": {...}}}: hosts fill their knobs with a preset's values."""
    return {p.name: {"summary": p.summary, "values": dict(p.values)} for p in PRESETS.values()}


def as_dict(params: Any) -> Dict[str, Any]:
    return asdict(params)

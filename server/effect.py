"""The `describe` reply: the effect in OpenFX terms, built from the engine's parameter schema.

Hosts build their UI from it: clips (Source in, Output out), typed parameters with defaults,
ranges or choices, labels and help, each in a group telling whether changing it re-analyses ("analysis") or
only re-renders ("render"), and the temporal needs (every output frame depends on the whole clip).
`presets` maps each preset to the analysis values it sets, so a host can fill its knobs when the user
picks one.
"""
from __future__ import annotations

from typing import Any, Dict

from . import wire


def effect_description(engine: Any, version: str) -> Dict[str, Any]:
    schema = engine.describe()
    params = [dict(p, group="analysis") for p in schema["analysis"]]
    params += [dict(p, group="render") for p in schema["render"]]
    dtypes = sorted(wire.DTYPE_SIZES)
    return {"effect": {
        "name": "Deflicker",
        "label": "Deflicker",
        "version": version,
        "description": "Blind video deflickering: removes brightness and colour flicker from a clip with no "
                       "reference, by neural filtering against a temporally consistent atlas.",
        "clips": [
            {"name": "Source", "role": "input", "channels": [3, 4], "dtypes": dtypes,
             "encodings": ["srgb", "linear"], "temporal": True, "alpha": "passed through untouched"},
            {"name": "Output", "role": "output", "like": "Source"},
        ],
        "params": params,
        "presets": schema.get("presets", {}),
        "temporal": {"frames_needed": "clip", "random_access": True,
                     "note": "every output frame depends on the whole opened clip (its analysis); open the "
                             "shot (with handles) as one clip, then render any frame range from it"},
        "render": {"stream": True, "to_path": True, "scales": [1.0]},
    }}

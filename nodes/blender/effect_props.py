# SPDX-License-Identifier: GPL-3.0-or-later
"""The effect's parameters as Blender property specs, from the server's description (never a fixed list).

`load_effect` reads the cached description first (no network while Blender starts), then asks a
server that already answers; `specs` turns each Param into what `bpy.props` needs.
"""
import json
import os

from .deps import bridge

PREFIX = "fx_"  # keeps parameter names clear of Node's own attributes (name, label, width...)
KINDS = {"boolean": "BOOLEAN", "integer": "INT", "double": "FLOAT", "choice": "ENUM", "string": "STRING"}
CASTS = {"boolean": bool, "integer": int, "double": float, "choice": str, "string": str}
INT_LIMIT = 2 ** 31 - 1  # IntProperty is a C int


class PropSpec(object):
    """One node property: `kind` picks the bpy.props function, `options` are its keyword arguments."""

    __slots__ = ("param", "attr", "kind", "options")

    def __init__(self, param, attr, kind, options):
        self.param, self.attr, self.kind, self.options = param, attr, kind, options

    @property
    def group(self):
        return self.param.group

    def __repr__(self):
        return "PropSpec({} {} {})".format(self.attr, self.kind, self.options)


def attr_name(param_name):
    return PREFIX + param_name


def spec(param, summaries=None):
    """The property for one Param: its label, help, default and range (choices: their items, each
    described by `summaries[choice]` when given, e.g. what a preset is for)."""
    kind = KINDS[param.type]
    options = {"name": param.label, "description": param.help or param.label}
    if kind == "BOOLEAN":
        options["default"] = bool(param.default)
    elif kind == "ENUM":
        summaries = summaries or {}
        options["items"] = [(c, c, summaries.get(c) or c) for c in param.choices]
        options["default"] = param.default if param.default in param.choices else param.choices[0]
    elif kind == "STRING":
        options["default"] = str(param.default or "")
    else:
        cast = int if kind == "INT" else float
        options["default"] = cast(param.default)
        for key, bound in (("min", param.min), ("max", param.max)):
            if bound is not None:
                options[key] = cast(max(-INT_LIMIT, min(INT_LIMIT, bound)) if kind == "INT" else bound)
        if kind == "FLOAT":
            options["precision"] = 3
    return PropSpec(param, attr_name(param.name), kind, options)


def specs(effect):
    """Specs for every parameter of `effect` (none when no description was ever available)."""
    if effect is None:
        return []
    preset = effect.preset_param()
    summaries = dict((name, entry.get("summary", "")) for name, entry in effect.presets.items())
    return [spec(p, summaries if p is preset else None) for p in effect.params]


def preset_fills(effect):
    """(attr of the preset property, {preset: {attr: value}}) for filling the node's properties when the
    user picks a preset (bridge.Effect.preset_fills); (None, {}) when the effect has no presets."""
    preset = effect.preset_param() if effect is not None else None
    if preset is None:
        return None, {}
    return attr_name(preset.name), dict(
        (name, dict((attr_name(k), v) for k, v in fill.items())) for name, fill in effect.preset_fills().items())


# Blender's names for what the engine assumes of a file anyway (empty colorspace: EXR scene-linear, other
# formats sRGB), and for data that is not colour; these are not passed on.
FILE_DEFAULTS = {".exr": ("linear rec.709", "linear", "scene_linear", "non-color"),
                 "": ("srgb", "non-color")}


def with_colorspace(params, colorspace, path):
    """`params` with an empty `colorspace` (left to the host) set to the source's own colour space
    (Image/MovieClip `colorspace_settings.name`), unless that is what the engine reads from the file anyway."""
    if "colorspace" not in params or str(params["colorspace"]).strip() or not colorspace:
        return dict(params)
    ext = ".exr" if str(path).lower().endswith(".exr") else ""
    out = dict(params)
    if colorspace.strip().lower() not in FILE_DEFAULTS[ext]:
        out["colorspace"] = colorspace.strip()
    return out


def ran_with(params):
    """" with preset 'old-film'" for the messages after a job: which preset it ran with."""
    preset = params.get("preset") if params else None
    return " with preset '{}'".format(preset) if preset else ""


def values(effect, get):
    """{param name: value} for the job, read with `get(attr)` (a node's getattr)."""
    if effect is None:
        return {}
    out = {}
    for param in effect.params:
        value = get(attr_name(param.name))
        value = CASTS[param.type](value)
        out[param.name] = value.strip() if param.type == "string" else value
    return out


def read_cache(cache_path):
    """The cached description, or None when there is none or it is damaged."""
    if not cache_path or not os.path.isfile(cache_path):
        return None
    try:
        with open(cache_path, "r") as handle:
            return bridge.Effect.from_describe(json.load(handle))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_effect(address, cache_path, probe_timeout=0.5):
    """The description for registering the node: the cache, else a server that answers now, else None."""
    cached = read_cache(cache_path)
    if cached is not None:
        return cached
    return fetch_effect(address, cache_path, probe_timeout)


def fetch_effect(address, cache_path, probe_timeout=2.0):
    """Ask a running server (and refresh the cache); None when none answers. Never starts a server."""
    if not bridge.launcher.answers(address, probe_timeout):
        return None
    try:
        return bridge.describe_effect(address, cache_path, start=False, timeout=probe_timeout)
    except bridge.BridgeError:
        return None


def same_schema(a, b):
    """True when two descriptions give the node the same properties (re-registering is then needless)."""
    return [repr(s.options) + s.attr + s.kind for s in specs(a)] == [repr(s.options) + s.attr + s.kind
                                                                    for s in specs(b)]

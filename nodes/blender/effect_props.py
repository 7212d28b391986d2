"""The effect's parameters as Blender property specs, from the server's description (never a fixed list).

`load_effect` reads the cached description first (no network while Blender starts), then asks a
server that already answers; `specs` turns each Param into what `bpy.props` needs.
"""
import json
import os

import deflicker_bridge as bridge

PREFIX = "fx_"  # keeps parameter names clear of Node's own attributes (name, label, width...)
KINDS = {"boolean": "BOOLEAN", "integer": "INT", "double": "FLOAT"}
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


def spec(param):
    """The property for one Param: its label, help, default and range."""
    kind = KINDS[param.type]
    options = {"name": param.label, "description": param.help or param.label}
    if kind == "BOOLEAN":
        options["default"] = bool(param.default)
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
    return [spec(p) for p in effect.params] if effect is not None else []


def values(effect, get):
    """{param name: value} for the job, read with `get(attr)` (a node's getattr)."""
    if effect is None:
        return {}
    out = {}
    for param in effect.params:
        value = get(attr_name(param.name))
        out[param.name] = {"boolean": bool, "integer": int, "double": float}[param.type](value)
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

# SPDX-License-Identifier: Apache-2.0
"""The effect as the server describes it, OpenFX style: clips, typed parameters, temporal needs.

Hosts build their knobs from `Effect.params` (type, default, range, label, help) and never hard-code
them, so a parameter added to the engine shows up in every host.
"""
from .errors import ParameterError

PRESET_PARAM = "preset"  # the choice parameter whose choices are the effect's presets
TYPES = {"boolean": bool, "integer": int, "double": float, "choice": str, "string": str}


class Param(object):
    """One typed parameter: `group` is "analysis" (changing it re-analyses) or "render" (cheap)."""

    __slots__ = ("name", "type", "default", "min", "max", "label", "help", "group", "choices")

    def __init__(self, name, type, default, min=None, max=None, label=None, help="", group="render", choices=()):
        if type not in TYPES:
            raise ValueError("unknown parameter type {!r} for {}".format(type, name))
        self.name = name
        self.type = type
        self.default = default
        self.min = min
        self.max = max
        self.label = label or name
        self.help = help or ""
        self.group = group
        self.choices = tuple(choices or ())
        if type == "choice" and not self.choices:
            raise ValueError("choice parameter {} lists no choices".format(name))

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], d["type"], d.get("default"), d.get("min"), d.get("max"), d.get("label"),
                   d.get("help", ""), d.get("group", "render"), d.get("choices") or ())

    def coerce(self, value):
        """Check `value` against type and range as the server will; return it in the right type."""
        if self.type == "choice":
            if value not in self.choices:
                raise ParameterError("{} must be one of {}; got {!r}".format(self.name, ", ".join(self.choices), value),
                                     "parameter")
            return value
        if self.type == "string":
            if not isinstance(value, str):
                raise ParameterError("{} must be text, got {!r}".format(self.name, value), "parameter")
            return value
        if self.type == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise ParameterError("{} must be true or false, got {!r}".format(self.name, value), "parameter")
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number != number or number in (float("inf"), float("-inf")):
            number = None  # NaN and infinities pass every range comparison: refuse them here
        if number is None or (self.type == "integer" and not number.is_integer()):
            raise ParameterError("{} must be a {}, got {!r}".format(self.name, self.type, value), "parameter")
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise ParameterError("{}={} is out of range [{}, {}]".format(self.name, value, self.min, self.max),
                                 "parameter")
        return int(number) if self.type == "integer" else number

    def __repr__(self):
        return "Param({}: {} = {!r} [{}, {}])".format(self.name, self.type, self.default, self.min, self.max)


class Effect(object):
    """Name, clips (Source, Output), `params` (list of Param) and temporal needs of the effect."""

    def __init__(self, name, label, description, version, clips, params, temporal, presets=None):
        self.name = name
        self.label = label
        self.description = description
        self.version = version
        self.clips = clips
        self.params = params
        self.temporal = temporal
        self.presets = dict(presets or {})  # {name: {"summary": str, "values": {param: value}}}

    @classmethod
    def from_describe(cls, result):
        """Build from a `describe` reply (docs/protocol.md)."""
        e = result["effect"]
        return cls(e.get("name", "Deflicker"), e.get("label", "Deflicker"), e.get("description", ""),
                   e.get("version", ""), list(e.get("clips", [])), [Param.from_dict(p) for p in e.get("params", [])],
                   dict(e.get("temporal", {})), e.get("presets") or {})

    def preset_values(self, name):
        """The knob values preset `name` sets (hosts apply them when the user picks it)."""
        if name not in self.presets:
            raise ParameterError("unknown preset {!r}; known: {}".format(name, sorted(self.presets)), "parameter")
        return dict(self.presets[name].get("values", {}))

    def preset_param(self):
        """The parameter that picks a preset, or None when the server describes no presets."""
        for p in self.params:
            if p.name == PRESET_PARAM and p.type == "choice" and self.presets:
                return p
        return None

    def preset_fills(self):
        """{preset: {param: value}}: what every knob that some preset sets takes when the user picks a
        preset; the preset's own value, else the parameter's default. Values are sent explicitly and win
        over a preset on the server, so picking 'auto' after 'processed' must put back what 'processed'
        changed. Hosts store this with the node, so picking a preset needs no server."""
        touched = sorted(set(name for entry in self.presets.values() for name in entry.get("values", {}))
                         & set(self.names()))
        defaults = self.defaults()
        return dict((preset, dict((name, self.preset_values(preset).get(name, defaults[name])) for name in touched))
                    for preset in self.presets)

    def param(self, name):
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError("unknown parameter {!r}; known: {}".format(name, sorted(self.names())), "parameter")

    def names(self):
        return [p.name for p in self.params]

    def defaults(self):
        return dict((p.name, p.default) for p in self.params)

    def coerce(self, values):
        """Check a {name: value} map on this side (strings from a command line are fine)."""
        return dict((name, self.param(name).coerce(value)) for name, value in (values or {}).items())

    def __iter__(self):
        return iter(self.params)

    def __repr__(self):
        return "Effect({}, params={})".format(self.name, self.names())

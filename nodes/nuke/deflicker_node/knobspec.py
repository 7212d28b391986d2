# SPDX-License-Identifier: Apache-2.0
"""The node's parameter knobs, from the effect the server describes.

Every parameter the server lists becomes one knob, on the node's single tab: analysis parameters
under one divider (changing them means a new analysis), render parameters under another (cheap).
The list is stored on the node as JSON, so a button press reads the knobs that were built, even if
the server has learnt new parameters since.
"""
import json
from typing import Callable, Dict, List, Optional

GROUPS = (("analysis", "Analysis", "changing these re-analyses the clip"),
          ("render", "Render", "cheap: no re-analysis"))

# Knobs every Nuke node or Group already has, and the ones this node adds itself: a parameter
# with one of these names gets a prefixed knob name instead.
NUKE_KNOBS = frozenset([
    "name", "label", "note_font", "note_font_size", "note_font_color", "selected", "xpos", "ypos", "hide_input",
    "cached", "disable", "dope_sheet", "bookmark", "postage_stamp", "postage_stamp_frame", "lifetimeStart",
    "lifetimeEnd", "useLifetime", "lock_connections", "tile_color", "gl_color", "icon", "indicators", "help",
    "onCreate", "onDestroy", "knobChanged", "updateUI", "autolabel", "User", "inputChange", "showPanel",
    "hidePanel",
])
NODE_KNOBS = frozenset([
    "deflicker", "server", "start_server", "frames_divider", "use_input_range", "frame_first", "frame_last",
    "handles", "analysis_divider", "render_divider", "actions_divider", "analyse", "render", "cancel", "status",
    "deflicker_params", "deflicker_presets",
])
PREFIX = "df_"
PRESET_PARAM = "preset"


class KnobSpec(object):
    """One parameter knob: its knob name, the parameter it sets, its type and group."""

    __slots__ = ("knob", "name", "type", "group", "label", "help", "default", "min", "max", "choices")

    def __init__(self, knob, name, type, group, label="", help="", default=None, min=None, max=None, choices=None):
        self.knob, self.name, self.type, self.group = knob, name, type, group
        self.label, self.help, self.default, self.min, self.max = label or name, help or "", default, min, max
        self.choices = list(choices or [])

    def to_dict(self) -> dict:
        return dict((slot, getattr(self, slot)) for slot in self.__slots__)

    @classmethod
    def from_dict(cls, d: dict) -> "KnobSpec":
        return cls(**dict((slot, d.get(slot)) for slot in cls.__slots__))

    def __repr__(self):
        return "KnobSpec({} -> {}: {} [{}])".format(self.knob, self.name, self.type, self.group)


def knob_name(param_name: str) -> str:
    """The knob that holds a parameter: its own name unless Nuke or this node already uses it."""
    if param_name in NUKE_KNOBS or param_name in NODE_KNOBS or param_name.startswith(PREFIX):
        return PREFIX + param_name
    return param_name


def knob_specs(effect) -> List[KnobSpec]:
    """One spec per parameter of `effect` (a bridge.Effect): analysis parameters first, each group in
    the server's order."""
    specs = []
    for group, _, _ in GROUPS:
        for p in effect.params:
            if (p.group if p.group in ("analysis", "render") else "render") == group:
                specs.append(KnobSpec(knob_name(p.name), p.name, p.type, group, p.label, p.help, p.default,
                                      p.min, p.max, getattr(p, "choices", ())))
    return specs


def layout(specs: List[KnobSpec]) -> list:
    """The parameter part of the tab, in order: ("divider", name, label) entries, then the specs of
    that group. A group without parameters gets no divider."""
    rows = []
    for group, title, note in GROUPS:
        members = [s for s in specs if s.group == group]
        if members:
            rows.append(("divider", group + "_divider", "{} ({})".format(title, note)))
            rows.extend(("param", spec) for spec in members)
    return rows


def dumps(specs: List[KnobSpec]) -> str:
    return json.dumps([s.to_dict() for s in specs], sort_keys=True)


def loads(text: str) -> List[KnobSpec]:
    """The specs stored on a node; an empty or damaged value gives none (the node then sends no
    parameters and the server uses its defaults)."""
    try:
        return [KnobSpec.from_dict(d) for d in json.loads(text or "[]")]
    except (ValueError, TypeError, AttributeError):
        return []


class ParameterValueError(ValueError):
    """A knob holds a value the parameter does not accept (the message names knob and range)."""


def collect_params(specs: List[KnobSpec], read: Callable[[str], object]) -> Dict[str, object]:
    """{parameter: value} from the knobs (`read(knob_name)`), typed and range-checked here so a bad
    value is reported before anything is rendered."""
    params = {}
    for spec in specs:
        value = read(spec.knob)
        if spec.type == "boolean":
            params[spec.name] = bool(value)
            continue
        if spec.type == "choice":
            if value not in spec.choices:
                raise ParameterValueError("{} = {!r} is not one of {}".format(spec.label, value,
                                                                              ", ".join(spec.choices)))
            params[spec.name] = str(value)
            continue
        if spec.type == "string":
            params[spec.name] = str(value or "").strip()
            continue
        number = float(value)
        if spec.type == "integer":
            if not number.is_integer():
                raise ParameterValueError("{} must be a whole number, got {}".format(spec.label, value))
            number = int(number)
        if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
            raise ParameterValueError("{} = {} is outside its range {} to {}".format(
                spec.label, value, spec.min, spec.max))
        params[spec.name] = number
    return params


def dump_presets(effect) -> str:
    """The knob values of each preset (bridge.Effect.preset_fills), stored on the node so that picking
    a preset in knobChanged needs no server."""
    return json.dumps(effect.preset_fills() if effect.preset_param() is not None else {}, sort_keys=True)


def preset_spec(specs: List[KnobSpec]) -> Optional[KnobSpec]:
    """The knob that picks a preset, if the effect has one."""
    for spec in specs:
        if spec.name == PRESET_PARAM and spec.type == "choice":
            return spec
    return None


def preset_updates(specs: List[KnobSpec], presets_text: str, preset: str) -> List[tuple]:
    """[(knob, value)] that picking `preset` sets: the stored fills, for knobs this node has."""
    try:
        fills = json.loads(presets_text or "{}").get(preset) or {}
    except (ValueError, AttributeError):
        return []
    by_name = dict((s.name, s) for s in specs)
    updates = []
    for name, value in sorted(fills.items()):
        spec = by_name.get(name)
        if spec is not None and name != PRESET_PARAM:   # a preset may set another choice, never the preset
            updates.append((spec.knob, value))
    return updates


def ran_with(params: Dict[str, object]) -> str:
    """", preset 'old-film'" for status lines: which preset the shown result was made with."""
    preset = params.get(PRESET_PARAM)
    return ", preset '{}'".format(preset) if preset else ""


def stale_reason(knob: str, specs: List[KnobSpec]) -> Optional[str]:
    """Why a change of `knob` makes the node's result out of date, or None when it does not.

    Only what feeds the result counts: parameters, the frame range, the handles and the input
    connection. Everything else (status text, buttons, the node's position) is ignored, so the
    node's own updates never mark it stale.
    """
    for spec in specs:
        if spec.knob == knob:
            if spec.group == "analysis":
                return "{} changed: press Analyse or Render".format(spec.label)
            return "{} changed: press Render (no new analysis needed)".format(spec.label)
    if knob in ("use_input_range", "frame_first", "frame_last", "handles"):
        return "the frame range changed: press Render"
    if knob == "inputChange":
        return "the input changed: press Render"
    return None

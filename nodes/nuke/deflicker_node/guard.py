# SPDX-License-Identifier: Apache-2.0
"""Is the shown result still what the node's settings and input would make? (pure Python, no bridge)

Before Nuke 17, knobChanged does not fire for changes made by scripts or expressions while the panel is
closed, so the node stores a key of what its result was made from (input, frame range, handles,
parameters, proxy mode) and compares it with the current one on script load, before a render and in an
update-UI callback, as well as in knobChanged. A different key means a stale result: the node then
shows its input and says why.
"""
import json
from typing import Dict, List, Optional


def make_key(input_id: Optional[str], media: tuple, use_input_range: bool, first: int, last: int, handles: int,
             params: Dict[str, object], proxy: bool) -> str:
    """The key of a result: what it was made from, as text that is stored on the node."""
    return json.dumps({"input": input_id, "media": list(media), "range": None if use_input_range else [first, last],
                       "handles": handles, "params": params, "proxy": bool(proxy)}, sort_keys=True)


def input_id(node_name: Optional[str], file_value: Optional[str]) -> Optional[str]:
    """Which input fed the node: its name, and its file when it reads one (a Read re-pointed is another
    input). Changes further upstream are not seen: press Render after them."""
    if node_name is None:
        return None
    return node_name if not file_value else "{} ({})".format(node_name, file_value)


def stale_reason(stored: str, current: str, labels: Dict[str, str]) -> Optional[str]:
    """Why a result with key `stored` is out of date now, or None when `current` is the same key.
    `labels` names the parameters ({name: label}); analysis changes are listed first by the caller's order."""
    if not stored or stored == current:
        return None
    try:
        old, new = json.loads(stored), json.loads(current)
    except ValueError:
        return "the node's settings changed: press Render"
    if old.get("proxy") != new.get("proxy"):
        return "proxy mode changed: turn it off and press Render"
    if old.get("input") != new.get("input"):
        return "the input changed: press Render"
    if old.get("media") != new.get("media"):
        return "the input's frame range changed: press Render"
    if (old.get("range"), old.get("handles")) != (new.get("range"), new.get("handles")):
        return "the frame range changed: press Render"
    old_params, new_params = old.get("params") or {}, new.get("params") or {}
    changed = [name for name in labels if old_params.get(name) != new_params.get(name)]
    changed += sorted((set(old_params) ^ set(new_params)) - set(changed))
    if changed:
        names = ", ".join(labels.get(name, name) for name in changed)
        return "{} changed: press Render".format(names)
    return "the node's settings changed: press Render"


def labels(specs: List) -> Dict[str, str]:
    """{parameter: label} in knob order (analysis first), for stale_reason."""
    out = {}
    for spec in specs:
        out[spec.name] = spec.label
    return out

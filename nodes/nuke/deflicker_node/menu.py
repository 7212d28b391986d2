# SPDX-License-Identifier: Apache-2.0
"""Nuke's way into the node: the toolbar entry, the knob callbacks and the stale-result checks.

Imports only `nuke` and the standard library (plus the plug-in's pure modules), never the bridge, so
Nuke starts and the menu entry appears even when pyzmq or msgpack is missing: the node says what is
missing, and how to install it, when it is used. Everything that needs the bridge is in `host`,
imported on first use.
"""
import importlib
import importlib.util
import os
import sys

import nuke

from . import guard, knobspec

REQUIRED = ("zmq", "msgpack")
ICON = "Deflicker.png"
TOOLTIP = ("Deflicker: removes brightness and colour flicker from its input (blind video deflickering by the "
           "deflicker server). Analyse, then Render; the node shows the deflickered frames.")
KEY_KNOB, SHOWN_KNOB = "deflicker_key", "deflicker_shown"


def missing_modules(names=REQUIRED):
    """The modules Nuke's Python cannot import."""
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def install_advice(missing):
    """What to tell the user when pyzmq or msgpack is missing."""
    version = "{}.{}".format(sys.version_info[0], sys.version_info[1])
    return ("Deflicker needs the Python modules {} for Nuke's Python {}, and they are not installed. Install them "
            "with the Deflicker installer and Nuke's own Python (python3, or python.exe, in Nuke's install folder):\n"
            "  python install/nuke/install.py --nuke-python /path/to/Nuke/python3\n"
            "(they go to ~/.nuke/deflicker/vendor/py{}), then restart Nuke.".format(
                " and ".join(missing), version, version))


def _host():
    """deflicker_node.host, or None after telling the user what is missing."""
    missing = missing_modules()
    if missing:
        nuke.message(install_advice(missing))
        return None
    return importlib.import_module(__package__ + ".host")


# ----------------------------------------------------------------- menu.py
def add_menu():
    """Nodes toolbar > Deflicker > Deflicker, and the callbacks that keep results honest (menu.py)."""
    icon = icon_path()
    menu = nuke.menu("Nodes").addMenu("Deflicker", icon=icon)
    menu.addCommand("Deflicker", "import deflicker_node.menu\ndeflicker_node.menu.create()", icon=icon,
                    tooltip=TOOLTIP)
    nuke.addOnScriptLoad(on_script_load)
    nuke.addUpdateUI(update_ui, nodeClass="Group")
    nuke.addBeforeRender(before_render)


def create():
    host = _host()
    return host.create() if host is not None else None


def button(name):
    """A button of the node (Analyse, Render, Cancel)."""
    node = nuke.thisNode()
    host = _host()
    if host is not None:
        getattr(host, name)(node)


def knob_changed():
    node, knob = nuke.thisNode(), nuke.thisKnob()
    if missing_modules():
        check(node)          # no job can run here, but a stale result must still not be shown
        return
    importlib.import_module(__package__ + ".host").knob_changed(node, knob)


# ----------------------------------------------------------------- stale results
def is_deflicker(node):
    return node is not None and node.knob(KEY_KNOB) is not None and node.knob("deflicker_params") is not None


def current_key(node):
    """The key the node's result would have if it were made now (None: a parameter holds a bad value)."""
    specs = knobspec.loads(node["deflicker_params"].value())
    try:
        params = knobspec.collect_params(specs, lambda name: node[name].value())
    except (knobspec.ParameterValueError, ValueError, TypeError, NameError):
        return None
    source = node.input(0)
    file_knob = source.knob("file") if source is not None else None
    name = source.fullName() if source is not None else None
    media = (int(source.firstFrame()), int(source.lastFrame())) if source is not None else ()
    return guard.make_key(guard.input_id(name, file_knob.value() if file_knob is not None else None), media,
                          bool(node["use_input_range"].value()), int(node["frame_first"].value()),
                          int(node["frame_last"].value()), int(node["handles"].value()), params,
                          bool(nuke.root()["proxy"].value()))


def check(node):
    """Show the input instead of a result that is out of date, saying why; True when it was stale."""
    if not is_deflicker(node):
        return False
    copy = node.node("ResultOrInput")
    stored = node[KEY_KNOB].value()
    if copy is None or copy["disable"].value() or not stored:
        return False
    specs = knobspec.loads(node["deflicker_params"].value())
    current = current_key(node)
    reason = ("a parameter holds a value it cannot take" if current is None
              else guard.stale_reason(stored, current, guard.labels(specs)))
    if reason is None:
        return False
    copy["disable"].setValue(True)
    node["status"].setValue("OUT OF DATE ({}); showing the input".format(reason))
    if not node["label"].value():        # visible in the node graph too
        node["label"].setValue(STALE_LABEL)
    return True


STALE_LABEL = "OUT OF DATE: showing the input"


def check_all():
    for node in nuke.allNodes("Group", nuke.root(), True):
        if is_deflicker(node):
            check(node)


def on_script_load():
    check_all()


def update_ui():
    check(nuke.thisNode())


def before_render():
    check_all()


def icon_path():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), ICON)

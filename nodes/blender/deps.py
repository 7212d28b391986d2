# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's dependencies: the bridge bundled inside the add-on, pyzmq and msgpack from its wheels.

Blender installs the wheels that `blender_manifest.toml` lists (`wheels = [...]`) into its extensions'
own site-packages when the extension is enabled (Blender manual, Extensions > Python Wheels), so no
folder of ours goes on sys.path. The bridge is a sub-package of the add-on (`<add-on>.deflicker_bridge`,
copied there by install/blender/install.py), so no top-level `bridge` can shadow another add-on's; run
from the repository (tests, development) the installed `deflicker_bridge` package stands in for it.
"""
import importlib
import importlib.util

REQUIRED = ("zmq", "msgpack")
BRIDGE = "deflicker_bridge"


def _has(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module blocked or broken in sys.modules
        return False


def bridge_name(package=__package__):
    """The bridge's module name: the copy inside the add-on when there is one."""
    bundled = "{}.{}".format(package, BRIDGE) if package else BRIDGE
    return bundled if package and _has(bundled) else BRIDGE


def load_bridge():
    """The bridge module (ImportError when pyzmq or msgpack is missing: check missing_modules first)."""
    return importlib.import_module(bridge_name())


def missing_modules(names=REQUIRED):
    """The required modules this Python cannot import (the extension's wheels did not install)."""
    return [name for name in names if not _has(name)]


bridge = load_bridge() if not missing_modules() else None

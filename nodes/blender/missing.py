# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in UI when pyzmq or msgpack cannot be imported: a sidebar panel that says what is missing and
how to get it (the extension's wheels provide both; Blender installs them when it enables the extension)."""
import sys

import bpy

_state = {"missing": None}


def registered():
    return _state["missing"] is not None


def advice():
    return ("the extension's wheels did not install for this Blender (Python {}.{}, {}): reinstall it with "
            "install/blender/install.py (which downloads the wheels), or install the extension's .zip from "
            "Edit > Preferences > Get Extensions > Install from Disk, then restart Blender".format(
                sys.version_info[0], sys.version_info[1], sys.platform))


class NODE_PT_deflicker_missing(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Deflicker"
    bl_label = "Deflicker: setup needed"

    def draw(self, context):
        col = self.layout.column(align=True)
        col.label(text="Missing Python modules: " + ", ".join(_state["missing"] or ()), icon="ERROR")
        col.label(text="The extension's wheels did not install:")
        col.label(text="reinstall with install/blender/install.py, restart Blender")


def register(missing):
    _state["missing"] = list(missing)
    print("Deflicker: {} missing; {}".format(", ".join(missing), advice()))
    bpy.utils.register_class(NODE_PT_deflicker_missing)


def unregister():
    bpy.utils.unregister_class(NODE_PT_deflicker_missing)
    _state["missing"] = None

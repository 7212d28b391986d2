"""Stand-in UI when pyzmq or msgpack cannot be imported: a sidebar panel that gives the exact command."""
import subprocess

import bpy

from . import vendor

_state = {"missing": None}


def registered():
    return _state["missing"] is not None


def command_text():
    return subprocess.list2cmdline(vendor.pip_command())


class NODE_PT_deflicker_missing(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Deflicker"
    bl_label = "Deflicker: setup needed"

    def draw(self, context):
        col = self.layout.column(align=True)
        col.label(text="Missing Python modules: " + ", ".join(_state["missing"] or ()), icon="ERROR")
        col.label(text="Install them into the add-on (see console), then restart Blender:")
        col.label(text=command_text())


def register(missing):
    _state["missing"] = list(missing)
    print("Deflicker: {} missing; install with:\n  {}\n(or run install/blender/install.py --blender-python "
          "PATH)".format(", ".join(missing), command_text()))
    bpy.utils.register_class(NODE_PT_deflicker_missing)


def unregister():
    bpy.utils.unregister_class(NODE_PT_deflicker_missing)
    _state["missing"] = None

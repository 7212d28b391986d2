# SPDX-License-Identifier: GPL-3.0-or-later
"""The compositor sidebar (N) tab "Deflicker": the active node's settings, Analyse / Render / Cancel,
progress and the last message; and the add-on preferences."""
import bpy

from . import node as deflicker_node, paths
from .operators import addon_session, target


class NODE_PT_deflicker(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Deflicker"
    bl_label = "Deflicker"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context):
        layout = self.layout
        scene, tree, node = target(context)
        if node is None:
            layout.label(text="Select a Deflicker node", icon="INFO")
            layout.label(text="(Add > Filter > Deflicker)")
            return
        layout.label(text=node.name, icon="NODE")
        deflicker_node.draw_source(node, layout.box())
        deflicker_node.draw_range(node, context, layout.box())
        box = layout.box()
        if not deflicker_node.draw_params(node, box):
            box.label(text="Parameters: server defaults", icon="INFO")
            box.label(text="(no server has described them yet)")
        box.operator("deflicker.refresh_parameters", icon="FILE_REFRESH")
        self.draw_job(layout, scene, tree, node)

    @staticmethod
    def draw_job(layout, scene, tree, node):
        session = addon_session()
        runner = session.runner(scene, tree, node) if session is not None else None
        busy = runner is not None and not runner.finished
        row = layout.row(align=True)
        row.scale_y = 1.3
        row.operator("deflicker.analyse", icon="VIEWZOOM").node = node.name
        row.operator("deflicker.render", icon="RENDER_ANIMATION").node = node.name
        cancel = layout.row()
        cancel.enabled = busy
        cancel.operator("deflicker.cancel", icon="CANCEL").node = node.name
        if runner is None:
            return
        if busy:
            layout.progress(factor=runner.status.fraction, type="BAR", text=runner.status.text())
        elif runner.summary:
            icon = {"failed": "ERROR", "cancelled": "CANCEL"}.get(runner.status.state, "CHECKMARK")
            col = layout.column(align=True)
            for i, line in enumerate(wrap(runner.summary, 40)):
                col.label(text=line, icon=icon if i == 0 else "BLANK1")


def wrap(text, width):
    """Split a long message into label-sized lines."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = word if not line else line + " " + word
    return lines + ([line] if line else [])


class DeflickerPreferences(bpy.types.AddonPreferences):
    bl_idname = ""  # set to the add-on's package at registration (it differs as extension and legacy add-on)

    address: bpy.props.StringProperty(
        name="Server Address", default="",
        description="ZeroMQ address of the deflicker server; empty: $DEFLICKER_ADDRESS or tcp://127.0.0.1:5557")
    start_server: bpy.props.BoolProperty(
        name="Start a server", default=True,
        description="Start a local server when none answers (needs `deflicker` installed, or DEFLICKER_PYTHON)")
    output_location: bpy.props.EnumProperty(
        name="Output", default=paths.CACHE,
        items=[(paths.CACHE, "User cache", "~/.cache/deflicker/blender/<blend>/<scene>/<node>/"),
               (paths.BLEND, "Beside the .blend", "//deflicker/<scene>/<node>/ (the .blend must be saved)")])

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "address")
        layout.prop(self, "start_server")
        layout.prop(self, "output_location")
        layout.operator("deflicker.refresh_parameters", icon="FILE_REFRESH")


def add_menu_entry(self, context):
    if getattr(context.space_data, "tree_type", "") == "CompositorNodeTree":
        op = self.layout.operator("node.add_node", text="Deflicker", icon="SEQ_HISTOGRAM")
        op.type = deflicker_node.IDNAME
        op.use_transform = True

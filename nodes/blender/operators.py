# SPDX-License-Identifier: GPL-3.0-or-later
"""Analyse / Render / Cancel / Refresh Parameters, for the active Deflicker node (or one named).

Analyse and Render start a job and return at once; a timer polls it (runtime.Runner.tick).
Problems found before the job starts are reported by the operator itself; a job's own end
(failure, cancel, success) is reported through DEFLICKER_OT_report, since the operator is gone.
"""
import bpy

from . import node as deflicker_node, paths, runtime, sources, state, tree as trees


def addon_session():
    return state.session


def settings(context):
    """The add-on preferences (defaults when the add-on was registered without them, e.g. in tests)."""
    prefs = state.prefs(context)
    if prefs is None:
        return runtime.Settings()
    return runtime.Settings(prefs.address.strip() or None, prefs.start_server, prefs.output_location)


def edited_tree(context):
    """The compositor tree the user is looking at (a group they entered), else the scene's."""
    space = context.space_data
    tree = getattr(space, "edit_tree", None) if getattr(space, "type", "") == "NODE_EDITOR" else None
    if tree is not None and tree.bl_idname == "CompositorNodeTree":
        return tree
    return trees.compositor_tree(context.scene)


def target(context, name=""):
    """(scene, tree, node) for the Deflicker node called `name`, or the active one; node None if none."""
    scene = context.scene
    tree = edited_tree(context)
    if tree is None:
        return scene, None, None
    node = tree.nodes.get(name) if name else tree.nodes.active
    return scene, tree, node if deflicker_node.is_deflicker(node) else None


def report_later(level, message):
    """Report from a timer: through an operator, which puts it in the status bar and the Info log."""
    print(message)
    try:
        bpy.ops.deflicker.report(level=level, message=message)
    except RuntimeError:
        pass  # an ERROR report also raises here after being shown; the message is out


class StartJob(object):
    """Shared by Analyse and Render."""

    bl_options = {"REGISTER"}
    action = runtime.RENDER

    node: bpy.props.StringProperty(name="Node", description="The Deflicker node (default: the active node)",
                                   options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return addon_session() is not None and edited_tree(context) is not None

    def execute(self, context):
        scene, tree, node = target(context, self.node)
        if node is None:
            self.report({"ERROR"}, "Deflicker: select a Deflicker node in the compositor (Add > Filter > Deflicker)")
            return {"CANCELLED"}
        try:
            runner = addon_session().start(scene, tree, node, self.action, settings(context), report_later)
        except (sources.MediaError, paths.LocationError, OSError) as error:
            self.report({"ERROR"}, "Deflicker: {}".format(error))
            return {"CANCELLED"}
        bpy.app.timers.register(runner.timer, first_interval=runtime.POLL_SECONDS)
        plan = runner.task.plan
        self.report({"INFO"}, "Deflicker: {} frames {}-{} of {}".format(
            "analysing" if self.action == runtime.ANALYSE else "rendering", plan.frames.start, plan.frames.end,
            plan.source))
        return {"FINISHED"}


class DEFLICKER_OT_analyse(StartJob, bpy.types.Operator):
    """Analyse the source on the server (cached there), so Render and parameter changes are quick"""
    bl_idname = "deflicker.analyse"
    bl_label = "Analyse"
    action = runtime.ANALYSE


class DEFLICKER_OT_render(StartJob, bpy.types.Operator):
    """Deflicker the frame range and show the result through the node"""
    bl_idname = "deflicker.render"
    bl_label = "Render"
    action = runtime.RENDER


class DEFLICKER_OT_cancel(bpy.types.Operator):
    """Stop the node's job; the server leaves no partial output and the node tree stays as it was"""
    bl_idname = "deflicker.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    node: bpy.props.StringProperty(name="Node", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return addon_session() is not None and edited_tree(context) is not None

    def execute(self, context):
        scene, tree, node = target(context, self.node)
        runner = addon_session().runner(scene, tree, node) if node is not None else None
        if runner is None or runner.finished:
            self.report({"WARNING"}, "Deflicker: nothing is running for this node")
            return {"CANCELLED"}
        runner.cancel()
        return {"FINISHED"}


class DEFLICKER_OT_refresh(bpy.types.Operator):
    """Ask the server for the effect's parameters again (after the server was updated)"""
    bl_idname = "deflicker.refresh_parameters"
    bl_label = "Refresh Parameters"
    bl_options = {"REGISTER"}

    def execute(self, context):
        address = settings(context).address
        effect = addon_session().refresh_effect(address)
        if effect is None:
            from .messages import no_server
            self.report({"ERROR"}, "Deflicker: " + no_server(address))
            return {"CANCELLED"}
        self.report({"INFO"}, "Deflicker: {} parameters from the server at {}".format(len(effect.params), address))
        return {"FINISHED"}


class DEFLICKER_OT_report(bpy.types.Operator):
    """Show a message from a finished job"""
    bl_idname = "deflicker.report"
    bl_label = "Deflicker Message"
    bl_options = {"INTERNAL"}

    level: bpy.props.EnumProperty(items=[(k, k.title(), "") for k in ("INFO", "WARNING", "ERROR")])
    message: bpy.props.StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


CLASSES = (DEFLICKER_OT_analyse, DEFLICKER_OT_render, DEFLICKER_OT_cancel, DEFLICKER_OT_refresh,
           DEFLICKER_OT_report)

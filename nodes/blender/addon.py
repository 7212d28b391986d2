# SPDX-License-Identifier: GPL-3.0-or-later
"""Registering the add-on: preferences, operators, panel, menu entry, and the node class built from the
effect description (re-registered when a server describes other parameters)."""
import bpy

from . import effect_props, node as deflicker_node, operators, panel, paths, runtime, state

MENU = "NODE_MT_category_compositor_filter"


def session():
    return state.session


def _prefs_address():
    prefs = state.prefs(bpy.context)
    return runtime.Settings(prefs.address.strip() if prefs is not None else None).address


def _node_class():
    return bpy.types.Node.bl_rna_get_subclass_py(deflicker_node.IDNAME)


def _register_node_class(effect):
    """Replace the node class by one with `effect`'s parameters; existing nodes keep their values."""
    old = _node_class()
    if old is not None:
        bpy.utils.unregister_class(old)
    bpy.utils.register_class(deflicker_node.make_class(effect_props.specs(effect), effect_props.preset_fills(effect)))


@bpy.app.handlers.persistent
def _cancel_on_load(*_):
    if state.session is not None:
        state.session.cancel_all()


def register():
    panel.DeflickerPreferences.bl_idname = __package__
    bpy.utils.register_class(panel.DeflickerPreferences)
    cache_path = paths.effect_cache_path()
    effect = effect_props.load_effect(_prefs_address(), cache_path)
    state.session = runtime.Session(effect, cache_path, _register_node_class)
    _register_node_class(effect)
    for cls in operators.CLASSES:
        bpy.utils.register_class(cls)
    bpy.utils.register_class(panel.NODE_PT_deflicker)
    getattr(bpy.types, MENU).append(panel.add_menu_entry)
    bpy.app.handlers.load_pre.append(_cancel_on_load)


def unregister():
    if state.session is not None:
        state.session.cancel_all()
    state.session = None
    if _cancel_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_cancel_on_load)
    getattr(bpy.types, MENU).remove(panel.add_menu_entry)
    bpy.utils.unregister_class(panel.NODE_PT_deflicker)
    for cls in reversed(operators.CLASSES):
        bpy.utils.unregister_class(cls)
    node_class = _node_class()
    if node_class is not None:
        bpy.utils.unregister_class(node_class)
    bpy.utils.unregister_class(panel.DeflickerPreferences)

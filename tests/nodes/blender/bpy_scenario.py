# SPDX-License-Identifier: Apache-2.0
"""Runs inside a `bpy` venv's Python (not collected by pytest): the add-on for real, headless.

    python bpy_scenario.py SCENARIO ARGS.json

Writes what it observed to args["result"] (JSON); the pytest side asserts on it and on the files.
Scenarios: "node" (errors, cancel, analyse, render, compositor render, re-registration),
"frames" (Blender's frame mapping against sources.SourceMap), "installed" (the installed extension),
"ui" (every draw function against Blender's UILayout RNA).
"""
import json
import os
import sys
import time

import bpy


def snapshot(tree):
    """Everything an error must leave alone: nodes, their settings, links, the Deflicker nodes' insides."""
    def props(node):
        out = {}
        for prop in node.bl_rna.properties:
            key = prop.identifier
            if key in ("rna_type", "select", "dimensions", "inputs", "outputs", "internal_links", "layer", "view"):
                continue
            value = getattr(node, key, None)
            out[key] = value.name if hasattr(value, "name") and hasattr(value, "users") else repr(
                tuple(value) if hasattr(value, "__len__") and not isinstance(value, str) else value)
        return out

    state = {"nodes": {n.name: props(n) for n in tree.nodes},
             "links": sorted((l.from_node.name, l.from_socket.identifier, l.to_node.name, l.to_socket.identifier)
                             for l in tree.links),
             "images": sorted(i.name for i in bpy.data.images)}
    for node in tree.nodes:
        if getattr(node, "node_tree", None) is not None:
            state["group " + node.name] = snapshot(node.node_tree)
    return state


def compositor_setup(scene, width, height, first, last):
    from deflicker_nodes.blender import tree as trees
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = first, last
    scene.view_settings.view_transform = "Standard"  # so PNG out == PNG in where the compositor is identity
    scene.view_settings.look = "None"
    scene.render.use_compositing = True
    scene.render.use_sequencer = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "8"
    tree = trees.ensure_compositor_tree(scene)
    for node in list(tree.nodes):
        if node.bl_idname == "CompositorNodeRLayers":  # no 3D render needed: keeps each frame instant
            tree.nodes.remove(node)
    return tree


def set_params(node, values):
    for name, value in values.items():
        setattr(node, "fx_" + name, value)


def node_scenario(args, out):
    import deflicker_nodes.blender as package
    os.environ["DEFLICKER_ADDRESS"] = args["dead_address"]   # no server, no cache: no parameters yet
    package.register()
    from deflicker_nodes.blender import addon, headless, node as dnode, tree as trees

    out["params_without_server"] = addon.session().effect
    try:
        bpy.ops.deflicker.refresh_parameters()
        out["refresh_without_server"] = None
    except RuntimeError as error:
        out["refresh_without_server"] = str(error)
    os.environ["DEFLICKER_ADDRESS"] = args["address"]
    out["refresh"] = sorted(bpy.ops.deflicker.refresh_parameters())
    effect = addon.session().effect
    out["registered_params"] = [] if effect is None else effect.names()
    node_class = bpy.types.Node.bl_rna_get_subclass_py(dnode.IDNAME)
    out["fx_props"] = {p.identifier: {"default": p.default, "min": getattr(p, "hard_min", None),
                                      "max": getattr(p, "hard_max", None), "name": p.name}
                       for p in node_class.bl_rna.properties if p.identifier.startswith("fx_")}

    scene = bpy.context.scene
    tree = compositor_setup(scene, args["width"], args["height"], args["first"], args["last"])
    node = tree.nodes.new(dnode.IDNAME)
    image = bpy.data.images.load(args["source_first_file"])
    image.source = "SEQUENCE"
    node.image = image                      # the update sets the offset from the files on disk
    out["auto_offset"] = node.frame_offset
    node.frame_start = args["frame_start"]
    node.handles = args["handles"]
    set_params(node, args["params"])
    presets = out["presets"] = {}
    for name in ("processed", "auto"):          # the property's update fills what the preset sets
        node.fx_preset = name
        presets[name] = node.fx_appearance
    out["output_linked_before"] = node.outputs[0].is_linked

    # --- errors: each reported, each leaving the tree exactly as it was
    errors = out["errors"] = {}
    node.use_scene_range = False
    node.frame_first, node.frame_last = args["first"] - 4, args["last"]
    before = snapshot(tree)
    try:
        bpy.ops.deflicker.render(node=node.name)
        errors["range_operator"] = None
    except RuntimeError as error:
        errors["range_operator"] = str(error)
    errors["range_unchanged"] = snapshot(tree) == before
    node.use_scene_range = True

    before = snapshot(tree)
    for key, start_server in (("no_server", False), ("no_server_start", True)):
        t0 = time.monotonic()
        status = headless.run(scene, node, address=args["dead_address"], start_server=start_server, timeout=60)
        errors[key] = {"state": status.state, "message": status.message, "seconds": time.monotonic() - t0}
    errors["no_server_unchanged"] = snapshot(tree) == before

    # --- cancel: at once, and in the middle of the analysis
    cancels = out["cancels"] = {}
    set_params(node, args["slow_params"])
    before = snapshot(tree)
    runner = headless.start(scene, node, address=args["address"])
    runner.cancel()
    cancels["at_once"] = headless.pump(runner, timeout=60).state
    runner = headless.start(scene, node, address=args["address"])
    states = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        delay = runner.tick()
        states.append(runner.status.state)
        if delay is None or (runner.status.state in ("analysing", "rendering") and runner.status.fraction > 0):
            break
        time.sleep(delay)
    runner.cancel()
    cancels["midway"] = headless.pump(runner, timeout=60).state
    cancels["states_before_cancel"] = sorted(set(states))
    cancels["unchanged"] = snapshot(tree) == before
    cancels["output_exists"] = os.path.exists(runner.task.plan.output)
    set_params(node, args["params"])

    # --- analyse through the operator (the timer it registers never fires here: pump it)
    bpy.ops.deflicker.analyse(node=node.name)
    session = addon.session()
    runner = session.runner(scene, tree, node)
    out["analyse_timer_registered"] = bpy.app.timers.is_registered(runner.timer)
    status = headless.pump(runner, timeout=120)
    out["analyse"] = {"state": status.state, "message": status.message, "summary": runner.summary}
    bpy.app.timers.unregister(runner.timer)

    # --- render, then the compositor renders the scene through the node
    node.image.alpha_mode = "PREMUL"         # not Blender's guess for a PNG: the result must follow the source
    t0 = time.monotonic()
    runner = headless.start(scene, node, address=args["address"])
    status = headless.pump(runner, timeout=120)
    out["render"] = {"state": status.state, "message": status.message, "summary": runner.summary,
                     "seconds": time.monotonic() - t0, "output": runner.task.plan.output,
                     "start": runner.task.plan.start, "stop": runner.task.plan.stop}
    inner = dnode.result_node(node)
    out["inner"] = {"image": inner.image.filepath if inner.image else None,
                    "source": inner.image.source if inner.image else None, "frame_start": inner.frame_start,
                    "frame_offset": inner.frame_offset, "frame_duration": inner.frame_duration}
    out["colour"] = {"source": [node.image.colorspace_settings.name, node.image.alpha_mode],
                     "result": [inner.image.colorspace_settings.name, inner.image.alpha_mode]}
    from deflicker_nodes.blender import runtime
    node.image.colorspace_settings.name = "Linear Rec.709"    # e.g. a linear PNG sequence
    runtime.match_colour(inner.image, node.image)
    out["colour"]["relinked"] = inner.image.colorspace_settings.name
    out["colour"]["params"] = runtime.make_node_plan(scene, node, runtime.Settings(args["address"]),
                                                     addon.session().effect, runtime.ANALYSE).params["colorspace"]
    node.image.colorspace_settings.name = "sRGB"
    target = trees.output_input(tree)
    out["output_fed_by"] = [l.from_node.name for l in target.links] if target is not None else None
    scene.render.filepath = os.path.join(args["render_dir"], "o_####")
    t0 = time.monotonic()
    bpy.ops.render.render(animation=True)
    out["compositor_seconds"] = time.monotonic() - t0

    # --- the same footage as a movie file, through a Movie Clip placed by its own Start Frame
    clip = bpy.data.movieclips.load(args["movie"])
    clip.frame_start = args["frame_start"]
    node.source_type, node.clip = "CLIP", clip
    runner = headless.start(scene, node, address=args["address"])
    status = headless.pump(runner, timeout=120)
    inner = dnode.result_node(node)
    out["clip_render"] = {"state": status.state, "message": status.message, "image": inner.image.filepath,
                          "frame_start": inner.frame_start, "frame_offset": inner.frame_offset,
                          "frame_duration": inner.frame_duration}
    scene.render.filepath = os.path.join(args["render_dir"], "clip", "o_####")
    bpy.ops.render.render(animation=True)

    # --- no server any more: the node class comes back from the cached description, values kept
    name = node.name
    del node, inner, runner  # Python objects of an unregistered node class must not be touched again
    package.unregister()
    os.environ["DEFLICKER_ADDRESS"] = args["dead_address"]
    t0 = time.monotonic()
    package.register()
    out["reregister_seconds"] = time.monotonic() - t0
    node = tree.nodes[name]
    out["reregistered_params"] = addon.session().effect.names() if addon.session().effect else []
    out["values_after_reregister"] = {name: getattr(node, "fx_" + name) for name in args["params"]}
    out["is_deflicker_after_reregister"] = dnode.is_deflicker(node)
    package.unregister()


def frames_scenario(args, out):
    """For each case: the file Blender shows at each scene frame vs the position SourceMap predicts."""
    from deflicker_nodes.blender import sources
    scene = bpy.context.scene
    tree = compositor_setup(scene, args["width"], args["height"], 1, 1)
    from deflicker_nodes.blender import tree as trees
    target = trees.output_input(tree)
    results = out["cases"] = []
    for case in args["cases"]:
        path = case["path"]
        if case["kind"] == "clip":
            clip = bpy.data.movieclips.load(path)
            clip.frame_start, clip.frame_offset = case["start"], case["offset"]
            shown = tree.nodes.new("CompositorNodeMovieClip")
            shown.clip = clip
            if clip.source == "SEQUENCE":
                smap = sources.clip_sequence(path, clip.frame_start, clip.frame_offset)
            else:
                smap = sources.movie(path, clip.frame_duration, clip.frame_start, clip.frame_offset)
        else:
            image = bpy.data.images.load(path)
            if case["sequence"]:
                image.source = "SEQUENCE"
            shown = tree.nodes.new("CompositorNodeImage")
            shown.image = image
            shown.frame_start, shown.frame_offset = case["start"], case["offset"]
            shown.frame_duration = case["count"]
            if image.source == "SEQUENCE":
                smap = sources.image_sequence(path, case["start"], case["offset"])
            else:
                smap = sources.movie(path, image.frame_duration, case["start"], case["offset"], image_user=True)
        tree.links.new(shown.outputs["Image"], target)
        seen = []
        for frame in range(smap.media_first, smap.media_first + 3):
            scene.frame_set(frame)
            scene.render.filepath = os.path.join(args["render_dir"], "c{}_{}.png".format(len(results), frame))
            bpy.ops.render.render(write_still=True)
            seen.append({"frame": frame, "predicted": smap.position(frame), "file": scene.render.filepath})
        results.append({"case": case, "first_frame": smap.first_frame, "count": smap.count, "seen": seen})
        tree.nodes.remove(shown)


class BareBlender(object):
    """Blender's own Python has neither pyzmq nor msgpack, but this bpy venv does: find them anywhere but
    in the venv's site-packages (so Blender's extension site-packages, where it installs wheels)."""

    NAMES = ("zmq", "msgpack")

    def find_spec(self, name, path=None, target=None):
        if name not in self.NAMES:
            return None
        import importlib.machinery
        import site
        venv = set(site.getsitepackages())
        spec = importlib.machinery.PathFinder.find_spec(name, [p for p in sys.path if p not in venv])
        if spec is None:
            raise ModuleNotFoundError("No module named {!r} (a bare Blender)".format(name), name=name)
        return spec


def installed_scenario(args, out):
    """The installed extension, enabled the way Blender enables it, with its vendored bridge; first
    with pyzmq made unimportable (what a bare Blender has), then as set up."""
    import addon_utils
    module = args["module"]
    sys.meta_path.insert(0, BareBlender())   # only the extension's wheels can provide pyzmq and msgpack
    sys.modules["zmq"] = None  # `import zmq` now fails, as when the wheels do not suit this platform
    addon_utils.enable(module, default_set=True, handle_error=None)
    out["blocked_node_registered"] = bpy.types.Node.bl_rna_get_subclass_py("DeflickerNode") is not None
    out["blocked_panel"] = hasattr(bpy.types, "NODE_PT_deflicker_missing")
    addon_utils.disable(module, default_set=True, handle_error=None)
    out["blocked_panel_after_disable"] = hasattr(bpy.types, "NODE_PT_deflicker_missing")
    del sys.modules["zmq"]

    addon_utils.enable(module, default_set=True, handle_error=None)
    from importlib import import_module
    deps = import_module(module + ".deps")
    out["bridge_module"] = deps.bridge.__name__
    out["bridge_file"] = deps.bridge.__file__
    out["top_level_bridge"] = [name for name in ("deflicker_bridge", "bridge") if name in sys.modules]
    import msgpack
    import zmq
    out["zmq_file"], out["msgpack_file"] = zmq.__file__, msgpack.__file__
    out["addon_folders_on_path"] = [p for p in sys.path if p.startswith(args["addon_dir"])]
    prefs = bpy.context.preferences.addons.get(module)
    out["has_prefs"] = prefs is not None and prefs.preferences is not None
    out["prefs"] = {"address": prefs.preferences.address, "start_server": prefs.preferences.start_server,
                    "output_location": prefs.preferences.output_location} if out["has_prefs"] else None
    out["node_registered"] = bpy.types.Node.bl_rna_get_subclass_py("DeflickerNode") is not None
    out["operators"] = [name for name in ("analyse", "render", "cancel", "refresh_parameters")
                        if hasattr(bpy.ops.deflicker, name)]
    out["panel"] = hasattr(bpy.types, "NODE_PT_deflicker")
    import importlib
    headless = importlib.import_module(module + ".headless")   # as docs/hosts/blender.md shows
    scene = bpy.context.scene
    tree = importlib.import_module(module + ".tree").ensure_compositor_tree(scene)
    node = tree.nodes.new("DeflickerNode")
    status = headless.run(scene, node, "render")
    out["headless_no_source"] = [status.state, status.message]
    del node
    addon_utils.disable(module, default_set=True, handle_error=None)
    out["node_after_disable"] = bpy.types.Node.bl_rna_get_subclass_py("DeflickerNode") is not None
    out["panel_after_disable"] = hasattr(bpy.types, "NODE_PT_deflicker")


class CheckedLayout(object):
    """Stands in for UILayout when no UI runs: every call and attribute the add-on uses is checked
    against the real UILayout RNA of this Blender (function, keyword names, icon names, data
    properties, operator ids and their properties) and recorded."""

    def __init__(self, calls, errors):
        self.calls, self.errors = calls, errors

    def __setattr__(self, name, value):
        if name in ("calls", "errors"):
            object.__setattr__(self, name, value)
        elif name not in bpy.types.UILayout.bl_rna.properties:
            self.errors.append("UILayout has no attribute " + name)

    def __getattr__(self, name):
        function = bpy.types.UILayout.bl_rna.functions.get(name)
        if function is None:
            self.errors.append("UILayout has no function " + name)
            return lambda *a, **k: CheckedLayout(self.calls, self.errors)

        def call(*args, **kwargs):
            params = function.parameters
            for key, value in kwargs.items():
                if key not in params:
                    self.errors.append("{}() has no parameter {}".format(name, key))
                elif params[key].type == "ENUM" and value not in params[key].enum_items.keys():
                    self.errors.append("{}({}={!r}) is not one of its enum items".format(name, key, value))
            if name in ("prop", "template_ID") and args[1] not in args[0].bl_rna.properties:
                self.errors.append("{}(): {} has no property {}".format(name, args[0], args[1]))
            self.calls.append((name, args[-1] if args else kwargs.get("text")))
            if name == "operator":
                return CheckedOperator(args[0], self.errors)
            return CheckedLayout(self.calls, self.errors)
        return call


class CheckedOperator(object):
    def __init__(self, idname, errors):
        module, op = idname.split(".")
        rna = getattr(getattr(bpy.ops, module), op).get_rna_type()
        object.__setattr__(self, "rna", rna)
        object.__setattr__(self, "errors", errors)

    def __setattr__(self, name, value):
        if name not in self.rna.properties:
            self.errors.append("operator {} has no property {}".format(self.rna.identifier, name))


def ui_scenario(args, out):
    """Every draw function of the add-on, in each state, against CheckedLayout."""
    import types
    import deflicker_nodes.blender as package
    package.register()
    from deflicker_nodes.blender import headless, node as dnode, panel
    calls, errors = [], []
    context = bpy.context
    scene = context.scene
    tree = compositor_setup(scene, 64, 48, 1, 10)

    def draw_panel():
        fake = types.SimpleNamespace(layout=CheckedLayout(calls, errors), draw_job=panel.NODE_PT_deflicker.draw_job)
        panel.NODE_PT_deflicker.draw(fake, context)

    draw_panel()                                    # no Deflicker node yet
    node = tree.nodes.new(dnode.IDNAME)
    tree.nodes.active = node
    for source_type, scene_range in (("IMAGE", True), ("CLIP", False)):
        node.source_type, node.use_scene_range = source_type, scene_range
        draw_panel()
        dnode.DeflickerNodeBase.draw_buttons(node, context, CheckedLayout(calls, errors))
        dnode.DeflickerNodeBase.draw_buttons_ext(node, context, CheckedLayout(calls, errors))
    node.source_type = "IMAGE"
    node.image = bpy.data.images.load(args["source_first_file"])
    node.image.source = "SEQUENCE"
    runner = headless.start(scene, node, address=args["dead_address"], start_server=False)
    draw_panel()                                    # busy: progress bar
    out["busy_state"] = runner.status.state
    out["final_state"] = headless.pump(runner, timeout=30).state
    draw_panel()                                    # finished: the message
    out["params_drawn_without_description"] = [c[1] for c in calls if c[0] == "prop" and c[1].startswith("fx_")]
    name = node.name
    del node, runner
    package.unregister()                            # a description in the cache: the parameters are drawn
    from deflicker_nodes.blender import paths
    os.makedirs(os.path.dirname(paths.effect_cache_path()), exist_ok=True)
    with open(paths.effect_cache_path(), "w") as handle:
        json.dump(args["described"], handle)
    package.register()
    tree.nodes.active = tree.nodes[name]
    draw_panel()
    out["params_drawn"] = [c[1] for c in calls if c[0] == "prop" and c[1].startswith("fx_")]
    prefs = types.SimpleNamespace(layout=CheckedLayout(calls, errors), bl_rna=panel.DeflickerPreferences.bl_rna)
    panel.DeflickerPreferences.draw(prefs, context)
    menu = types.SimpleNamespace(layout=CheckedLayout(calls, errors))
    panel.add_menu_entry(menu, types.SimpleNamespace(space_data=types.SimpleNamespace(tree_type="CompositorNodeTree")))
    out["calls"] = calls
    out["errors"] = errors
    out["node_icon_ok"] = dnode.DeflickerNodeBase.bl_icon in bpy.types.UILayout.bl_rna.functions["label"].parameters[
        "icon"].enum_items.keys()
    package.unregister()
    from deflicker_nodes.blender import missing
    missing.register(["zmq"])
    missing.NODE_PT_deflicker_missing.draw(types.SimpleNamespace(layout=CheckedLayout(calls, errors)), context)
    missing.unregister()
    out["errors_missing"] = errors[len(out["errors"]):]


def main():
    """Run one scenario and write its result; then leave at once: bpy 4.5 as a module hangs at exit
    while any class is still registered, so a failed scenario must not wait for finalization."""
    scenario, args_path = sys.argv[-2], sys.argv[-1]
    with open(args_path) as handle:
        args = json.load(handle)
    out = {"blender": bpy.app.version_string}
    code = 0
    try:
        {"node": node_scenario, "frames": frames_scenario, "installed": installed_scenario,
         "ui": ui_scenario}[scenario](args, out)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    else:
        with open(args["result"], "w") as handle:
            json.dump(out, handle, indent=1, default=repr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

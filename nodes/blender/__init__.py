# SPDX-License-Identifier: GPL-3.0-or-later
"""Deflicker for Blender's compositor: a Deflicker node and a sidebar panel (category "Deflicker").

The node's group passes the deflickered frames through (an Image node loading the server's result);
Analyse / Render run a `bridge.Job` against the deflicker server, polled from a timer, and Cancel
stops it. `headless.run(scene, node)` does the same synchronously where no event loop runs
(`bpy` as a module, `blender -b`).

Modules that touch `bpy`: addon, node, tree, runtime, operators, panel, headless, missing.
The others (effect_props, sources, plan, paths, messages, task, deps, state) are plain Python, tested
without Blender. Dependencies: deps.py (the bundled bridge; pyzmq and msgpack from the manifest's wheels). Nothing is imported or done until Blender calls `register()`.
"""

bl_info = {
    "name": "Deflicker",
    "author": "Deflicker team",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "Compositor > Add > Filter > Deflicker; Sidebar (N) > Deflicker",
    "description": "Blind video deflickering: a compositor node backed by the deflicker server",
    "category": "Compositing",
}


def register():
    from . import deps
    missing = deps.missing_modules()
    if missing:
        from . import missing as missing_ui  # a panel that says how to get pyzmq and msgpack
        missing_ui.register(missing)
        return
    deps.bridge = deps.load_bridge()  # now importable (deps may have been imported while it was not)
    from . import addon
    addon.register()


def unregister():
    from . import missing
    if missing.registered():
        missing.unregister()
    else:
        from . import addon
        addon.unregister()

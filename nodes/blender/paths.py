# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the add-on keeps things: the effect description cache and each node's output folder.

Outputs go under the user's cache (`<cache>/deflicker/blender/<blend>/<scene>/<node>/`) or beside the
.blend (`//deflicker/<scene>/<node>/`). The server writes a node's folder as a whole (atomically), so
the folder holds nothing else, and its parent is handed to the server as a root.
"""
import os
import re
import sys

CACHE, BLEND = "CACHE", "BLEND"


class LocationError(Exception):
    """The output location cannot be used (an unsaved .blend with 'beside the .blend')."""


def user_cache_dir(environ=None, platform=None, home=None):
    """The platform's per-user cache folder: XDG_CACHE_HOME or ~/.cache, ~/Library/Caches, %LOCALAPPDATA%."""
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    home = home or os.path.expanduser("~")
    if platform == "darwin":
        return os.path.join(home, "Library", "Caches")
    if platform.startswith("win"):
        return environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    return environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")


def addon_cache_dir(environ=None, platform=None, home=None):
    return os.path.join(user_cache_dir(environ, platform, home), "deflicker", "blender")


def effect_cache_path(environ=None, platform=None, home=None):
    """The last effect description a server gave (the node's parameters when no server answers)."""
    return os.path.join(addon_cache_dir(environ, platform, home), "effect.json")


def safe_name(text):
    """A file-system-safe folder name for a Blender name (scene, node, .blend)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned or "unnamed"


def output_base(location, blend_path, cache_dir=None):
    """The folder the server may write into (a root) for this .blend."""
    if location == BLEND:
        if not blend_path:
            raise LocationError("the .blend is not saved, so there is no folder beside it: save it, or set "
                                "Output to 'User cache' in the add-on preferences")
        return os.path.join(os.path.dirname(os.path.abspath(blend_path)), "deflicker")
    stem = os.path.splitext(os.path.basename(blend_path))[0] if blend_path else "untitled"
    return os.path.join(cache_dir or addon_cache_dir(), safe_name(stem))


def output_folder(base, scene_name, node_name):
    """One node's result folder, replaced as a whole by each render."""
    return os.path.join(base, safe_name(scene_name), safe_name(node_name))

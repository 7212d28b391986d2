# SPDX-License-Identifier: Apache-2.0
"""What one button press will do, decided and checked before anything is rendered or sent.

A `Request` is what the node's knobs and Nuke say (range, handles, the input's frames, proxy mode,
parameters); `make_plan` turns it into a `Plan` (frames with handles, the folders, the output
pattern) or raises `PlanError` with a message for the user. Nothing here touches Nuke or the disk.
"""
import os
import re
import time
from typing import Dict, Optional

import deflicker_bridge as bridge

CACHE_ENV = "DEFLICKER_NUKE_CACHE"
ADDRESS_ENV = "DEFLICKER_ADDRESS"
ANALYSE, RENDER = "analyse", "render"

PROXY_MESSAGE = ("proxy mode is on, so the input would be exported at proxy resolution and the result "
                 "would not match the full-resolution frames. Turn proxy mode off (Ctrl/Cmd+P, or "
                 "Project Settings > proxy mode) and press the button again.")


DEFAULT_RESULTS = "deflicker"
SCRIPT_DIR = "[file dirname [value root.name]]"  # Nuke expands this in file knobs: the script's folder


def results_base(script_path: str, setting: str, environ=os.environ) -> str:
    """Where a node keeps its exported input and results: `setting` relative to the script's folder (so
    farm machines and other artists find them beside the script), or absolute; the user cache for an
    unsaved script or an empty setting."""
    setting = os.path.expanduser((setting or "").strip())
    if setting and os.path.isabs(setting):
        return os.path.normpath(setting)
    if not setting or not script_path:
        return cache_base(environ)
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(script_path)), setting))


def script_relative(path: str, script_path: str) -> str:
    """`path` (forward slashes) written relative to the script's folder with Nuke's own expression when it
    lies inside it, so the script and its results can move together; else unchanged."""
    if not script_path:
        return path
    folder = os.path.dirname(script_path).rstrip("/")
    if folder and path.startswith(folder + "/"):
        return SCRIPT_DIR + path[len(folder):]
    return path


def with_colorspace(params: Dict[str, object], colorspace: str) -> Dict[str, object]:
    """An empty `colorspace` parameter (left to the host) set to the exported frames' colour space."""
    if "colorspace" not in params or params["colorspace"] or not colorspace:
        return dict(params)
    return dict(params, colorspace=colorspace)


class PlanError(Exception):
    """The request cannot run; the message says why and what to do."""


def default_address(environ=os.environ) -> str:
    return environ.get(ADDRESS_ENV) or bridge.DEFAULT_ADDRESS


def cache_base(environ=os.environ) -> str:
    """Where every node keeps its frames: $DEFLICKER_NUKE_CACHE, else <XDG cache or ~/.cache>/deflicker/nuke."""
    explicit = environ.get(CACHE_ENV)
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "deflicker", "nuke")


def server_roots(base: str, home: Optional[str] = None) -> tuple:
    """The folders a server started by the node may read and write: the user's home (where other hosts'
    media usually is) and the node cache when it lies elsewhere."""
    home = os.path.abspath(home or os.path.expanduser("~"))
    inside = os.path.commonpath([home, os.path.abspath(base)]) == home
    return (home,) if inside else (home, os.path.abspath(base))


def safe_name(text: str, fallback: str = "untitled") -> str:
    """A folder name from a script or node name: letters, digits, '.', '_' and '-' only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text or "").strip("._")
    return cleaned or fallback


def script_stem(script_path: str) -> str:
    """`/shots/a/comp_v003.nk` -> `comp_v003`; an unsaved script (empty name) -> `untitled`."""
    stem = os.path.basename(script_path or "")
    if stem.lower().endswith(".nk"):
        stem = stem[:-3]
    return safe_name(stem)


class Folders(object):
    """The per-node cache folder `<base>/<script>/<node>/`: `staging/` (what the internal Write
    renders), `input/` (the frames the server reads), `result/` (what the server writes)."""

    def __init__(self, base: str, script_path: str, node_name: str):
        self.base = base
        self.root = os.path.join(base, script_stem(script_path), safe_name(node_name, "Deflicker"))
        self.staging = os.path.join(self.root, "staging")
        self.inputs = os.path.join(self.root, "input")
        self.results = os.path.join(self.root, "result")

    @property
    def staging_pattern(self) -> str:
        return os.path.join(self.staging, "input.%04d.exr")

    @property
    def input_pattern(self) -> str:
        return os.path.join(self.inputs, "input.%04d.exr")

    def result_pattern(self, token: str) -> str:
        return os.path.join(self.results, "result_{}.%04d.exr".format(token))


def new_token() -> str:
    """A name part that differs between renders, so Nuke never shows a cached frame of an old result."""
    return "{:x}".format(int(time.time() * 1000))


class Request(object):
    """What a button press asks for, as read from the node and Nuke."""

    def __init__(self, kind: str, node_name: str, has_input: bool, media_first: int, media_last: int,
                 use_input_range: bool, first: int, last: int, handles: int, proxy: bool,
                 params: Dict[str, object], address: str, start_server: bool):
        self.kind, self.node_name, self.has_input = kind, node_name, has_input
        self.media_first, self.media_last = media_first, media_last
        self.use_input_range, self.first, self.last, self.handles = use_input_range, first, last, handles
        self.proxy, self.params, self.address, self.start_server = proxy, params, address, start_server


class Plan(object):
    """Frames `range.start..range.end` (handles included) exported to `folders.input_pattern`;
    analysed, and rendered to `output` (a pattern numbered like the input) unless `output` is None."""

    def __init__(self, kind: str, frames: "bridge.HandleRange", folders: Folders, output: Optional[str],
                 token: str, params: Dict[str, object], address: str, start_server: bool):
        self.kind, self.range, self.folders, self.output, self.token = kind, frames, folders, output, token
        self.params, self.address, self.start_server = params, address, start_server

    @property
    def source(self) -> str:
        return self.folders.input_pattern

    def describe(self) -> str:
        """"frames 1003-1010 (handles 2+2)" for status lines."""
        r = self.range
        return "frames {}-{} (handles {}+{})".format(r.first, r.last, r.head, r.tail)


def make_plan(request: Request, folders: Folders, token: str) -> Plan:
    """Check the request and decide the frames: the input's range or the node's, widened by handles
    the input really has. Raises PlanError with a message for the user."""
    if not request.has_input:
        raise PlanError("{} has no input: connect the clip to deflicker to its input.".format(request.node_name))
    if request.proxy:
        raise PlanError(PROXY_MESSAGE)
    if not request.address.strip():
        raise PlanError("the server address is empty: enter one, e.g. {}.".format(bridge.DEFAULT_ADDRESS))
    first, last = ((request.media_first, request.media_last) if request.use_input_range
                   else (request.first, request.last))
    try:
        frames = bridge.with_handles(first, last, request.handles, request.media_first, request.media_last)
    except bridge.RangeError as error:
        hint = "" if request.use_input_range else " Change the frame range or turn on 'use input range'."
        raise PlanError("{}.{}".format(error, hint))
    if frames.count < 2:
        raise PlanError("only one frame ({}) to deflicker: flicker is a change between frames, so the "
                        "range needs at least two.".format(frames.start))
    output = folders.result_pattern(token) if request.kind == RENDER else None
    return Plan(request.kind, frames, folders, output, token, dict(request.params), request.address.strip(),
                request.start_server)

# SPDX-License-Identifier: Apache-2.0
"""Entry points: `launch(globals())` from Workspace > Scripts, `main(argv)` from a terminal.

Inside Resolve a script finds `resolve` (and `fu`/`fusion`, `bmd`, `app`) among its globals;
outside, `DaVinciResolveScript.scriptapp("Resolve")` reaches a running Resolve Studio when
RESOLVE_SCRIPT_API / RESOLVE_SCRIPT_LIB are set and external scripting is allowed.
"""
import argparse
import os
import sys

import deflicker_bridge as bridge

from . import dialog, logic, run as runs, window
from .edit import has

BLOCKED = ("Deflicker: the free DaVinci Resolve {} shows no windows of third-party scripts (Resolve Studio "
           "does), so the script runs here in the console (Workspace > Console) with its defaults: the clip under "
           "the playhead, {} handle frames, the server at {} and the server's default parameters. Progress "
           "follows below; the result is placed on the track above as usual.\n")


def find_resolve(namespace):
    """The Resolve object from a script's globals, from Fusion, or through DaVinciResolveScript."""
    resolve = namespace.get("resolve")
    if resolve is not None:
        return resolve
    for key in ("fu", "fusion", "app"):
        host = namespace.get(key)
        if has(host, "GetResolve"):
            resolve = host.GetResolve()
            if resolve is not None:
                return resolve
    bmd = namespace.get("bmd")
    if has(bmd, "scriptapp"):
        resolve = bmd.scriptapp("Resolve")
        if resolve is not None:
            return resolve
    try:
        import DaVinciResolveScript
    except ImportError:
        return None
    return DaVinciResolveScript.scriptapp("Resolve")


def blocked_windows(resolve):
    product = resolve.GetProductName() if has(resolve, "GetProductName") else ""
    version = resolve.GetVersion() if has(resolve, "GetVersion") else None
    return logic.windows_blocked(product, version)


def version_text(resolve):
    return resolve.GetVersionString() if has(resolve, "GetVersionString") else ""


def effect_cache(options):
    return os.path.join(options.cache_dir, "effect.json")


def describe(options):
    """(bridge.Effect or None, a note for the window) from the server, or from the last one seen."""
    try:
        return bridge.describe_effect(options.address, effect_cache(options), start=False), ""
    except (bridge.BridgeError, OSError, ValueError) as error:
        return None, "Effect parameters: the server's defaults ({}).".format(error)


def launch(namespace, options=None, make_job=None):
    """Open the Deflicker window (or run in the console when Resolve's UI is not available)."""
    options = options or runs.Options()
    resolve = find_resolve(namespace)
    if resolve is None:
        dialog.message(namespace, "Deflicker", "DaVinci Resolve is not reachable from this script.")
        return 2
    fusion, bmd = dialog.find_ui(namespace)
    controller = window.Controller(resolve, make_job)
    if fusion is not None and blocked_windows(resolve):
        sys.stdout.write(BLOCKED.format(version_text(resolve), options.handles, options.address))
        fusion = None
    if fusion is None:
        return window.console(controller, host_colorspace(options))
    effect, note = describe(options)
    window.Window(controller, fusion, bmd, options, effect, note).exec_()
    return 0


def host_colorspace(options):
    """Let each clip's own colour space through (logic.clip_params) when the server has the parameter and the
    user did not name one: the window does this with its Colour space field, the console here."""
    effect, _ = describe(options)
    names = effect.names() if effect is not None else []
    if "colorspace" in names:
        options.params.setdefault("colorspace", "")
    return options


def parse_value(text):
    """A --param value as the server expects it: true/false, an integer, a number, else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false", "yes", "no", "on", "off"):
        return lowered in ("true", "yes", "on")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="Deflicker.py", description="Deflicker timeline clips of the running DaVinci Resolve (Studio) and "
        "place the results on the track above.")
    parser.add_argument("--track", type=int, help="deflicker every clip on this video track (1-based); "
                        "default: the clip under the playhead")
    parser.add_argument("--handles", type=int, default=runs.DEFAULT_HANDLES,
                        help="extra source frames each side for temporal context (default %(default)s)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="an effect parameter (repeatable); `deflicker serve` lists them with describe")
    parser.add_argument("--server", default=bridge.DEFAULT_ADDRESS, help="server address (default %(default)s)")
    parser.add_argument("--no-start", action="store_true", help="never start a server; use a running one")
    parser.add_argument("--cache-dir", help="results folder when the media's folder is read-only")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error("--param takes NAME=VALUE, got {!r}".format(item))
        params[name.strip()] = parse_value(value)
    return runs.Options(mode="track" if args.track else "current", track=args.track or 1, handles=args.handles,
                        params=params, address=args.server, auto_start=not args.no_start, cache_dir=args.cache_dir)


def main(argv=None, make_job=None, out=None):
    """Outside Resolve: run once in the console; 0 when every clip was placed."""
    options = parse_args(argv if argv is not None else sys.argv[1:])
    resolve = find_resolve({})
    if resolve is None:
        (out or sys.stdout).write(
            "Deflicker: no running DaVinci Resolve answers. Start Resolve Studio, set Preferences > System > General > "
            "External scripting using: Local, and set RESOLVE_SCRIPT_API / RESOLVE_SCRIPT_LIB / PYTHONPATH as "
            "docs/hosts/resolve.md says.\n")
        return 2
    return window.console(window.Controller(resolve, make_job), host_colorspace(options), out=out)

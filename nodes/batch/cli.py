"""`deflicker batch SHOT... [--server ADDR] [-o OUTDIR] [--list FILE] [--param NAME=VALUE ...]`.

Uses the server that answers at ADDR, or starts one here (with the shots' folders and OUTDIR as its
roots) and stops it at the end; with --ray ADDRESS|auto the shots go to a Ray cluster instead
(ray_farm.py, docs/farm.md). Exit code 0 when every shot is done or was already done, 1 when
any failed (the summary names each with its reason), 2 for a command line that names no shot,
130 on Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import deflicker_bridge as bridge

from . import ray_farm
from .manifest import Manifest
from . import reports
from .runner import make_display, run_batch, summary
from .shots import Shot, assign_outputs, collect

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def parse_params(pairs: List[str]) -> Dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise bridge.ParameterError(f"--param takes NAME=VALUE, got '{pair}'", "parameter")
        values[name.strip()] = value.strip()
    return values


def _roots(shots: List[Shot], outdir: Path) -> List[str]:
    folders = {str(outdir)}
    for shot in shots:
        source = Path(shot.source)
        folders.add(str(source if source.is_dir() else source.parent))
    return sorted(folders)


def _connect(args: argparse.Namespace, shots: List[Shot], outdir: Path):
    if args.no_start:
        return None, bridge.Connection(args.server, timeout=args.timeout, name="deflicker batch")
    handle = bridge.ensure_server(args.server, cache_dir=args.cache_dir, roots=_roots(shots, outdir),
                                  idle_exit=600)
    return handle, bridge.Connection(args.server, timeout=args.timeout, name="deflicker batch")


def batch(args: argparse.Namespace) -> int:
    outdir = Path(os.path.abspath(os.path.expanduser(args.output)))
    shots = collect(args.shots, args.list)
    if not shots and not args.list_params:
        print("deflicker batch: no shots given (pass files, folders, patterns or --list FILE)", file=sys.stderr)
        return EXIT_USAGE
    assign_outputs(shots, outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    report_dir = reports.prepare(args.report_dir)  # an unwritable DIR fails now, not after the shots
    if args.ray:
        return ray_farm.batch(args, shots, outdir, report_dir)
    handle, conn = _connect(args, shots, outdir)
    try:
        effect = conn.describe()
        if args.list_params:
            for p in effect.params:
                print(f"{p.name:14} {p.type:8} default {p.default!r:6} range [{p.min}, {p.max}]  ({p.group}) {p.help}")
            return EXIT_OK
        params: Dict[str, Any] = effect.coerce(parse_params(args.param))
        display = make_display(len(shots), args.quiet)  # bars on a terminal, plain lines in a farm log
        results = run_batch(conn, shots, params, Manifest(outdir), force=args.force, display=display)
    except KeyboardInterrupt:
        print("deflicker batch: interrupted; finished shots are kept, run the same command to resume",
              file=sys.stderr)
        return EXIT_CANCELLED
    except bridge.BridgeError as error:
        print(f"deflicker batch: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        conn.close()
        if handle is not None:
            handle.stop()
    print(summary(results))
    problems = reports.write_reports(report_dir, results, params, args.quiet) if report_dir else []
    for problem in problems:
        print(f"deflicker batch: no report for {problem}", file=sys.stderr)
    return EXIT_FAILED if problems or any(r.status == "failed" for r in results) else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shots", nargs="*", metavar="SHOT",
                        help="video file, frame folder, folder of shots, pattern (plate.%%04d.exr) or glob")
    parser.add_argument("--list", type=Path, action="append", default=[], metavar="FILE",
                        help="file naming one shot per line (repeatable)")
    parser.add_argument("-o", "--output", default="deflickered", metavar="OUTDIR",
                        help="where outputs go, mirroring each shot's form (default ./deflickered)")
    parser.add_argument("--server", default=bridge.DEFAULT_ADDRESS, metavar="ADDR",
                        help=f"server address (default {bridge.DEFAULT_ADDRESS}); one is started here if none answers")
    parser.add_argument("--no-start", action="store_true", help="fail instead of starting a server")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache folder of a server started here")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="effect parameter, e.g. strength=0.8 or atlas_steps=400 (see --list-params)")
    parser.add_argument("--list-params", action="store_true", help="print the effect's parameters and exit")
    parser.add_argument("--force", action="store_true", help="redo shots the output folder's manifest marks done")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the server to open a clip (default 120)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, only the summary")
    reports.add_arguments(parser)
    ray_farm.add_arguments(parser)


def register(subparsers) -> None:
    parser = subparsers.add_parser("batch", help="deflicker many shots through one server",
                                   description="Deflicker many shots (files, folders, patterns or a list file) "
                                               "through one resident server; resumable.")
    add_arguments(parser)
    parser.set_defaults(func=batch)

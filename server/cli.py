"""`deflicker serve` and `deflicker status` (also `python -m deflicker_server` for serve alone).

Roots: client paths must resolve inside them. Default, for a loopback bind only: the user's home
and the cache folder (any local process can read those anyway). A non-loopback bind must name its
roots with --root, and needs CurveZMQ keys (--curve-secret, --curve-clients).
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from deflicker_engine.errors import ParameterError

from .config import DEFAULT_BIND, DEFAULT_DISK_BUDGET_MB, MAX_FRAME_BYTES, Limits, ServerConfig, default_cache_dir
from .security import generate_keys, is_loopback


# ------------------------------------------------------------------------------------------ serve
def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", default=DEFAULT_BIND, help=f"ZeroMQ endpoint to listen on (default {DEFAULT_BIND}); "
                        "anything but loopback or ipc requires --curve-secret and --curve-clients")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"where analyses, spools and the log live (default {default_cache_dir()})")
    parser.add_argument("--device", default="auto", help="compute device: auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--memory-budget", type=int, default=4096, metavar="MB",
                        help="memory for the analysis chunks renders read (whatever analyses they belong to); "
                             "the least recently used go back to disk (default 4096)")
    parser.add_argument("--disk-budget", type=float, default=DEFAULT_DISK_BUDGET_MB, metavar="MB",
                        help="disk for analyses in the cache folder (finished and interrupted ones, one folder "
                             "each); the least recently used are deleted beyond it, never one a job is using "
                             f"(default {DEFAULT_DISK_BUDGET_MB}; 0 keeps an analysis only while jobs use it)")
    parser.add_argument("--root", type=Path, action="append", default=[], metavar="DIR",
                        help="folder client paths may read from and write to (repeatable; default for a loopback "
                             "bind: your home folder and the cache folder)")
    parser.add_argument("--curve-secret", type=Path, default=None, metavar="FILE",
                        help="the server's CurveZMQ secret key file (.key_secret, see --generate-keys)")
    parser.add_argument("--curve-clients", type=Path, default=None, metavar="DIR",
                        help="folder of authorised client public key files (.key)")
    parser.add_argument("--require-curve", action="store_true", help="use CurveZMQ even on a loopback bind")
    parser.add_argument("--generate-keys", type=Path, default=None, metavar="DIR",
                        help="write a server and a client key pair into DIR and exit")
    parser.add_argument("--client-timeout", type=float, default=10.0, metavar="S",
                        help="a client silent this long (no heartbeat) loses its jobs and clips (default 10)")
    parser.add_argument("--idle-exit", type=float, default=None, metavar="S",
                        help="exit after S seconds with no client, job or clip (servers started on demand)")
    parser.add_argument("--credit-timeout", type=float, default=30.0, metavar="S",
                        help="cancel a streamed render whose client has not asked for another frame for S seconds "
                             "(default 30)")
    parser.add_argument("--probe-timeout", type=float, default=60.0, metavar="S",
                        help="fail opening a clip whose files make no progress for S seconds (unresponsive storage; "
                             "default 60)")
    parser.add_argument("--max-frame-mb", type=float, default=MAX_FRAME_BYTES / (1 << 20), metavar="MB",
                        help="largest buffer one message part may carry; a client that sends more is disconnected "
                             f"(default {MAX_FRAME_BYTES / (1 << 20):.0f}: an 8K float32 RGBA frame)")
    parser.add_argument("--engine", default=None, metavar="MODULE:FACTORY",
                        help="use another engine adapter (tests and plug-ins; default: the deflicker engine)")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    cache_dir = (args.cache_dir or default_cache_dir()).expanduser().resolve()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ParameterError(f"cannot create the cache folder {cache_dir}: {error.strerror}") from None
    roots = tuple(Path(r).expanduser().resolve() for r in args.root)
    if not roots:
        if not is_loopback(args.bind):
            raise ParameterError(f"binding {args.bind} (reachable from other machines) needs explicit --root folders")
        roots = (Path.home().resolve(), cache_dir)
    for root in roots:
        if not root.is_dir():
            raise ParameterError(f"root {root} is not a folder")
    _check_option("--memory-budget", args.memory_budget, "at least 0 MB", lambda v: v >= 0)
    _check_option("--disk-budget", args.disk_budget, "at least 0 MB", lambda v: v >= 0)
    for option in ("--client-timeout", "--credit-timeout", "--probe-timeout", "--max-frame-mb"):
        _check_option(option, getattr(args, option[2:].replace("-", "_")), "positive", lambda v: v > 0)
    if args.idle_exit is not None:
        _check_option("--idle-exit", args.idle_exit, "positive", lambda v: v > 0)
    part = int(args.max_frame_mb * (1 << 20))
    if part < 1:
        raise ParameterError("--max-frame-mb must allow at least one byte")
    return ServerConfig(bind=args.bind, cache_dir=cache_dir, device=args.device, memory_budget_mb=args.memory_budget,
                        disk_budget_mb=args.disk_budget, roots=roots, curve_secret_file=args.curve_secret,
                        curve_clients_dir=args.curve_clients, require_curve=args.require_curve,
                        client_timeout=args.client_timeout, idle_exit=args.idle_exit,
                        credit_timeout=args.credit_timeout, probe_timeout=args.probe_timeout, engine=args.engine,
                        limits=Limits(max_part_bytes=part, max_message_bytes=2 * part))


def _check_option(option: str, value: float, wanted: str, ok) -> None:
    """argparse's float() takes "nan" and "inf"; a NaN passes every comparison, so refuse it by name."""
    if not math.isfinite(value) or not ok(value):
        raise ParameterError(f"{option} must be a finite number, {wanted}; got {value}")


def serve(args: argparse.Namespace) -> int:
    """Run a server in this process until shutdown, SIGTERM or Ctrl-C."""
    from . import logs
    from .app import Server
    from .ast_guard import serialise_ast_parsing

    if args.generate_keys:
        server_secret, client_secret = generate_keys(args.generate_keys)
        print(f"server key: {server_secret} (pass to --curve-secret; give clients {server_secret.with_suffix('.key')})")
        print(f"client key: {client_secret} (give to the client; put {client_secret.with_suffix('.key')} in the "
              "folder passed to --curve-clients)")
        return 0
    config = config_from_args(args)
    logs.configure(config.log_path, args.verbose)
    serialise_ast_parsing()       # before any of the server's threads start
    server = Server(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: server.request_stop(f"signal {number}"))
    server.run()
    return 0


def register_serve(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="run the resident deflicker server",
                                   description="Keep the networks and every clip's analysis resident and serve "
                                               "hosts (Nuke, Blender, Resolve, batch) over ZeroMQ.")
    add_serve_arguments(parser)
    parser.set_defaults(func=serve)


# ------------------------------------------------------------------------------------------ status
def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m}m {s}s" if h else (f"{m}m {s}s" if m else f"{s}s")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _unfinished(memory: Dict[str, Any]) -> str:
    count = memory.get("disk_unfinished", 0)
    return f" (+{count} unfinished, resumed when asked for)" if count else ""


def format_status(st: Dict[str, Any]) -> str:
    """The status a client may see: its own clips, jobs and session in full, other clients' as counts."""
    mem = st["memory"]
    others = st.get("others", {})
    disk_budget = mem.get("disk_budget")
    disk = _mb(mem["disk_bytes"]) + (f" of {_mb(disk_budget)}" if disk_budget is not None else "")
    lines = [f"{st['server']} at {st['endpoint']} (pid {st['pid']}, up {_duration(st['uptime'])}), "
             f"device {st['device']}",
             f"analyses: {len(mem['resident'])} open, {_count(mem.get('chunks', 0), 'chunk')} in memory "
             f"({_mb(mem['used'])} of {_mb(mem['budget'])}); {mem['disk_entries']} on disk"
             f"{_unfinished(mem)}, {_count(mem.get('disk_chunks', 0), 'chunk')} ({disk}) in {mem['folder']}",
             f"roots: {', '.join(st['roots']) or 'none'}"]
    gpu = st.get("device_memory")
    if gpu:
        lines.insert(1, f"{gpu['name']} ({gpu['device']}): {gpu['allocated_mb']} MB in tensors, "
                        f"{gpu['reserved_mb']} MB reserved, peak {gpu['peak_mb']} MB; {gpu['free_mb']} of "
                        f"{gpu['total_mb']} MB free")
    lines.append(f"clips ({len(st['clips'])}; other clients: {others.get('clips', 0)}):")
    for c in st["clips"]:
        shape = f"{c.get('width')}x{c.get('height')}x{c.get('channels')} {c.get('dtype')}"
        state = "" if c.get("ready") else f" (receiving: {c.get('received', 0)} frames)"
        lines.append(f"  {c['clip']}  {c.get('path') or c.get('origin')}  [{c.get('start')}, {c.get('stop')})  "
                     f"{shape}{state}")
    lines.append(f"jobs ({len(st['jobs'])}; other clients: {others.get('jobs', 0)}, "
                 f"{others.get('running', 0)} running):")
    for j in st["jobs"]:
        waiting = " (waiting for the client)" if j["waiting_for_client"] else ""
        lines.append(f"  {j['session']}:{j['id']}  {j['op']}  {j['state']}  {j['stage']} {j['done']}/{j['total']}"
                     f"{waiting}  {j['label']}")
    lines.append(f"sessions (this one; other clients: {others.get('sessions', 0)}):")
    for s in st["sessions"]:
        lines.append(f"  {s['session']}  {s['client'] or '?'}  idle {s['idle']:.1f}s")
    return "\n".join(lines)


def status(args: argparse.Namespace) -> int:
    from deflicker_bridge import Connection, CurveKeys, ServerUnavailable

    curve = None
    if args.curve_server_key or args.curve_client_key:
        if not (args.curve_server_key and args.curve_client_key):
            raise ParameterError("CurveZMQ needs both --curve-server-key and --curve-client-key")
        curve = CurveKeys.from_files(str(args.curve_server_key), str(args.curve_client_key))
    conn = Connection(args.server, timeout=args.timeout, heartbeat_timeout=max(args.timeout, 2.0), retries=0,
                      curve=curve, name="deflicker status")
    try:
        st = conn.status()
    except ServerUnavailable:
        print(f"deflicker: no server answers at {args.server}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(json.dumps(st, indent=1, default=str) if args.json else format_status(st))
    return 0


def register_status(subparsers) -> None:
    parser = subparsers.add_parser("status", help="show what a running server holds",
                                   description="Clips, analyses in memory and on disk, jobs, sessions, device.")
    parser.add_argument("--server", default=DEFAULT_BIND, metavar="ADDR",
                        help=f"server address (default {DEFAULT_BIND})")
    parser.add_argument("--json", action="store_true", help="print the raw status as JSON")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    parser.add_argument("--curve-server-key", type=Path, default=None, metavar="FILE", help="server public key file")
    parser.add_argument("--curve-client-key", type=Path, default=None, metavar="FILE", help="client secret key file")
    parser.set_defaults(func=status)


# ------------------------------------------------------------------------------------------ python -m deflicker_server
def main(argv: Optional[List[str]] = None) -> int:
    """`python -m deflicker_server [serve options]`: what bridge.ensure_server runs when no `deflicker` is on PATH."""
    from deflicker_engine.errors import DeflickerError

    parser = argparse.ArgumentParser(prog="python -m deflicker_server", description="Run the resident deflicker server.")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except DeflickerError as error:
        print(f"deflicker serve: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

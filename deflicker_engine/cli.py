"""The `deflicker` command: a thin dispatcher over subcommands that packages register.

Each package declares its subcommands in pyproject's `deflicker.commands` entry-point group as a
`register(subparsers)` function, so the engine never imports the server or the nodes.
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points
from typing import List, Optional

from .errors import Cancelled, DeflickerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deflicker",
        description="Blind video deflickering: remove brightness and colour flicker from a clip, "
                    "with no reference and no knowledge of its cause.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for entry in sorted(entry_points(group="deflicker.commands"), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError as error:  # a plugin whose optional dependencies are missing
            print(f"deflicker: warning: command '{entry.name}' unavailable ({error})", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    # OpenMP threads that spin while waiting make torch 40x slower when the cores are shared (a render
    # farm node, a host app beside us); passive waiting costs nothing when they are not. Must precede torch.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or EXIT_OK)
    except Cancelled:
        print("deflicker: cancelled, nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("deflicker: interrupted, nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    except DeflickerError as error:
        print(f"deflicker: error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

"""What both training commands share: options from a config dataclass, and the script entry point."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Callable, List, Optional

from ..errors import DeflickerError


def add_config_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """One --option per field of a training config dataclass."""
    for f in fields(cls):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                            help=f"default: {f.default}")


def config_from_args(args: argparse.Namespace, cls):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def run_training(args: argparse.Namespace, cls, train: Callable) -> int:
    cfg = config_from_args(args, cls)
    meta = train(cfg)
    print(f"wrote {cfg.out} ({meta.get('validation', {})})")
    return 0


def script_main(argv: Optional[List[str]], prog: str, description: str, cls, train: Callable) -> int:
    """`python -m deflicker_engine.training.train_*`: parse, train, one-line error on bad data or device."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_config_arguments(parser, cls)
    try:
        return run_training(parser.parse_args(argv), cls, train)
    except DeflickerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

"""Everything a server instance is configured with, in one frozen record built by the CLI.

Limits have defaults that fit the largest frame a host sends (8K DCI, float32 RGBA, 566 MB) and
keep a misbehaving client from making the server allocate without bound.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Tuple

from deflicker_engine.errors import ParameterError

DEFAULT_BIND = "tcp://127.0.0.1:5557"
MAX_FRAME_BYTES = 8192 * 4320 * 4 * 4      # 8K DCI float32 RGBA
DEFAULT_DISK_BUDGET_MB = 20 * 1024         # about 5x the memory budget: a few dozen long 1080p shots


def default_cache_dir() -> Path:
    """$DEFLICKER_CACHE, else $XDG_CACHE_HOME/deflicker, else ~/.cache/deflicker."""
    explicit = os.environ.get("DEFLICKER_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "deflicker"


@dataclass(frozen=True)
class Limits:
    """What one message may hold. The part size is enforced by libzmq before allocation (a larger
    part disconnects the peer); the rest is checked on receipt."""

    max_header_bytes: int = 64 * 1024
    max_parts: int = 64
    max_part_bytes: int = MAX_FRAME_BYTES
    max_message_bytes: int = 2 * MAX_FRAME_BYTES
    max_window: int = 16                    # frames a streamed render may run ahead of the client
    max_in_flight: int = 64                 # requests one session may have running or queued
    max_puts_pending: int = 4               # uploads of one streamed clip waiting to be written
    max_clips: int = 256                    # clips one session may hold open
    max_clips_total: int = 4096             # clips all sessions together may hold open (sessions are free)
    max_uploads: int = 8                    # streamed clips one session may have receiving frames (a thread each)
    max_uploads_total: int = 256            # the same, all sessions together

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"limit {f.name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ServerConfig:
    bind: str = DEFAULT_BIND
    cache_dir: Path = field(default_factory=default_cache_dir)
    device: str = "auto"
    memory_budget_mb: float = 4096                   # analysis chunks held in memory (LRU, all analyses)
    disk_budget_mb: float = DEFAULT_DISK_BUDGET_MB   # analysis folders kept on disk (LRU); 0: while jobs use them
    roots: Tuple[Path, ...] = ()
    curve_secret_file: Optional[Path] = None    # zmq.auth certificate with the server's secret key
    curve_clients_dir: Optional[Path] = None    # folder of authorised client public keys
    require_curve: bool = False                 # CurveZMQ even on loopback
    heartbeat_interval: float = 1.0
    client_timeout: float = 10.0                # a session silent this long loses its jobs and clips
    idle_exit: Optional[float] = None           # exit after this long with no session, job or clip
    credit_timeout: float = 30.0                # a streamed render with no credit this long is cancelled
    probe_timeout: float = 60.0                 # opening a clip may go this long without progress
    engine: Optional[str] = None                # "module:callable" making the engine adapter (tests, plug-ins)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        """Refuse what no server can run with, whoever builds the config (CLI or Python): a NaN passes
        every `<=` test and would make a timeout that never fires."""
        for name in ("memory_budget_mb", "disk_budget_mb"):
            _check_number(name, getattr(self, name), minimum=0.0)
        for name in ("heartbeat_interval", "client_timeout", "credit_timeout", "probe_timeout"):
            _check_number(name, getattr(self, name), minimum=0.0, inclusive=False)
        if self.idle_exit is not None:
            _check_number("idle_exit", self.idle_exit, minimum=0.0, inclusive=False)

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.memory_budget_mb * 1024 * 1024)

    @property
    def disk_budget_bytes(self) -> int:
        return int(self.disk_budget_mb * 1024 * 1024)

    @property
    def analyses_dir(self) -> Path:
        return self.cache_dir / "analyses"

    @property
    def spool_dir(self) -> Path:
        return self.cache_dir / "spool"

    @property
    def log_path(self) -> Path:
        return self.cache_dir / "server.log"


def _check_number(name: str, value: Any, minimum: float, inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (not inclusive and value == minimum):
        raise ParameterError(f"{name} must be {'at least' if inclusive else 'more than'} {minimum:g}, got {value!r}")

#!/usr/bin/env python3
"""Install the deflicker server as a per-user service: systemd --user on Linux, launchd on macOS.

    python install/server/install_service.py [--bind ADDR] [--cache-dir DIR] [--root DIR ...] [--device D]
    python install/server/install_service.py --uninstall
    python install/server/install_service.py --dry-run        # say what would change, change nothing

Idempotent: running it again with the same options changes nothing and says so; with other options
it rewrites the unit and restarts the service. Every change is printed. Run it with the Python that
has deflicker installed (the service runs `deflicker serve` from beside it). Standard library only.
"""
from __future__ import annotations

import argparse
import os
import plistlib
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

SERVICE = "deflicker-server"
LABEL = "com.deflicker.server"

Runner = Callable[[Sequence[str]], Tuple[int, str]]


def run_command(argv: Sequence[str]) -> Tuple[int, str]:
    """Run a command; (exit code, combined output). A missing program is exit code 127."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(argv)}: timed out"
    return done.returncode, (done.stdout + done.stderr).strip()


def server_argv(args: argparse.Namespace, python: str = sys.executable) -> List[str]:
    """The command the service runs: `deflicker serve` beside this Python, else `python -m deflicker_server`."""
    launcher = Path(python).parent / "deflicker"
    argv = [str(launcher), "serve"] if launcher.is_file() else [python, "-m", "deflicker_server"]
    argv += ["--bind", args.bind, "--device", args.device]
    if args.cache_dir:
        argv += ["--cache-dir", str(Path(args.cache_dir).expanduser().resolve())]
    for root in args.root:
        argv += ["--root", str(Path(root).expanduser().resolve())]
    if args.memory_budget:
        argv += ["--memory-budget", str(args.memory_budget)]
    return argv


def _systemd_quote(word: str) -> str:
    if word and all(c.isalnum() or c in "/._-:=+,@" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(argv: Sequence[str]) -> str:
    return "\n".join([
        "[Unit]",
        "Description=Deflicker resident inference server",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(w).replace("%", "%%") for w in argv),
        "Restart=on-failure",
        "RestartSec=3",
        "Environment=PYTHONUNBUFFERED=1",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


def launchd_plist(argv: Sequence[str], log_dir: Path) -> bytes:
    return plistlib.dumps({
        "Label": LABEL,
        "ProgramArguments": list(argv),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardOutPath": str(log_dir / "launchd.out.log"),
        "StandardErrorPath": str(log_dir / "launchd.err.log"),
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
    })


def write_if_changed(path: Path, data: bytes, dry_run: bool, say: Callable[[str], None]) -> bool:
    """Atomically write `data` unless the file already holds it; returns whether it changed."""
    if path.is_file() and path.read_bytes() == data:
        say(f"unchanged: {path}")
        return False
    say(f"{'would write' if dry_run else 'wrote'}: {path}")
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    return True


class Installer:
    """What to do for one platform; `run` executes service-manager commands (tests pass a fake)."""

    def __init__(self, platform: str, home: Path, run: Runner = run_command, dry_run: bool = False,
                 activate: bool = True, say: Callable[[str], None] = print) -> None:
        self.platform, self.home, self.run = platform, Path(home), run
        self.dry_run, self.activate, self.say = dry_run, activate, say

    # ---------------------------------------------------------------------------------- paths
    @property
    def unit_path(self) -> Path:
        if self.platform == "macos":
            return self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        config = os.environ.get("XDG_CONFIG_HOME") if self.home == Path.home() else None
        return Path(config or self.home / ".config") / "systemd" / "user" / f"{SERVICE}.service"

    def _do(self, argv: Sequence[str], what: str) -> bool:
        if self.dry_run:
            self.say(f"would run: {' '.join(shlex.quote(a) for a in argv)}")
            return True
        code, output = self.run(argv)
        if code == 0:
            self.say(what)
            return True
        self.say(f"failed ({code}): {' '.join(argv)}: {output.splitlines()[-1] if output else ''}")
        return False

    # ---------------------------------------------------------------------------------- install
    def install(self, argv: Sequence[str], log_dir: Path) -> int:
        if self.platform == "macos":
            data = launchd_plist(argv, log_dir)
        else:
            data = systemd_unit(argv).encode()
        changed = write_if_changed(self.unit_path, data, self.dry_run, self.say)
        if not self.activate:
            self.say("not activated (--no-activate)")
            return 0
        activated = self._activate_macos(changed) if self.platform == "macos" else self._activate_linux(changed)
        return 0 if activated else 1

    def _activate_linux(self, changed: bool) -> bool:
        ctl = ["systemctl", "--user"]
        if changed and not self._do(ctl + ["daemon-reload"], "reloaded systemd user units"):
            return False
        enabled = self.run(ctl + ["is-enabled", f"{SERVICE}.service"])[0] == 0
        active = self.run(ctl + ["is-active", f"{SERVICE}.service"])[0] == 0
        if not enabled and not self._do(ctl + ["enable", f"{SERVICE}.service"], f"enabled {SERVICE}.service"):
            return False
        if not active:
            return self._do(ctl + ["start", f"{SERVICE}.service"], f"started {SERVICE}.service")
        if changed:
            return self._do(ctl + ["restart", f"{SERVICE}.service"], f"restarted {SERVICE}.service (unit changed)")
        self.say(f"unchanged: {SERVICE}.service is enabled and running")
        return True

    def _domain(self) -> str:
        return f"gui/{os.getuid()}"

    def _activate_macos(self, changed: bool) -> bool:
        loaded = self.run(["launchctl", "print", f"{self._domain()}/{LABEL}"])[0] == 0
        if loaded and not changed:
            self.say(f"unchanged: {LABEL} is loaded")
            return True
        if loaded and not self._do(["launchctl", "bootout", f"{self._domain()}/{LABEL}"], f"unloaded {LABEL}"):
            return False
        return self._do(["launchctl", "bootstrap", self._domain(), str(self.unit_path)], f"loaded {LABEL}")

    # ---------------------------------------------------------------------------------- uninstall
    def uninstall(self) -> int:
        ok = True
        if self.activate:
            if self.platform == "macos":
                if self.run(["launchctl", "print", f"{self._domain()}/{LABEL}"])[0] == 0:
                    ok = self._do(["launchctl", "bootout", f"{self._domain()}/{LABEL}"], f"unloaded {LABEL}")
            else:
                ctl = ["systemctl", "--user"]
                enabled = self.run(ctl + ["is-enabled", f"{SERVICE}.service"])[0] == 0
                active = self.run(ctl + ["is-active", f"{SERVICE}.service"])[0] == 0
                if enabled or active:
                    ok = self._do(ctl + ["disable", "--now", f"{SERVICE}.service"],
                                  f"stopped and disabled {SERVICE}.service")
        if self.unit_path.exists():
            self.say(f"{'would remove' if self.dry_run else 'removed'}: {self.unit_path}")
            if not self.dry_run:
                self.unit_path.unlink()
            if self.activate and self.platform != "macos":
                ok = self._do(["systemctl", "--user", "daemon-reload"], "reloaded systemd user units") and ok
        else:
            self.say(f"nothing to remove: {self.unit_path} does not exist")
        return 0 if ok else 1


def detect_platform() -> str:
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("linux"):
        return "linux"
    raise SystemExit(f"install_service: {sys.platform} is not supported (Linux systemd or macOS launchd)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Install the deflicker server as a per-user service.")
    parser.add_argument("--uninstall", action="store_true", help="stop the service and remove what was installed")
    parser.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    parser.add_argument("--no-activate", action="store_true", help="write the unit only; do not enable or start it")
    parser.add_argument("--bind", default="tcp://127.0.0.1:5557", help="server address (default loopback 5557)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--cache-dir", default=None, help="server cache folder (default ~/.cache/deflicker)")
    parser.add_argument("--root", action="append", default=[], help="folder clients may use (repeatable)")
    parser.add_argument("--memory-budget", type=int, default=None, metavar="MB", help="resident analysis budget")
    parser.add_argument("--platform", choices=["linux", "macos"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None, run: Runner = run_command) -> int:
    args = build_parser().parse_args(argv)
    home = args.home or Path.home()
    installer = Installer(args.platform or detect_platform(), home, run, args.dry_run, not args.no_activate)
    if args.uninstall:
        return installer.uninstall()
    log_dir = Path(args.cache_dir).expanduser() if args.cache_dir else home / ".cache" / "deflicker"
    return installer.install(server_argv(args), log_dir)


if __name__ == "__main__":
    sys.exit(main())

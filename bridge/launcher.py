"""The embedded default: use the server that answers at an address, or start one on this machine.

A host (Nuke, Blender, a batch render) calls `ensure_server()` and gets a handle whether the server
was already running (a user service, another host) or had to be started. The host's own Python
often cannot run the engine (Nuke's has no torch), so the server command is looked up in order:
DEFLICKER_SERVER_COMMAND (a full command line), DEFLICKER_PYTHON (a Python with the engine:
`-m server`), a `deflicker` executable on PATH (`deflicker serve`), this Python if it has the engine.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from .connection import DEFAULT_ADDRESS, Connection
from .errors import BridgeError, ServerUnavailable

LOCAL_PREFIXES = ("tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://")


def server_command():
    """The command that starts a server, without its options (see module docstring for the order)."""
    explicit = os.environ.get("DEFLICKER_SERVER_COMMAND")
    if explicit:
        return shlex.split(explicit)
    python = os.environ.get("DEFLICKER_PYTHON")
    if python:
        return [python, "-m", "deflicker_server"]
    found = shutil.which("deflicker")
    if found:
        return [found, "serve"]
    try:
        import importlib.util
        if importlib.util.find_spec("deflicker_server.cli") and importlib.util.find_spec("deflicker_engine"):
            return [sys.executable, "-m", "deflicker_server"]
    except (ImportError, ValueError):
        pass
    raise ServerUnavailable("cannot find the deflicker server: install it, or set DEFLICKER_PYTHON to a Python "
                            "that has it")


def answers(address, timeout=1.0, curve=None):
    """True when a deflicker server says hello at `address` within `timeout` seconds."""
    conn = Connection(address, timeout=timeout, heartbeat_timeout=max(timeout, 1.0), retries=0, curve=curve)
    try:
        conn.connect()
        return True
    except BridgeError:
        return False
    finally:
        conn.close()


class ServerHandle(object):
    """A server at `address`; `process` is set when this handle started it (and may stop it)."""

    def __init__(self, address, process=None, log_path=None):
        self.address = address
        self.process = process
        self.log_path = log_path

    @property
    def started(self):
        return self.process is not None

    def connect(self, **options):
        conn = Connection(self.address, **options)
        try:
            conn.connect()
        except BaseException:
            conn.close()  # or its heartbeat thread outlives the failed hello
            raise
        return conn

    def stop(self, timeout=10.0):
        """Stop the server if this handle started it: ask politely, then terminate, then kill."""
        if self.process is None or self.process.poll() is not None:
            return
        conn = Connection(self.address, timeout=min(timeout, 3.0), retries=0)
        try:
            conn.shutdown()
        except BridgeError:
            pass
        finally:
            conn.close()
        for action in (None, self.process.terminate, self.process.kill):
            if action is not None:
                action()
            try:
                self.process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def ensure_server(address=DEFAULT_ADDRESS, cache_dir=None, roots=(), idle_exit=None, command=None,
                  extra_args=(), timeout=90.0, probe_timeout=1.5, env=None):
    """Return a handle to a server answering at `address`, starting one here if none answers.

    Only a local address (loopback tcp or ipc) can be started here; the server runs in its own
    session so it outlives the host unless `idle_exit` (seconds without clients) is given.
    """
    if answers(address, probe_timeout):
        return ServerHandle(address)
    if not address.startswith(LOCAL_PREFIXES):
        raise ServerUnavailable("no deflicker server answers at {}; start one there with `deflicker serve`".format(
            address))
    argv = list(command) if command else server_command()
    argv += ["--bind", address]
    if cache_dir:
        argv += ["--cache-dir", str(cache_dir)]
    for root in roots:
        argv += ["--root", str(root)]
    if idle_exit:
        argv += ["--idle-exit", str(idle_exit)]
    argv += list(extra_args)
    log = tempfile.NamedTemporaryFile(prefix="deflicker-server-", suffix=".log", delete=False)
    popen_options = {"start_new_session": True} if os.name == "posix" else {}
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                               close_fds=True, env=env, **popen_options)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(address, probe_timeout):
            if process.poll() is not None:  # another host won the race to start it: use theirs
                return ServerHandle(address, None, log.name)
            return ServerHandle(address, process, log.name)
        if process.poll() is not None and not answers(address, probe_timeout):
            raise ServerUnavailable("the server exited with code {} before answering: {}".format(
                process.returncode, _tail(log.name)))
    process.kill()
    process.wait(5)
    raise ServerUnavailable("the server did not answer at {} within {:.0f} s: {}".format(address, timeout,
                                                                                       _tail(log.name)))


def _tail(path, lines=3):
    try:
        with open(path, "r") as handle:
            text = handle.read().strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) if text else "(no output)"

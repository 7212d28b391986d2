"""Real server processes for tests: random free loopback ports, bounded waits, always cleaned up.

ENGINE picks the engine the server subprocesses run: the real deflicker engine by default
("real"), the numpy fake (DEFLICKER_TEST_ENGINE=fake), or any "module:factory" on PYTHONPATH.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import msgpack
import numpy as np
import pytest
import zmq

from deflicker_bridge import Connection
from deflicker_bridge.launcher import answers

REPO = Path(__file__).resolve().parents[2]
FAKE_ENGINE = "tests.server.server_fakes:FakeEngine"
ENGINE = os.environ.get("DEFLICKER_TEST_ENGINE", "real")
# Cheap analysis for tiny clips: few atlas steps at the smallest working size
CHEAP = {"atlas_steps": 8, "working_size": 128}


def wait_until(condition, timeout: float = 15.0) -> bool:
    """Poll `condition` every 50 ms until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_spec(kind: Optional[str] = None) -> Optional[str]:
    """None for the real engine, the fake's spec for "fake", or any other "module:factory" as given."""
    kind = kind or ENGINE
    if kind == "real":
        return None
    return FAKE_ENGINE if kind == "fake" else kind


class ServerProcess:
    """`python -m deflicker_server` on 127.0.0.1:<free port> with its cache and roots under a tmp folder."""

    def __init__(self, tmp: Path, engine: Optional[str] = "default", cache: Optional[Path] = None,
                 roots: Sequence[Path] = (), extra: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
                 client_timeout: float = 3.0, curve=None, port: Optional[int] = None) -> None:
        self.tmp = Path(tmp)
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.cache = Path(cache or self.tmp / "cache")
        self.engine = engine_spec() if engine == "default" else engine
        self.roots = list(roots) or [self.tmp]
        self.extra = list(extra)
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": path, **(env or {})}
        self.client_timeout = client_timeout
        self.curve = curve
        self.process: Optional[subprocess.Popen] = None
        self.log = self.tmp / f"server-{self.port}.stderr"

    def argv(self) -> List[str]:
        argv = [sys.executable, "-m", "deflicker_server", "--bind", self.address, "--cache-dir", str(self.cache),
                "--device", "cpu", "--client-timeout", str(self.client_timeout)]
        for root in self.roots:
            argv += ["--root", str(root)]
        if self.engine:
            argv += ["--engine", self.engine]
        return argv + self.extra

    def start(self, timeout: float = 90.0) -> "ServerProcess":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv(), cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = self.stderr()
                if "WeightsError" in text or "network weights" in text:
                    pytest.skip(f"the real engine cannot load its weights: {text.strip().splitlines()[-1]}")
                raise AssertionError(f"server exited with {self.process.returncode}:\n{text}")
            if answers(self.address, 1.0, curve=self.curve):
                return self
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"server did not answer within {timeout} s:\n{self.stderr()}")

    def stderr(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def connect(self, **options) -> Connection:
        options.setdefault("timeout", 10.0)
        options.setdefault("curve", self.curve)
        conn = Connection(self.address, **options)
        conn.connect()
        return conn

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up (what a crash looks like)."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def server_factory(tmp_path):
    """Make servers that are killed at the end of the test, whatever happens."""
    made: List[ServerProcess] = []

    def make(**options) -> ServerProcess:
        server = ServerProcess(options.pop("tmp", tmp_path), **options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def module_server(name: str, whole_tmp: bool = False):
    """A module-scoped fixture: one real server (real engine) for a test module, stopped at its end. Its
    root is its own tmp folder, or with `whole_tmp` the session's whole tmp tree (hosts that write elsewhere)."""
    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        tmp = tmp_path_factory.mktemp(name)
        srv = ServerProcess(tmp, roots=[tmp_path_factory.getbasetemp()] if whole_tmp else ()).start()
        yield srv
        srv.stop()
    return server


def write_png_sequence(folder: Path, frames: np.ndarray, stem: str = "f") -> Path:
    """Frames in [0, 1] as 8-bit PNGs `stem_0000.png`...; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{stem}_{i:04d}.png"),
                    cv2.cvtColor((np.clip(frame, 0, 1) * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    return folder


class RawClient:
    """A bare DEALER that sends whatever a test wants (misbehaving included) and can keep its session
    alive with heartbeats from a second socket, as a careful client would while not reading."""

    def __init__(self, address: str, session: Optional[str] = None) -> None:
        context = zmq.Context.instance()
        self.session = session
        self.sock = context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(address)
        self.heart = context.socket(zmq.DEALER)
        self.heart.linger = 0
        self.heart.connect(address)

    def send(self, *frames) -> None:
        packed = []
        for frame in frames:
            if isinstance(frame, dict) and self.session and "session" not in frame:
                frame = dict(frame, session=self.session)
            packed.append(frame if isinstance(frame, (bytes, memoryview)) else msgpack.packb(frame))
        self.sock.send_multipart(packed)

    def beat(self) -> None:
        self.heart.send(msgpack.packb({"v": 1, "op": "heartbeat", "id": None, "session": self.session}))
        while self.heart.poll(0):
            self.heart.recv_multipart()

    def recv(self, timeout: float = 10.0, beat: bool = False):
        """The next message: (header, buffers); heartbeats go out meanwhile when `beat`."""
        deadline = time.monotonic() + timeout
        while True:
            if beat:
                self.beat()
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no reply from the server"
            if self.sock.poll(int(min(remaining, 0.2) * 1000)):
                frames = self.sock.recv_multipart()
                return msgpack.unpackb(frames[0]), frames[1:]

    def call(self, header: dict, *buffers, timeout: float = 10.0):
        """Send and wait for the final (ok/error) reply of that id."""
        self.send(header, *buffers)
        while True:
            reply, frames = self.recv(timeout)
            if reply.get("id") == header.get("id") and reply.get("kind") in ("ok", "error"):
                return reply, frames

    def close(self) -> None:
        self.sock.close(0)
        self.heart.close(0)

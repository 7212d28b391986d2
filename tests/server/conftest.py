"""Fixtures for server tests: in-process servers on the fake engine, and real server processes."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from deflicker_server.app import Server
from deflicker_server.config import ServerConfig
from tests.server.procs import free_port, server_factory  # noqa: F401  (fixture)
from tests.server.server_fakes import FakeEngine


class InProcess:
    """A Server on the fake engine in a thread of this process (fast: no torch, no subprocess)."""

    def __init__(self, tmp: Path, **config) -> None:
        config.setdefault("cache_dir", tmp / "cache")
        config.setdefault("roots", (tmp,))
        config.setdefault("client_timeout", 3.0)
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.config = ServerConfig(bind=self.address, **config)
        self.engine = FakeEngine()
        self.server = Server(self.config, engine=self.engine)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.server.ready.wait(30):
            raise AssertionError(f"in-process server did not start: {self.error}")

    def _run(self) -> None:
        try:
            self.server.run()
        except BaseException as error:  # surfaced by the fixture
            self.error = error
            self.server.ready.set()

    def stop(self) -> None:
        self.server.request_stop("test over")
        self.thread.join(20)
        assert not self.thread.is_alive(), "the server thread did not stop"


@pytest.fixture
def inprocess(tmp_path):
    made = []

    def make(**config) -> InProcess:
        srv = InProcess(tmp_path, **config)
        if srv.error is not None:
            raise srv.error
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()

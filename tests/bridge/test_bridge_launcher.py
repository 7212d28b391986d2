"""ensure_server: use the server that answers, else start one here (the embedded default)."""
import os
import sys

import pytest

import deflicker_bridge as bridge
from deflicker_bridge.launcher import ensure_server, server_command
from tests.server.procs import FAKE_ENGINE, REPO, ServerProcess, free_port


@pytest.fixture
def env_for_server(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(REPO)


def test_starts_a_server_when_none_answers_and_stops_it(tmp_path, env_for_server):
    address = f"tcp://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "deflicker_server", "--engine", FAKE_ENGINE]
    handle = ensure_server(address, cache_dir=tmp_path / "cache", roots=[tmp_path], idle_exit=60, command=command,
                           timeout=60)
    try:
        assert handle.started
        with handle.connect() as conn:
            assert conn.server["roots"] == [str(tmp_path.resolve())]
        again = ensure_server(address, command=["false"])      # answers now: nothing is started
        assert not again.started and again.process is None
    finally:
        handle.stop()
    assert handle.process.poll() is not None


def test_uses_a_running_server(tmp_path):
    server = ServerProcess(tmp_path, engine=FAKE_ENGINE).start()
    try:
        handle = ensure_server(server.address, command=["false"])
        assert not handle.started
        handle.stop()                                          # not ours: must not stop it
        assert server.alive()
    finally:
        server.stop()


def test_a_server_that_cannot_start_is_reported_with_its_output(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    command = [sys.executable, "-c", "import sys; sys.stderr.write('no torch here\\n'); sys.exit(3)"]
    with pytest.raises(bridge.ServerUnavailable, match="no torch here"):
        ensure_server(address, command=command, timeout=30, probe_timeout=0.5)


def test_remote_addresses_are_never_started_here():
    with pytest.raises(bridge.ServerUnavailable, match="start one there"):
        ensure_server("tcp://192.0.2.1:5557", command=["false"], probe_timeout=0.3)


def test_the_server_command_is_found_in_order(monkeypatch):
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", "/opt/x/bin/python -m deflicker_server --device cpu")
    assert server_command() == ["/opt/x/bin/python", "-m", "deflicker_server", "--device", "cpu"]
    monkeypatch.delenv("DEFLICKER_SERVER_COMMAND")
    monkeypatch.setenv("DEFLICKER_PYTHON", "/opt/py/bin/python3")
    assert server_command() == ["/opt/py/bin/python3", "-m", "deflicker_server"]
    monkeypatch.delenv("DEFLICKER_PYTHON")
    command = server_command()
    assert command[-1] in ("serve", "deflicker_server") and os.path.exists(command[0])   # `deflicker serve` or -m

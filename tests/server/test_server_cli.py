"""`deflicker serve` options and `deflicker status` output."""
import argparse

import pytest

from deflicker_engine.cli import main
from deflicker_engine.errors import ParameterError
from deflicker_server.cli import add_serve_arguments, config_from_args


def _config(*argv):
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_defaults_are_loopback_with_home_and_cache_as_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFLICKER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    config = _config()
    assert config.bind == "tcp://127.0.0.1:5557"
    assert config.roots == (tmp_path.resolve(), (tmp_path / "cache").resolve())
    assert config.limits.max_part_bytes == 8192 * 4320 * 16


def test_a_network_bind_must_name_its_roots_and_bad_values_are_refused(tmp_path):
    with pytest.raises(ParameterError, match="--root"):
        _config("--bind", "tcp://0.0.0.0:5557")
    with pytest.raises(ParameterError, match="not a folder"):
        _config("--root", str(tmp_path / "missing"))
    for option, value in (("--memory-budget", "-1"), ("--client-timeout", "0"), ("--max-frame-mb", "0")):
        with pytest.raises(ParameterError):
            _config("--root", str(tmp_path), option, value)
    assert _config("--root", str(tmp_path), "--max-frame-mb", "2").limits.max_part_bytes == 2 << 20


def test_generate_keys_writes_two_pairs(tmp_path, capsys):
    assert main(["serve", "--generate-keys", str(tmp_path / "keys")]) == 0
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "client.key", "client.key_secret", "server.key", "server.key_secret"]
    assert "--curve-secret" in capsys.readouterr().out


def test_status_prints_what_the_server_holds(inprocess, tmp_path, capsys):
    srv = inprocess()
    import deflicker_bridge as bridge
    from tests.server.procs import write_png_sequence
    from tests.conftest import textured_scene
    shot = write_png_sequence(tmp_path / "shot", textured_scene(4, 16, 24))
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        clip.analyse()
        clip.frame(1)
        assert main(["status", "--server", srv.address]) == 0
    out = capsys.readouterr().out
    assert "device fake-cpu" in out and "analyses: 1 open, 1 chunk in memory" in out
    assert "1 on disk, 1 chunk (" in out
    # `deflicker status` is a client of its own: another client's clip is a count, never its path
    assert "clips (0; other clients: 1)" in out and str(shot) not in out
    assert main(["status", "--server", srv.address, "--json"]) == 0
    assert '"instance"' in capsys.readouterr().out


def test_status_shows_the_accelerators_memory_and_nothing_on_a_cpu(inprocess, monkeypatch, capsys):
    import torch

    from deflicker_engine.device import memory_report
    from tests.server.server_fakes import FakeEngine

    assert memory_report(torch.device("cpu")) is None
    srv = inprocess()
    assert main(["status", "--server", srv.address]) == 0
    assert "MB in tensors" not in capsys.readouterr().out
    gpu = {"device": "cuda:0", "name": "NVIDIA H200", "total_mb": 143771, "free_mb": 140000, "allocated_mb": 512,
           "reserved_mb": 2048, "peak_mb": 3100}
    monkeypatch.setattr(FakeEngine, "memory", lambda self: gpu, raising=False)
    assert main(["status", "--server", srv.address]) == 0
    assert ("NVIDIA H200 (cuda:0): 512 MB in tensors, 2048 MB reserved, peak 3100 MB; 140000 of 143771 MB free"
            in capsys.readouterr().out)


def test_status_without_a_server_says_so(capsys):
    from tests.server.procs import free_port
    assert main(["status", "--server", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.5"]) == 1
    assert "no server answers" in capsys.readouterr().err

"""Binds, keys and roots."""
import os

import pytest

from deflicker_engine.errors import ParameterError
from deflicker_server.errors import RequestError
from deflicker_server.security import Roots, check_bind, generate_keys, is_loopback


@pytest.mark.parametrize("bind, local", [
    ("tcp://127.0.0.1:5557", True), ("tcp://127.3.2.1:1", True), ("tcp://localhost:5557", True),
    ("tcp://[::1]:5557", True), ("ipc:///tmp/x.ipc", True), ("tcp://0.0.0.0:5557", False),
    ("tcp://*:5557", False), ("tcp://192.168.1.4:5557", False), ("tcp://eth0:5557", False),
    ("tcp://[::]:5557", False), ("tcp://example.com:5557", False),
])
def test_only_loopback_and_ipc_count_as_local(bind, local):
    assert is_loopback(bind) is local


def test_a_network_bind_without_keys_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="CurveZMQ"):
        check_bind("tcp://0.0.0.0:5557", None, None)
    with pytest.raises(ParameterError, match="both"):
        check_bind("tcp://0.0.0.0:5557", tmp_path / "server.key_secret", None)
    assert check_bind("tcp://127.0.0.1:5557", None, None) is False
    secret, _ = generate_keys(tmp_path / "keys")
    clients = tmp_path / "clients"
    clients.mkdir()
    assert check_bind("tcp://0.0.0.0:5557", secret, clients) is True
    assert oct(secret.stat().st_mode & 0o777) == "0o600"


def test_roots_confine_paths_through_symlinks_and_dotdot(tmp_path):
    inside = tmp_path / "root" / "shots"
    inside.mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", inside / "escape")
    roots = Roots([tmp_path / "root"])
    assert roots.resolve(str(inside / "a.mp4")) == str(inside / "a.mp4")
    assert roots.resolve(str(inside / "plate.%04d.exr")).endswith("plate.%04d.exr")
    for path in (str(inside / "escape" / "x.mp4"), str(inside / ".." / ".." / "secret"), "/etc/passwd"):
        with pytest.raises(RequestError) as caught:
            roots.resolve(path)
        assert caught.value.code == "forbidden"
    for path in ("relative.mp4", "", "/a\x00b"):
        with pytest.raises(RequestError):
            roots.resolve(path)
    with pytest.raises(RequestError):
        Roots([]).resolve(str(inside / "a.mp4"))


def test_outputs_may_not_replace_a_root_or_a_folder_of_other_things(tmp_path):
    root = tmp_path / "root"
    (root / "frames").mkdir(parents=True)
    (root / "frames" / "a.0001.exr").write_bytes(b"x")
    (root / "work").mkdir()
    (root / "work" / "notes.txt").write_text("keep me")
    roots = Roots([root])
    roots.check_output(str(root / "frames"))                      # a frames-only folder may be replaced
    roots.check_output(str(root / "new"))
    roots.check_output(str(root / "out.mp4"))
    for path in (root, tmp_path, root / "work"):
        with pytest.raises(RequestError) as caught:
            roots.check_output(str(path))
        assert caught.value.code == "forbidden"

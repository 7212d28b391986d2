"""bridge/ must import and work on Python 3.7 to 3.12 (Nuke 13 ships 3.7, without numpy).

For every such interpreter found on this machine, compile every bridge file, then import the package
with a stub `zmq` (pyzmq is not installed there) and msgpack's pure-Python fallback, and exercise what
needs no socket: the wire codec, Effect/Param from a describe reply, Frame, error mapping.
"""
import glob
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import msgpack
import pytest

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ["3.7", "3.8", "3.9", "3.10", "3.11", "3.12"]

STUB_ZMQ = textwrap.dedent("""
    DEALER = 5; LINGER = 17; RCVHWM = 24; SNDHWM = 23; NOBLOCK = 1; HEARTBEAT_IVL = 75; HEARTBEAT_TIMEOUT = 77
    class ZMQError(Exception):
        pass
    class Again(ZMQError):
        pass
    class Context(object):
        @classmethod
        def instance(cls):
            return cls()
        def socket(self, kind):
            raise ZMQError("stub zmq: no sockets here")
""")

EXERCISE = textwrap.dedent("""
    import sys
    import deflicker_bridge as bridge
    from deflicker_bridge import wire, errors
    from deflicker_bridge.effect import Effect
    from deflicker_bridge.frames import Frame, as_frame, numpy_or_none
    assert numpy_or_none() is None
    header = wire.unpack(wire.pack(wire.request("open", 3, "s", 1, {"source": {"path": "/a"}},
                                                [wire.descriptor((2, 2, 3), "uint8")])))
    assert header["op"] == "open" and header["parts"][0]["shape"] == [2, 2, 3]
    effect = Effect.from_describe({"effect": {"name": "Deflicker", "params": [
        {"name": "strength", "type": "double", "default": 1.0, "min": 0.0, "max": 1.0, "label": "Strength",
         "group": "render"},
        {"name": "refine", "type": "boolean", "default": True, "label": "Refine", "group": "analysis"}]}})
    assert effect.coerce({"strength": "0.5", "refine": "off"}) == {"strength": 0.5, "refine": False}
    try:
        effect.param("strength").coerce(2)
        raise SystemExit("range not checked")
    except errors.ParameterError:
        pass
    frame = as_frame((bytearray(12), (2, 2, 3), "uint8"), index=4)
    assert frame.nbytes == 12 and frame.channels == 3 and frame.tobytes() == bytes(12)
    try:
        frame.array
        raise SystemExit("array without numpy")
    except ImportError:
        pass
    assert isinstance(errors.server_error("forbidden", "no"), errors.Forbidden)
    assert wire.check_part({"dtype": "float16", "shape": [1, 2, 4]}, 16) == ((1, 2, 4), "float16")
    print("ok", sys.version_info[:2])
""")


def _interpreter(version):
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for path in filter(None, candidates):
        try:
            done = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                  text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == str(tuple(int(x) for x in version.split("."))):
            return path
    return None


@pytest.mark.parametrize("version", VERSIONS)
def test_bridge_compiles_imports_and_works_without_numpy(version, tmp_path):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    for path in sorted((REPO / "bridge").glob("*.py")):
        done = subprocess.run([python, "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
                               str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{path.name} does not compile on {version}: {done.stderr}"
    site = tmp_path / "site"
    shutil.copytree(REPO / "bridge", site / "deflicker_bridge", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "zmq").mkdir()
    (site / "zmq" / "__init__.py").write_text(STUB_ZMQ)
    (site / "numpy.py").write_text("raise ImportError('numpy is not bundled here')\n")
    shutil.copytree(Path(msgpack.__file__).parent, site / "msgpack",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site), "MSGPACK_PUREPYTHON": "1",
           "PYTHONNOUSERSITE": "1"}
    done = subprocess.run([python, "-S", "-c", EXERCISE], capture_output=True, text=True, timeout=60, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr

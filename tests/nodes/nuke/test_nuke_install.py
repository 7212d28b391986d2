# SPDX-License-Identifier: Apache-2.0
"""install/nuke/install.py against a tmp Nuke folder: install, idempotence, the installed plug-in running in
(stand-in) Nuke, vendoring for Nuke's Python, and an uninstall that restores every byte."""
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes.fake_python import fake_host_python
from tests.server.procs import REPO

INSTALL = REPO / "install" / "nuke" / "install.py"
USER_INIT = "# my own init.py\nimport nuke\nnuke.pluginAddPath('./gizmos')"          # no final newline


def _run(*args):
    done = subprocess.run([sys.executable, str(INSTALL)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tree(root: Path):
    return dict((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*")))


@pytest.fixture
def home(tmp_path):
    nuke_dir = tmp_path / ".nuke"
    (nuke_dir / "gizmos").mkdir(parents=True)
    (nuke_dir / "init.py").write_text(USER_INIT)
    (nuke_dir / "gizmos" / "Mine.gizmo").write_text("Gizmo {}\n")
    return nuke_dir


def test_install_twice_then_uninstall_restores_every_byte(home):
    before = _tree(home.parent)
    plugin = home / "deflicker"

    dry = _run("--nuke-dir", home, "--dry-run")
    assert "would add the deflicker block to " + str(home / "init.py") in dry and _tree(home.parent) == before

    first = _run("--nuke-dir", home)
    assert "add the deflicker block to " + str(home / "init.py") in first
    assert "add the deflicker block to " + str(home / "menu.py") in first
    for package, source in (("deflicker_node", REPO / "nodes" / "nuke" / "deflicker_node"), ("deflicker_bridge", REPO / "bridge")):
        for py in source.glob("*.py"):
            assert (plugin / package / py.name).read_bytes() == py.read_bytes()
    assert not list(plugin.rglob("__pycache__"))
    init = (home / "init.py").read_text()
    assert init.startswith(USER_INIT + "\n# >>> deflicker") and init.endswith("# <<< deflicker <<<\n")
    assert "nuke.pluginAddPath({!r})".format(str(plugin)) in init
    assert (home / "menu.py").read_text().count("deflicker_node.menu.add_menu()") == 1
    assert (plugin / "deflicker_node" / "Deflicker.png").is_file()

    installed = _tree(home.parent)
    second = _run("--nuke-dir", home)
    assert second == "nothing to change: the Deflicker node is installed in {}\n".format(plugin)
    assert _tree(home.parent) == installed

    (plugin / "deflicker_node" / "__pycache__").mkdir()                 # as Nuke's import leaves it
    (plugin / "deflicker_node" / "__pycache__" / "host.cpython-37.pyc").write_bytes(b"pyc")
    out = _run("--nuke-dir", home, "--uninstall")
    assert "remove the deflicker block from " + str(home / "init.py") in out
    assert "remove " + str(home / "menu.py") + " (it held only the deflicker block)" in out
    assert _tree(home.parent) == before
    assert _run("--nuke-dir", home, "--uninstall").startswith("nothing to remove")


def test_user_files_and_lines_added_later_survive_uninstall(home):
    _run("--nuke-dir", home)
    menu = home / "menu.py"
    menu.write_text(menu.read_text() + "print('my menu line')\n")
    (home / "deflicker" / "notes.txt").write_text("mine")
    out = _run("--nuke-dir", home, "--uninstall")
    assert menu.read_text() == "print('my menu line')\n"
    assert (home / "init.py").read_text() == USER_INIT
    assert (home / "deflicker" / "notes.txt").read_text() == "mine"
    assert "kept {}".format(home / "deflicker") in out


def test_each_nukes_python_gets_pyzmq_and_msgpack_in_a_vendor_folder_of_its_version(home, tmp_path):
    log = tmp_path / "pip-args.txt"
    nuke14 = fake_host_python(tmp_path / "nuke14-python", log, version="3.9")
    nuke16 = fake_host_python(tmp_path / "nuke16-python", log, version="3.11")
    before = _tree(home.parent)
    _run("--nuke-dir", home, "--nuke-python", nuke14, "--nuke-python", nuke16)
    vendor = home / "deflicker" / "vendor"
    installs = [line for line in log.read_text().splitlines() if not line.startswith("-c")]
    assert installs == ["-m pip install --target {} pyzmq msgpack".format(vendor / v) for v in ("py3.9", "py3.11")]
    for version in ("py3.9", "py3.11"):
        assert (vendor / version / "zmq" / "__init__.py").is_file()
    init = (home / "init.py").read_text()
    assert "'py%d.%d' % sys.version_info[:2]" in init and repr(str(vendor)) in init
    log.unlink()
    assert _run("--nuke-dir", home, "--nuke-python", nuke16).startswith("nothing to change")
    assert all(line.startswith("-c") for line in log.read_text().splitlines())     # only asked its version
    log.unlink()
    _run("--nuke-dir", home, "--uninstall")
    assert _tree(home.parent) == dict((k, v) for k, v in before.items())


def test_init_py_puts_only_the_running_pythons_vendor_folder_on_sys_path(home, nuke, monkeypatch):
    _run("--nuke-dir", home)
    vendor = home / "deflicker" / "vendor"
    mine = vendor / "py{}.{}".format(*sys.version_info[:2])
    for folder in (mine, vendor / "py3.7"):
        folder.mkdir(parents=True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    nuke.standin_run_startup_file(str(home / "init.py"))
    assert str(mine) in sys.path and str(vendor / "py3.7") not in sys.path and str(vendor) not in sys.path


def test_nuke_starts_without_pyzmq_and_the_node_says_how_to_install_it(home, nuke, monkeypatch):
    _run("--nuke-dir", home)
    for name in ("zmq", "msgpack"):
        monkeypatch.setitem(sys.modules, name, None)             # a Nuke whose Python has neither
    nuke.standin_run_startup_file(str(home / "init.py"))
    nuke.standin_run_startup_file(str(home / "menu.py"))          # no traceback: Nuke starts
    assert "deflicker_node.host" not in sys.modules
    item = nuke.menu("Nodes").findItem("Deflicker/Deflicker")
    item.invoke()
    (message,) = nuke.standin_messages()
    assert "needs the Python modules zmq and msgpack" in message and "--nuke-python" in message
    assert "vendor/py{}.{}".format(*sys.version_info[:2]) in message
    assert nuke.allNodes("Group") == [] and nuke.standin_callback_errors() == []


def test_the_installed_plugin_loads_in_nuke_and_its_menu_creates_the_node(home, nuke, server, monkeypatch):
    _run("--nuke-dir", home)
    monkeypatch.setenv("DEFLICKER_ADDRESS", server.address)
    nuke.standin_run_startup_file(str(home / "init.py"))
    nuke.standin_run_startup_file(str(home / "menu.py"))
    assert nuke.pluginPath()[0] == str(home / "deflicker")
    host = importlib.import_module("deflicker_node.host")
    assert Path(host.__file__).resolve().parent == (home / "deflicker" / "deflicker_node").resolve()
    item = nuke.menu("Nodes").findItem("Deflicker/Deflicker")
    item.invoke()
    host_module = importlib.import_module("deflicker_node.host")
    nuke.standin_run_until(lambda: not host_module.creating(), 60)
    node = nuke.toNode("Deflicker1")
    assert node is not None and node.knob("strength") is not None and node["server"].value() == server.address
    assert nuke.standin_messages() == []


def test_the_stand_in_is_not_importable_outside_the_tests_that_ask_for_it():
    assert "nuke" not in sys.modules and "deflicker_node" not in sys.modules
    assert importlib.util.find_spec("nuke") is None
    assert str(REPO / "nodes" / "nuke") not in sys.path

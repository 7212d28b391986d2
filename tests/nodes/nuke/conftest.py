# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the Nuke node: the plug-in and the stand-in `nuke` module on sys.path for one test
at a time (nothing leaks into other test folders), and a real server whose roots cover pytest's tmp."""
import importlib
import sys
from pathlib import Path

import pytest

from tests.server.procs import REPO, module_server

STANDIN = Path(__file__).resolve().parent / "standin"
PLUGIN = REPO / "nodes" / "nuke"


def _forget_modules():
    for name in list(sys.modules):
        if name in ("nuke", "deflicker_node") or name.startswith("deflicker_node."):
            del sys.modules[name]


@pytest.fixture
def plugin(monkeypatch):
    """`import deflicker_node` as Nuke sees it once installed (nodes/nuke on sys.path)."""
    _forget_modules()
    monkeypatch.syspath_prepend(str(PLUGIN))
    yield
    _forget_modules()


@pytest.fixture
def nuke(plugin, monkeypatch, tmp_path):
    """A fresh stand-in Nuke session; each test's node cache lives in its own tmp folder."""
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.setenv("DEFLICKER_NUKE_CACHE", str(tmp_path / "nuke-cache"))
    module = importlib.import_module("nuke")
    assert Path(module.__file__).resolve() == STANDIN / "nuke.py"
    module.standin_reset()
    yield module
    host = sys.modules.get("deflicker_node.host")
    if host is not None:  # a failed test may leave a job running: stop it before the next test
        for key in list(host.RUNS._runs):
            runner = host.RUNS.get(key)
            if runner is not None:
                runner.cancel()
                runner.wait(30)
    assert module.standin_callback_errors() == []


@pytest.fixture
def host(nuke):
    """The plug-in as Nuke runs it once menu.py has run (its callbacks registered)."""
    importlib.import_module("deflicker_node.menu").add_menu()
    return importlib.import_module("deflicker_node.host")


def create(nuke, host, address, timeout=60):
    """Create a node as the menu does and let Nuke's event loop run until it is built (or refused);
    the new Deflicker node, or None."""
    before = set(n.name() for n in nuke.allNodes("Group"))
    node = host.create(address)
    if node is None:
        nuke.standin_run_until(lambda: not host.creating(), timeout)
        made = [n for n in nuke.allNodes("Group") if n.name() not in before]
        node = made[0] if made else None
    return node


server = module_server("nuke-server", whole_tmp=True)

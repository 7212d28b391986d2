# SPDX-License-Identifier: Apache-2.0
"""install/blender/install.py against tmp Blender configs: install, idempotence, dry run, pip step,
uninstall back to the bytes that were there, Blender's own manifest check, and the installed
extension enabled by real Blender."""
import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes.fake_python import fake_host_python
from tests.server.procs import REPO

from .conftest import bpy_params, bpy_pythons, dead_address, run_in_blender

INSTALLER = REPO / "install" / "blender" / "install.py"
ADDON = Path("extensions") / "user_default" / "deflicker"


def load_installer():
    spec = importlib.util.spec_from_file_location("deflicker_blender_install", str(INSTALLER))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(*args):
    done = subprocess.run([sys.executable, str(INSTALLER)] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=120)
    text = done.stdout.decode()
    assert done.returncode == 0, text
    return text


def tree_state(root):
    """Every folder and file under `root`, with file bytes' hashes."""
    state = {}
    for folder, dirs, files in os.walk(str(root)):
        rel = os.path.relpath(folder, str(root))
        state[rel] = "dir"
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                state[os.path.join(rel, name)] = hashlib.sha256(handle.read()).hexdigest()
    return state


def changes(text):
    return [line for line in text.splitlines()
            if line.split(" ")[0] in ("write", "update", "create", "remove", "run", "would")]


@pytest.fixture
def config(tmp_path):
    """A Blender 4.5 config that a user already has: preferences and an add-on of their own."""
    cfg = tmp_path / "blender" / "4.5"
    (cfg / "config").mkdir(parents=True)
    (cfg / "config" / "userpref.blend").write_bytes(b"BLENDER-v405 prefs")
    (cfg / "scripts" / "addons").mkdir(parents=True)
    (cfg / "scripts" / "addons" / "mine.py").write_text("bl_info = {'name': 'mine'}\n")
    return cfg


@pytest.fixture
def wheels(tmp_path):
    """Empty wheel files named as PyPI names pyzmq's and msgpack's for two platforms."""
    folder = tmp_path / "wheels-in"
    folder.mkdir()
    for name in ("pyzmq-27.3.0-cp311-cp311-win_amd64.whl", "msgpack-1.2.4-cp311-cp311-win_amd64.whl",
                 "pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl", "msgpack-1.2.4-cp311-cp311-manylinux_2_28_x86_64.whl",
                 "notes.txt"):
        (folder / name).write_bytes(name.encode())
    return folder


def test_install_twice_then_uninstall_restores_every_byte(config, wheels):
    before = tree_state(config)
    first = install("--blender-config", config, "--wheels-from", wheels)
    addon = config / ADDON
    assert (addon / "__init__.py").read_bytes() == (REPO / "nodes" / "blender" / "__init__.py").read_bytes()
    assert (addon / "LICENSE").read_bytes() == (REPO / "nodes" / "blender" / "LICENSE").read_bytes()
    assert (addon / "deflicker_bridge" / "job.py").read_bytes() == (REPO / "bridge" / "job.py").read_bytes()
    assert not (addon / "deflicker_bridge" / "job.py").is_symlink() and not (addon / "vendor").exists()
    assert "write {}".format(addon / "deflicker_bridge" / "job.py") in first
    assert sorted(p.name for p in (addon / "wheels").iterdir()) == sorted(p.name for p in wheels.glob("*.whl"))
    manifest = (addon / "blender_manifest.toml").read_text()
    listed = manifest.split("wheels = [", 1)[1].split("]", 1)[0]
    assert sorted(line.strip().strip('",') for line in listed.strip().splitlines()) == sorted(
        "./wheels/" + p.name for p in wheels.glob("*.whl"))
    assert manifest.index("wheels = [") < manifest.index("[permissions]")
    assert "bl_ext.user_default.deflicker" in first

    installed = tree_state(config)
    second = install("--blender-config", config)       # the installed wheels are reused: no download
    assert changes(second) == [] and "nothing to change" in second
    assert tree_state(config) == installed

    (addon / "__pycache__").mkdir()  # what Blender leaves after importing the add-on
    (addon / "__pycache__" / "addon.cpython-311.pyc").write_bytes(b"pyc")
    removed = install("--blender-config", config, "--uninstall")
    assert "remove folder {}".format(config / "extensions") in removed
    assert tree_state(config) == before
    assert "nothing to uninstall" in install("--blender-config", config, "--uninstall")


def test_changed_file_is_updated_and_stale_file_removed(config, wheels):
    install("--blender-config", config, "--wheels-from", wheels)
    addon = config / ADDON
    (addon / "tree.py").write_text("# edited\n")
    record = (addon / ".deflicker-install.json").read_text()
    (addon / ".deflicker-install.json").write_text(record.replace('"addon.py"', '"addon.py", "old.py"'))
    (addon / "old.py").write_text("# from an older version\n")
    text = install("--blender-config", config)
    assert "update {}".format(addon / "tree.py") in text and "remove stale {}".format(addon / "old.py") in text
    assert not (addon / "old.py").exists()
    assert (addon / "tree.py").read_bytes() == (REPO / "nodes" / "blender" / "tree.py").read_bytes()


def test_dry_run_changes_nothing(config, wheels):
    before = tree_state(config)
    text = install("--blender-config", config, "--dry-run", "--wheels-from", wheels)
    assert "would write {}".format(config / ADDON / "__init__.py") in text
    assert tree_state(config) == before


def test_wheels_are_downloaded_for_cpython_3_11_on_every_platform(config, tmp_path):
    installer = load_installer()
    log = tmp_path / "pip-argv.txt"
    fake = fake_host_python(tmp_path / "some-python", log)
    before = tree_state(config)
    text = install("--blender-config", config, "--pip-python", fake)
    calls = log.read_text().splitlines()
    assert [c.split("--platform ")[1].split()[0] for c in calls] == list(installer.PLATFORMS)
    assert all(c.startswith("-m pip download --dest ") and "--only-binary=:all: --python-version 3.11" in c and
               c.endswith(" pyzmq msgpack") for c in calls)
    assert "run {} -m pip download".format(fake) in text
    installed = sorted(p.name for p in (config / ADDON / "wheels").iterdir())
    assert len(installed) == 2 * len(installer.PLATFORMS) and all(n.endswith(".whl") for n in installed)
    assert changes(install("--blender-config", config, "--pip-python", fake)) == []
    assert len(log.read_text().splitlines()) == len(calls)  # the add-on has its wheels: no download again
    install("--blender-config", config, "--uninstall")
    assert tree_state(config) == before


def test_an_older_install_with_a_vendor_folder_is_cleaned_up(config, wheels):
    addon = config / ADDON
    (addon / "vendor" / "zmq").mkdir(parents=True)
    (addon / ".deflicker-install.json").write_text('{"files": [], "created_dirs": [], "pip_entries": ["zmq"]}')
    install("--blender-config", config, "--wheels-from", wheels)
    assert not (addon / "vendor" / "zmq").exists()


def test_default_config_discovery_and_old_blenders_refused(tmp_path):
    installer = load_installer()
    home = tmp_path / "home"
    for version in ("3.6", "4.10", "4.5", "notes"):
        (home / ".config" / "blender" / version).mkdir(parents=True)
    base = installer.config_base("linux", str(home), {})
    assert installer.newest_config(base) == str(home / ".config" / "blender" / "4.10")
    assert installer.config_base("darwin", "/Users/a", {}) == "/Users/a/Library/Application Support/Blender"
    assert installer.config_base("win32", "C:/Users/a", {"APPDATA": "C:/R"}) == os.path.join(
        "C:/R", "Blender Foundation", "Blender")
    done = subprocess.run([sys.executable, str(INSTALLER), "--blender-config", str(home / ".config" / "blender" /
                                                                                  "3.6")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    assert done.returncode == 2 and b"needs Blender 4.2 or newer" in done.stdout
    assert os.listdir(str(home / ".config" / "blender" / "3.6")) == []


def test_manifest_passes_blenders_own_validation(tmp_path, wheels):
    """Blender's extension tool (bl_pkg/cli/blender_ext.py, shipped with bpy) validates the add-on folder."""
    pythons = bpy_pythons()
    if not pythons:
        pytest.skip("no bpy venv: Blender's extension validator ships with it")
    config = tmp_path / "4.5"
    install("--blender-config", config, "--wheels-from", wheels)
    for python in pythons:
        tool = next(Path(python).parent.parent.glob("lib/python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/"
                                                    "cli/blender_ext.py"))
        done = subprocess.run([python, str(tool), "validate", str(config / ADDON)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
        assert done.returncode == 0 and b"Success" in done.stdout, done.stdout.decode()


@pytest.fixture(scope="module")
def real_wheels(tmp_path_factory):
    """pyzmq and msgpack wheels for this machine, from PyPI (Blender must really install them)."""
    folder = tmp_path_factory.mktemp("real-wheels")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder),
                           "--only-binary=:all:", "--python-version", "3.11", "pyzmq", "msgpack"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert done.returncode == 0, done.stdout.decode()
    return folder


@pytest.mark.parametrize("python", bpy_params())
def test_installed_extension_enables_in_blender(python, tmp_path, real_wheels):
    config = tmp_path / "4.5"
    install("--blender-config", config, "--wheels-from", real_wheels)
    addon = config / ADDON
    env = {"BLENDER_USER_RESOURCES": str(config), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "DEFLICKER_ADDRESS": dead_address()}
    result = run_in_blender(python, "installed", {"module": "bl_ext.user_default.deflicker",
                                                  "addon_dir": str(addon)}, tmp_path, env, repo_on_path=False)
    assert not result["blocked_node_registered"] and result["blocked_panel"]
    assert not result["blocked_panel_after_disable"]
    assert result["bridge_module"] == "bl_ext.user_default.deflicker.deflicker_bridge"
    assert result["bridge_file"] == str(addon / "deflicker_bridge" / "__init__.py")
    assert not result["top_level_bridge"]                 # nothing named deflicker_bridge/bridge at the top
    site = config / "extensions" / ".local" / "lib" / "python3.11" / "site-packages"
    assert result["zmq_file"].startswith(str(site)) and result["msgpack_file"].startswith(str(site))
    assert result["has_prefs"] and result["prefs"]["start_server"] and result["prefs"]["output_location"] == "CACHE"
    assert result["node_registered"] and result["panel"] and not result["addon_folders_on_path"]
    assert result["operators"] == ["analyse", "render", "cancel", "refresh_parameters"]
    assert result["headless_no_source"][0] == "failed"
    assert result["headless_no_source"][1].startswith("choose a source for the Deflicker node")
    assert not result["node_after_disable"] and not result["panel_after_disable"]

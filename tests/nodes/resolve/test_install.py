"""install/resolve/install.py against tmp folders: idempotent, every change printed, undone byte for byte."""
import io
import os
import subprocess
import sys

import importlib.util

import pytest

from .conftest import REPO


def _load_installer():
    """install/resolve/install.py under a name of its own (other hosts' installers are also install.py)."""
    spec = importlib.util.spec_from_file_location("resolve_install", str(REPO / "install" / "resolve" / "install.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


install = _load_installer()

EDIT = os.path.join(".local", "share", "DaVinciResolve", "Fusion", "Scripts", "Edit")


def tree(root):
    """{relative path: bytes} of files and {relative path} of folders under root."""
    files, folders = {}, set()
    for folder, dirs, names in os.walk(str(root)):
        for d in dirs:
            folders.add(os.path.relpath(os.path.join(folder, d), str(root)))
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, str(root))] = handle.read()
    return files, folders


def run(*argv, runner=None):
    out = io.StringIO()
    assert install.main(list(argv), out=out, runner=runner) == 0
    return out.getvalue()


@pytest.fixture
def home(tmp_path):
    """A home folder that already has Resolve scripts of the user's own, one of them named Deflicker.py."""
    home = tmp_path / "home"
    edit = home / EDIT
    edit.mkdir(parents=True)
    (edit / "Conform.py").write_bytes(b"print('the user\\'s own script')\n")
    (edit / "Deflicker.py").write_bytes(b"# an older, hand-made Deflicker script\n")
    (home / ".local" / "share" / "other.txt").write_bytes(b"keep me")
    return home


def test_install_twice_then_uninstall_restores_the_home_byte_for_byte(home):
    before = tree(home)
    first = run("--home", str(home), "--platform", "linux")
    lib = home / ".local" / "share" / "deflicker" / "resolve"
    launcher = home / EDIT / "Deflicker.py"
    assert "keep the existing {}".format(launcher) in first
    assert "create {}".format(lib / "deflicker_bridge" / "job.py") in first
    assert "LIB_DIR = {!r}".format(str(lib)) in launcher.read_text()
    assert (lib / "deflicker_resolve" / "logic.py").read_bytes() == \
        (REPO / "nodes" / "resolve" / "deflicker_resolve" / "logic.py").read_bytes()
    assert (home / EDIT / "Conform.py").read_bytes() == before[0][os.path.join(EDIT, "Conform.py")]
    installed = tree(home)

    second = run("--home", str(home), "--platform", "linux")
    assert "nothing to change" in second and "create" not in second and "update" not in second
    assert tree(home) == installed

    dry = run("--home", str(home), "--platform", "linux", "--uninstall", "--dry-run")
    assert "would remove {}".format(launcher) in dry and tree(home) == installed

    third = run("--home", str(home), "--platform", "linux", "--uninstall")
    assert "restore {}".format(launcher) in third
    assert tree(home) == before


def test_the_installed_launcher_imports_its_own_library(home, tmp_path):
    run("--home", str(home), "--platform", "linux")
    launcher = home / EDIT / "Deflicker.py"
    env = dict(os.environ, PYTHONPATH="")           # nothing from the checkout: only what was installed
    done = subprocess.run([sys.executable, str(launcher), "--no-start"], capture_output=True, text=True, timeout=60,
                          cwd=str(tmp_path), env=env)
    assert done.returncode == 2 and "no running DaVinci Resolve answers" in done.stdout, done.stderr
    probe = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='x'); import deflicker_resolve, deflicker_bridge as bridge; " \
            "print(deflicker_resolve.__file__); print(bridge.__file__)"
    done = subprocess.run([sys.executable, "-c", probe, str(launcher)], capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path), env=env)
    lib = str(home / ".local" / "share" / "deflicker" / "resolve")
    assert done.stdout.split() == [os.path.join(lib, "deflicker_resolve", "__init__.py"),
                                   os.path.join(lib, "deflicker_bridge", "__init__.py")], done.stderr


def test_dry_run_changes_nothing(home):
    before = tree(home)
    out = run("--home", str(home), "--platform", "linux", "--dry-run")
    assert "would create" in out and "would keep the existing" in out
    assert tree(home) == before


def test_scripts_and_lib_dir_overrides_and_stale_files(tmp_path):
    scripts, lib = tmp_path / "scripts", tmp_path / "lib"
    run("--scripts-dir", str(scripts), "--lib-dir", str(lib))
    stale = lib / "deflicker_bridge" / "retired.py"
    install_manifest = install.Installer(str(lib))
    install_manifest.manifest["files"][str(stale)] = "x"
    install_manifest.save()
    stale.write_text("# a module an older version shipped\n")
    out = run("--scripts-dir", str(scripts), "--lib-dir", str(lib))
    assert "remove {}".format(stale) in out and not stale.exists()
    run("--lib-dir", str(lib), "--uninstall")
    assert not lib.exists() and not scripts.exists()


def test_python_option_vendors_pyzmq_and_msgpack(tmp_path):
    calls = []
    lib = tmp_path / "lib"

    def fake_pip(argv):
        calls.append(argv)
        if argv[1] == "-c":                      # the import probe
            return (0, "") if (lib / "vendor" / "zmq").is_dir() else (1, "No module named 'zmq'")
        (lib / "vendor" / "zmq").mkdir(parents=True)
        (lib / "vendor" / "msgpack").mkdir()
        return 0, "Successfully installed"

    out = run("--scripts-dir", str(tmp_path / "s"), "--lib-dir", str(lib), "--python", "/opt/py/python3",
              runner=fake_pip)
    assert calls[-1] == ["/opt/py/python3", "-m", "pip", "install", "--target", str(lib / "vendor"), "--upgrade",
                         "pyzmq", "msgpack"]
    assert "run /opt/py/python3 -m pip install" in out
    again = run("--scripts-dir", str(tmp_path / "s"), "--lib-dir", str(lib), "--python", "/opt/py/python3",
                runner=fake_pip)
    assert "importable by /opt/py/python3 already" in again and "nothing to change" in again
    run("--lib-dir", str(lib), "--uninstall")
    assert not lib.exists()


def test_default_folders_per_platform(tmp_path):
    home = str(tmp_path)
    assert install.default_scripts_dir("darwin", home) == os.path.join(
        home, "Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts", "Edit")
    assert install.default_scripts_dir("win32", home, menu="Utility") == os.path.join(
        home, "AppData", "Roaming", "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts", "Utility")
    assert install.default_scripts_dir("linux", all_users=True) == os.path.join("/opt/resolve/Fusion/Scripts", "Edit")
    assert install.default_lib_dir("linux", home) == os.path.join(home, ".local", "share", "deflicker", "resolve")


def test_a_python_without_pyzmq_gets_told_how_to_install_it(tmp_path):
    scripts, lib = tmp_path / "scripts", tmp_path / "lib"
    run("--scripts-dir", str(scripts), "--lib-dir", str(lib))
    broken = lib / "vendor" / "zmq"                 # vendor/ comes first on the path: this hides the real pyzmq
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('No module named zmq')\n")
    done = subprocess.run([sys.executable, str(scripts / "Deflicker.py")], capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=""))
    assert done.returncode == 2
    assert "cannot start: No module named zmq" in done.stdout
    assert "install/resolve/install.py --python" in done.stdout and sys.executable in done.stdout

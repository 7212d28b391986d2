"""install/server/install_service.py: idempotent, says what it changed, --uninstall undoes it."""
import importlib.util
import plistlib
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "install" / "server" / "install_service.py"


@pytest.fixture(scope="module")
def installer():
    spec = importlib.util.spec_from_file_location("install_service", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeManager:
    """systemctl/launchctl stand-in: remembers what is enabled, running or loaded."""

    def __init__(self):
        self.calls, self.enabled, self.active = [], False, False

    def __call__(self, argv):
        self.calls.append(list(argv))
        verb = argv[2] if argv[0] == "systemctl" else argv[1]
        if verb == "is-enabled":
            return (0 if self.enabled else 1), ""
        if verb in ("is-active", "print"):
            return (0 if self.active else 1), ""
        if verb == "enable":
            self.enabled = True
        if verb in ("start", "bootstrap"):
            self.active = True
        if verb in ("disable", "bootout"):
            self.enabled = self.active = False
        return 0, ""

    def verbs(self):
        """The commands that change something (queries left out)."""
        verbs = [c[2] if c[0] == "systemctl" else c[1] for c in self.calls]
        return [v for v in verbs if v not in ("is-enabled", "is-active", "print")]


def _run(installer, manager, capsys, *argv):
    code = installer.main([*argv], run=manager)
    return code, capsys.readouterr().out


def test_linux_install_is_idempotent_and_uninstall_undoes_it(installer, tmp_path, capsys):
    manager = FakeManager()
    base = ["--platform", "linux", "--home", str(tmp_path), "--root", str(tmp_path / "shots"), "--cache-dir",
            str(tmp_path / "my cache")]
    code, out = _run(installer, manager, capsys, *base)
    unit = tmp_path / ".config" / "systemd" / "user" / "deflicker-server.service"
    assert code == 0 and f"wrote: {unit}" in out and "enabled" in out and "started" in out
    text = unit.read_text()
    assert "ExecStart=" in text and '"' + str((tmp_path / "my cache").resolve()) + '"' in text
    assert "--root " + str((tmp_path / "shots").resolve()) in text and "WantedBy=default.target" in text
    assert manager.verbs() == ["daemon-reload", "enable", "start"]

    manager.calls.clear()
    code, out = _run(installer, manager, capsys, *base)
    assert code == 0 and f"unchanged: {unit}" in out and "enabled and running" in out and manager.verbs() == []

    code, out = _run(installer, manager, capsys, *base, "--device", "cpu")
    assert "wrote" in out and "restarted" in out and "--device cpu" in unit.read_text()

    manager.calls.clear()
    code, out = _run(installer, manager, capsys, *base, "--uninstall")
    assert code == 0 and "disabled" in out and f"removed: {unit}" in out and not unit.exists()
    code, out = _run(installer, manager, capsys, *base, "--uninstall")
    assert code == 0 and "nothing to remove" in out


def test_macos_writes_a_launch_agent(installer, tmp_path, capsys):
    manager = FakeManager()
    code, out = _run(installer, manager, capsys, "--platform", "macos", "--home", str(tmp_path))
    plist = tmp_path / "Library" / "LaunchAgents" / "com.deflicker.server.plist"
    data = plistlib.loads(plist.read_bytes())
    assert code == 0 and data["Label"] == "com.deflicker.server" and data["RunAtLoad"] is True
    assert data["ProgramArguments"][-4:] == ["--bind", "tcp://127.0.0.1:5557", "--device", "auto"]
    assert "loaded com.deflicker.server" in out
    code, out = _run(installer, manager, capsys, "--platform", "macos", "--home", str(tmp_path))
    assert "unchanged" in out and manager.verbs().count("bootstrap") == 1
    code, out = _run(installer, manager, capsys, "--platform", "macos", "--home", str(tmp_path), "--uninstall")
    assert not plist.exists() and "unloaded" in out


def test_dry_run_changes_nothing_and_failures_are_reported(installer, tmp_path, capsys):
    code, out = _run(installer, FakeManager(), capsys, "--platform", "linux", "--home", str(tmp_path), "--dry-run")
    assert code == 0 and "would write" in out and "would run: systemctl --user enable" in out
    assert not (tmp_path / ".config").exists()
    code, out = _run(installer, lambda argv: (1, "Failed to connect to bus"), capsys, "--platform", "linux",
                     "--home", str(tmp_path))
    assert code == 1 and "failed (1): systemctl --user daemon-reload: Failed to connect to bus" in out

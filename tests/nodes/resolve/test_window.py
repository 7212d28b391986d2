# SPDX-License-Identifier: Apache-2.0
"""The window (against a UIManager stand-in) and the console, driving real runs on the real server."""
import io
import subprocess
import sys

import pytest

import fusion_ui
from deflicker_resolve import entry, run as runs

from .conftest import REPO, START, png_media, timeline_with


@pytest.fixture
def user():
    """What the user does in the window while it is open (a list of fusion_ui actions)."""
    yield fusion_ui.Dispatcher.actions
    fusion_ui.Dispatcher.actions = []


def scene(make_resolve, tmp_path, count=12):
    app = make_resolve()
    timeline, _ = timeline_with(app, png_media(tmp_path / "media", count=count), [(2, 10, 1, 0)])
    timeline.SetCurrentTimecode("01:00:00:03")
    return app, timeline


def test_window_builds_knobs_from_the_server_and_places_the_result(server, tmp_path, make_resolve, user):
    app, timeline = scene(make_resolve, tmp_path)
    fusion, bmd = fusion_ui.Fusion(), fusion_ui.BMD()
    with server.connect() as conn:
        effect = conn.describe()
    presets = list(effect.param("preset").choices)
    user[:] = [("set", "P_atlas_steps", "Value", 8), ("set", "P_working_size", "Value", 128),
               ("set", "P_preset", "CurrentIndex", presets.index("processed")),
               ("set", "Handles", "Value", 3), ("click", "Go"), ("wait",), ("click", "DeflickerWin")]
    defaults = runs.Options(address=server.address, auto_start=False, cache_dir=str(tmp_path / "cache"))

    assert entry.launch({"resolve": app, "fu": fusion, "bmd": bmd}, defaults) == 0

    (placed,) = timeline.GetItemListInTrack("video", 2)
    assert (placed.GetStart(), placed.GetDuration(), placed.GetLeftOffset()) == (START, 8, 2)
    items = bmd_window(fusion).GetItems()
    assert items["P_preset"].entries == presets and items["P_colorspace"].kind == "LineEdit"
    appearance = effect.param("appearance")
    assert effect.preset_fills()["processed"]["appearance"] == "hold"
    assert appearance.choices[items["P_appearance"].CurrentIndex] == "hold"
    assert "Deflickered 1 clip(s) into the 'Deflicker' bin with preset 'processed'" in items["Status"].Text
    assert items["Progress"].Value == 1000 and items["Go"].Enabled and not items["Cancel"].Enabled
    assert (tmp_path / "cache" / "effect.json").is_file()           # the knobs are remembered for next time


def bmd_window(fusion):
    return fusion.window


def test_window_cancel_takes_everything_back(server, tmp_path, make_resolve, user):
    app, timeline = scene(make_resolve, tmp_path)
    before = app.standin_snapshot()
    fusion, bmd = fusion_ui.Fusion(), fusion_ui.BMD()
    user[:] = [("set", "P_atlas_steps", "Value", 5000), ("set", "P_working_size", "Value", 128),
               ("click", "Go"), ("click", "Cancel"), ("wait",), ("click", "Close")]
    defaults = runs.Options(address=server.address, auto_start=False, cache_dir=str(tmp_path / "cache"))

    entry.launch({"resolve": app, "fu": fusion, "bmd": bmd}, defaults)

    assert "cancelled" in bmd_window(fusion).GetItems()["Status"].Text
    assert app.standin_snapshot() == before


def test_window_shows_why_nothing_can_run(tmp_path, make_resolve, user):
    app, timeline = scene(make_resolve, tmp_path)
    timeline.SetCurrentTimecode("01:00:09:00")
    fusion, bmd = fusion_ui.Fusion(), fusion_ui.BMD()
    user[:] = [("click", "Go"), ("click", "Close")]
    defaults = runs.Options(address="tcp://127.0.0.1:1", auto_start=False, cache_dir=str(tmp_path / "cache"))

    entry.launch({"resolve": app, "fu": fusion, "bmd": bmd}, defaults)

    items = bmd_window(fusion).GetItems()
    assert "no clip is under the playhead" in items["Status"].Text
    assert "server's defaults" in items["EffectNote"].Text       # no server: no knobs, and the window says so
    assert items["Go"].Enabled


def test_console_run_through_davinci_resolve_script(server, tmp_path, make_resolve):
    app, timeline = scene(make_resolve, tmp_path)
    out = io.StringIO()
    argv = ["--server", server.address, "--no-start", "--handles", "2", "--param", "atlas_steps=8",
            "--param", "working_size=128"]

    assert entry.main(argv, out=out) == 0

    assert "Deflickered 1 clip(s)" in out.getvalue() and "]   0%  clip 1/1 plate_[0000-0011].png" in out.getvalue()
    assert len(timeline.GetItemListInTrack("video", 2)) == 1


def test_launcher_runs_from_a_checkout_and_explains_a_missing_resolve():
    launcher = REPO / "nodes" / "resolve" / "Deflicker.py"
    done = subprocess.run([sys.executable, str(launcher), "--no-start"], capture_output=True, text=True,
                          timeout=60, cwd=str(REPO))
    assert done.returncode == 2 and "no running DaVinci Resolve answers" in done.stdout
    done = subprocess.run([sys.executable, str(launcher), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--track" in done.stdout


def test_missing_dependency_message_shows_in_a_window_inside_resolve(user):
    from deflicker_resolve import dialog
    fusion, bmd = fusion_ui.Fusion(), fusion_ui.BMD()
    user[:] = [("click", "OK")]

    assert dialog.missing_dependency({"fu": fusion, "bmd": bmd}, ImportError("No module named 'zmq'")) is True

    text = fusion.window.GetItems()  # the message window's label holds the whole explanation
    label = [e for e in fusion.window.root.children if e.kind == "Label"][0]
    assert "No module named 'zmq'" in label.Text and "install.py --python" in label.Text
    assert not fusion.window.visible and "DeflickerMessage" in text


def test_choice_and_text_parameters_get_a_combo_box_and_a_line_edit():
    from deflicker_bridge import Effect
    from deflicker_resolve import window
    effect = Effect.from_describe({"effect": {"params": [
        {"name": "preset", "type": "choice", "default": "auto", "choices": ["auto", "processed"]},
        {"name": "colorspace", "type": "string", "default": ""},
        {"name": "slow_changes", "type": "double", "default": 0.5, "min": 0.0, "max": 30.0}],
        "presets": {"auto": {"values": {}}, "processed": {"values": {"slow_changes": 0.0}}}}})
    controls = dict((p.name, (element, props)) for p, element, props in window.param_controls(effect.params))
    assert controls["preset"][0] == "ComboBox" and controls["preset"][1]["Events"] == {"CurrentIndexChanged": True}
    assert controls["colorspace"] == ("LineEdit", {"ID": "P_colorspace", "ToolTip": "", "Text": ""})
    combo, line = fusion_ui.Element("ComboBox"), fusion_ui.Element("LineEdit")
    window.set_widget(effect.param("preset"), "ComboBox", combo, "processed")
    window.set_widget(effect.param("colorspace"), "LineEdit", line, "ACEScg")
    assert window.widget_value(effect.param("preset"), "ComboBox", combo) == "processed"
    assert window.widget_value(effect.param("colorspace"), "LineEdit", line) == "ACEScg"


def test_free_resolve_19_1_runs_in_the_console_and_says_why(server, tmp_path, make_resolve, user, capsys):
    app = make_resolve(version=(19, 1, 3, 7, ""), product="DaVinci Resolve")
    timeline, _ = timeline_with(app, png_media(tmp_path / "media", count=12), [(2, 10, 1, 0)])
    timeline.SetCurrentTimecode("01:00:00:03")
    fusion, bmd = fusion_ui.Fusion(windows_blocked=True), fusion_ui.BMD()
    defaults = runs.Options(address=server.address, auto_start=False, cache_dir=str(tmp_path / "cache"), handles=2,
                            params={"atlas_steps": 8, "working_size": 128})

    assert entry.launch({"resolve": app, "fu": fusion, "bmd": bmd}, defaults) == 0

    out = capsys.readouterr().out
    assert "free DaVinci Resolve 19.1.3.7 shows no windows of third-party scripts" in out
    assert "Deflickered 1 clip(s)" in out and len(timeline.GetItemListInTrack("video", 2)) == 1
    assert fusion.UIManager.windows == []                 # no window that would never appear


def test_windows_are_blocked_only_in_free_resolve_from_19_1():
    from deflicker_resolve import logic
    assert logic.windows_blocked("DaVinci Resolve", [19, 1, 0, 0, ""])
    assert logic.windows_blocked("DaVinci Resolve", [20, 0, 0, 0, ""])
    assert not logic.windows_blocked("DaVinci Resolve", [19, 0, 3, 0, ""])
    assert not logic.windows_blocked("DaVinci Resolve Studio", [20, 0, 0, 0, ""])
    assert not logic.windows_blocked("DaVinci Resolve", None)

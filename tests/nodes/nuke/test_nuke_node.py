# SPDX-License-Identifier: Apache-2.0
"""The Deflicker node in a (stand-in) Nuke session against a real server and engine.

A Read of a flickering PNG sequence numbered 1001-1012 feeds the node; buttons are pressed as a user
does (PyScript_Knob.execute on the main thread) and Nuke's event loop is simulated
(nuke.standin_run_until) while the job runs on worker threads.
"""
import os

import cv2
import numpy as np
import pytest

import deflicker_bridge as bridge
from tests.conftest import flicker, temporal_error, textured_scene
from tests.server.procs import CHEAP, ServerProcess, free_port

from .conftest import create

FIRST, COUNT = 1001, 12
LAST = FIRST + COUNT - 1


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(pattern, clean frames, flickering frames): PNGs plate.1001.png ... plate.1012.png."""
    folder = tmp_path_factory.mktemp("plate")
    clean = textured_scene(COUNT, 48, 64, seed=3, pan=2.0)
    flickering = flicker(clean, seed=4, amount=0.3)
    for i, frame in enumerate(flickering):
        rgb8 = (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)
        cv2.imwrite(str(folder / "plate.{}.png".format(FIRST + i)), cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR))
    quantised = np.stack([cv2.imread(str(folder / "plate.{}.png".format(FIRST + i)))[:, :, ::-1] / 255.0
                          for i in range(COUNT)]).astype(np.float32)
    return str(folder / "plate.####.png"), clean, quantised


def _node(nuke, host, server, clip, **knobs):
    read = nuke.nodes.Read(file=clip[0], first=FIRST, last=LAST, origfirst=FIRST, origlast=LAST)
    read["selected"].setValue(True)
    node = create(nuke, host, server.address)
    assert node is not None and node.input(0) is read           # connected once its inside was built
    for name, value in dict(CHEAP, **knobs).items():
        node[name].setValue(value)
    return node


def _press(nuke, host, node, button, timeout=120):
    node[button].execute()
    nuke.standin_run_until(lambda: not host.running(node), timeout)


def _showing(node):
    """True when the node shows its result (the Copy of the result's rgb is on), False for its input."""
    return not node.node("ResultOrInput")["disable"].value()


def _cache_files(node, folder):
    root = os.path.join(os.environ["DEFLICKER_NUKE_CACHE"], "untitled", node.fullName(), folder)
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _cache_hits(server):
    with server.connect() as conn:
        result, _ = conn.call("status")
    return result["memory"]["hits"]["memory"]


def _to_srgb(linear):
    x = np.clip(linear, 0, None)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def _structure(image):
    grey = image.mean(axis=2)
    high = grey - cv2.GaussianBlur(grey, (0, 0), 3)
    return (high - high.mean()) / (high.std() + 1e-6)


def test_knobs_are_built_from_the_servers_describe(nuke, host, server, clip):
    node = _node(nuke, host, server, clip)
    with server.connect() as conn:
        described = conn.describe()
    names = [k.name() for k in node.allKnobs()]
    assert [k.name() for k in node.allKnobs() if k.Class() == "Tab_Knob"] == ["deflicker"]
    for param in described.params:
        knob = node[param.name]
        assert knob.label() == param.label and knob.tooltip() == param.help
        assert knob.Class() == {"boolean": "Boolean_Knob", "integer": "Int_Knob", "double": "Double_Knob",
                                "choice": "Enumeration_Knob", "string": "String_Knob"}[param.type]
        if param.type == "choice":
            assert knob.values() == list(param.choices) and knob.value() == param.default
        divider = names.index(param.group + "_divider")
        assert divider < names.index(param.name)
        if param.group == "analysis":
            assert names.index(param.name) < names.index("render_divider")
    assert node["strength"].value() == 1.0 and node["working_size"].value() == CHEAP["working_size"]
    assert [node[n].Class() for n in ("analyse", "render", "cancel")] == ["PyScript_Knob"] * 3
    assert (node["frame_first"].value(), node["frame_last"].value()) == (FIRST, LAST)
    assert node["status"].value().startswith("ready") and not node["deflicker_params"].visible()
    write = node.node("ExportInput")
    assert [write[k].value() for k in ("file_type", "datatype", "channels", "raw", "disable")] == [
        "exr", "32 bit float", "rgba", True, True]
    assert write.input(0) is node.node("Input1") and node.output().input(0) is node.node("ResultOrInput")
    copy = node.node("ResultOrInput")
    assert copy.Class() == "Copy" and copy.input(0) is node.node("Input1") and copy.input(1) is node.node("Result")
    assert [(copy["from%d" % i].value(), copy["to%d" % i].value()) for i in range(4)] == [
        ("rgba.red", "rgba.red"), ("rgba.green", "rgba.green"), ("rgba.blue", "rgba.blue"), ("none", "none")]
    assert copy["disable"].value()                                # no result yet: the input passes through
    assert os.path.isfile(os.path.join(os.environ["DEFLICKER_NUKE_CACHE"], "effect.json"))
    for knob in node.allKnobs():                                  # booleans on their own line, help everywhere
        if knob.Class() == "Boolean_Knob" and knob.name() not in ("disable", "selected"):
            assert knob.getFlag(nuke.STARTLINE), knob.name()
        if knob.Class() in ("Boolean_Knob", "Int_Knob", "Double_Knob", "String_Knob", "Enumeration_Knob",
                            "PyScript_Knob") and knob.visible() and knob.name() != "label":
            assert knob.tooltip(), knob.name()
    assert "Analyse" in node["help"].value() and node["results_folder"].value() == "deflicker"


def test_analyse_then_render_shows_the_deflickered_frames_at_their_own_numbers(nuke, host, server, clip):
    node = _node(nuke, host, server, clip)
    _press(nuke, host, node, "analyse")
    assert node["status"].value() == "analysed frames {}-{} (handles 0+0), preset 'auto': press Render".format(
        FIRST, LAST)
    assert nuke.standin_executions() == [(node.fullName() + ".ExportInput", FIRST, LAST)]
    assert _cache_files(node, "input") == ["input.{}.exr".format(f) for f in range(FIRST, LAST + 1)]
    assert _cache_files(node, "result") == [] and not _showing(node)
    analysed = nuke.standin_progress_tasks()[-1]
    assert analysed.closed and analysed.progress[-1] == 100 and max(analysed.progress) <= 100
    assert analysed.messages[-1] == "Deflicker Deflicker1: done"
    inputs = os.path.join(os.environ["DEFLICKER_NUKE_CACHE"], "untitled", node.fullName(), "input")
    mtimes = dict((name, os.stat(os.path.join(inputs, name)).st_mtime_ns) for name in os.listdir(inputs))
    hits = _cache_hits(server)

    _press(nuke, host, node, "render")
    assert node["status"].value() == "showing the result of frames {}-{} (handles 0+0), preset 'auto'".format(
        FIRST, LAST)
    assert nuke.standin_messages() == []
    assert _cache_hits(server) == hits + 1          # Render found Analyse's analysis: the export kept the files
    assert dict((n, os.stat(os.path.join(inputs, n)).st_mtime_ns) for n in os.listdir(inputs)) == mtimes
    read = node.node("Result")
    results = _cache_files(node, "result")
    assert len(results) == COUNT and read["file"].value().endswith(results[0].replace(str(FIRST), "%04d"))
    assert [results[i] for i in (0, -1)] == [results[0].replace(str(FIRST), str(f)) for f in (FIRST, LAST)]
    assert (read["first"].value(), read["last"].value()) == (FIRST, LAST)
    assert _showing(node)

    _, clean, flickering = clip
    shown = np.stack([_to_srgb(nuke.standin_image(node, f)[:, :, :3]) for f in range(FIRST, LAST + 1)])
    assert shown.shape == clean.shape
    for i in range(COUNT):        # each frame number shows the frame of that number, not a neighbour
        scores = [float(np.mean(_structure(shown[i]) * _structure(c))) for c in clean]
        assert int(np.argmax(scores)) == i
    before, after = temporal_error(flickering, clean), temporal_error(shown, clean)
    assert after < 0.6 * before, (before, after)
    assert not np.any(nuke.standin_image(node, LAST + 1))              # outside the result: black


def test_knob_changes_only_mark_the_result_stale(nuke, host, server, clip, monkeypatch):
    node = _node(nuke, host, server, clip)
    _press(nuke, host, node, "render")
    shown_file = node.node("Result")["file"].value()
    assert _showing(node)
    nuke.standin_open_panel(node)                       # the user edits in the node's panel
    connections = []

    def no_connection(self, *args, **kwargs):
        connections.append(args)
        raise AssertionError("knobChanged must not talk to the server")

    monkeypatch.setattr(bridge.Connection, "__init__", no_connection)
    executed = len(nuke.standin_executions())
    before = set(_cache_files(node, "result")) | set(_cache_files(node, "input"))

    node["strength"].setValue(0.5)
    assert not _showing(node)
    assert node["status"].value() == ("out of date (Strength changed: press Render (no new analysis needed)); "
                                      "showing the input")
    node["working_size"].setValue(160)
    assert "Working size changed: press Analyse or Render" in node["status"].value()
    node["label"].setValue("note")                      # not something the result depends on
    assert "Working size" in node["status"].value()
    assert np.array_equal(nuke.standin_image(node, FIRST), nuke.standin_image(node.input(0), FIRST))
    assert connections == [] and len(nuke.standin_executions()) == executed
    assert node.node("Result")["file"].value() == shown_file
    assert set(_cache_files(node, "result")) | set(_cache_files(node, "input")) == before


def test_picking_a_preset_fills_the_knobs_it_sets_and_the_status_names_it(nuke, host, server, clip, monkeypatch):
    node = _node(nuke, host, server, clip)
    nuke.standin_open_panel(node)
    with server.connect() as conn:
        fills = conn.describe().preset_fills()
    with monkeypatch.context() as offline:
        offline.setattr(bridge.Connection, "__init__", lambda *a, **k: pytest.fail("knobChanged went online"))
        node["preset"].setValue("processed")
        assert node["appearance"].value() == fills["processed"]["appearance"] == "hold"
        node["preset"].setValue("auto")                       # puts back what 'processed' changed
        assert node["appearance"].value() == fills["auto"]["appearance"] == "adaptive"
        node["preset"].setValue("processed")
        node["appearance"].setValue("follow")                 # a value set after the preset stays
        assert node["preset"].value() == "processed" and node["appearance"].value() == "follow"
    _press(nuke, host, node, "analyse")
    assert node["status"].value().startswith("analysed ") and "preset 'processed'" in node["status"].value()


def test_handles_are_clipped_at_the_ends_of_the_input(nuke, host, server, clip):
    node = _node(nuke, host, server, clip, use_input_range=False, frame_first=FIRST + 2, frame_last=LAST - 3,
                 handles=4)
    _press(nuke, host, node, "render")
    assert nuke.standin_messages() == []
    assert nuke.standin_executions() == [(node.fullName() + ".ExportInput", FIRST, LAST - 0)]
    assert node["status"].value() == "showing the result of frames {}-{} (handles 2+3), preset 'auto'".format(
        FIRST + 2, LAST - 3)
    read = node.node("Result")
    assert (read["first"].value(), read["last"].value()) == (FIRST, LAST)
    assert len(_cache_files(node, "result")) == COUNT


@pytest.mark.parametrize("how", ["progress window", "cancel button"])
def test_cancel_mid_job_leaves_nothing_and_the_graph_unchanged(nuke, host, server, clip, how):
    node = _node(nuke, host, server, clip, atlas_steps=4000)
    graph = nuke.standin_snapshot(exclude=("status",))
    node["render"].execute()
    node["render"].execute()                             # a second press while it runs is refused
    assert nuke.standin_messages() == ["Deflicker: Deflicker1 is still working; wait for it or press Cancel."]
    task = nuke.standin_progress_tasks()[-1]
    nuke.standin_run_until(lambda: any("survey" in m for m in task.messages), 120)
    if how == "progress window":
        nuke.standin_cancel_progress()
    else:
        node["cancel"].execute()
    nuke.standin_run_until(lambda: not host.running(node), 60)
    assert node["status"].value() == "cancelled: nothing was changed"
    assert _cache_files(node, "result") == [] and task.closed
    assert nuke.standin_snapshot(exclude=("status",)) == graph
    assert len(nuke.standin_messages()) == 1


def test_cancelling_the_export_starts_no_job(nuke, host, server, clip):
    node = _node(nuke, host, server, clip)
    graph = nuke.standin_snapshot(exclude=("status",))
    tasks = len(nuke.standin_progress_tasks())                  # the one shown while the node was created
    nuke.standin_cancel_execute_at(FIRST + 4)
    node["render"].execute()
    assert not host.running(node) and len(nuke.standin_progress_tasks()) == tasks
    assert node["status"].value() == "cancelled while exporting the input: nothing was changed"
    assert nuke.standin_messages() == [] and nuke.standin_snapshot(exclude=("status",)) == graph
    assert _cache_files(node, "staging") == [] and _cache_files(node, "input") == []


@pytest.mark.parametrize("start_server", [False, True])
def test_no_server_shows_a_message_and_leaves_the_graph(nuke, host, server, clip, monkeypatch, start_server):
    node = _node(nuke, host, server, clip)
    address = "tcp://127.0.0.1:{}".format(free_port())
    node["server"].setValue(address)
    node["start_server"].setValue(start_server)
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", "false")    # a server that cannot start
    graph = nuke.standin_snapshot(exclude=("status",))
    _press(nuke, host, node, "render", 60)
    (message,) = nuke.standin_messages()
    if start_server:
        assert message.startswith("Deflicker (Deflicker1): could not start a deflicker server at " + address)
    else:
        assert message == ("Deflicker (Deflicker1): no deflicker server answers at {0}. Start one with "
                           "`deflicker serve --bind {0}`, or turn on 'start server' on the node to let it start "
                           "one.".format(address))
    assert node["status"].value().startswith("failed: ")
    assert nuke.standin_snapshot(exclude=("status",)) == graph and _cache_files(node, "result") == []


def test_losing_the_server_mid_job_is_reported_and_changes_nothing(nuke, host, server, clip, tmp_path):
    node = _node(nuke, host, server, clip, atlas_steps=4000)
    doomed = ServerProcess(tmp_path, roots=[tmp_path], client_timeout=3.0).start()
    node["server"].setValue(doomed.address)
    graph = nuke.standin_snapshot(exclude=("status",))
    node["render"].execute()
    task = nuke.standin_progress_tasks()[-1]
    try:
        nuke.standin_run_until(lambda: any("survey" in m for m in task.messages), 120)
        doomed.kill()
        nuke.standin_run_until(lambda: not host.running(node), 60)
    finally:
        doomed.stop()
    (message,) = nuke.standin_messages()
    assert message.startswith("Deflicker (Deflicker1): the deflicker server at {} stopped answering while it "
                              "worked (".format(doomed.address))
    assert message.endswith("Check that it still runs (`deflicker status --server {}`), then press the button "
                            "again.".format(doomed.address))
    assert nuke.standin_snapshot(exclude=("status",)) == graph and _cache_files(node, "result") == []


@pytest.mark.parametrize("case", ["range outside the input", "proxy mode", "no input", "bad value"])
def test_refusals_happen_before_any_render(nuke, host, server, clip, case):
    node = _node(nuke, host, server, clip)
    expected = {
        "range outside the input": "frames 990-1005 run outside the source, which has frames 1001-1012. Change "
                                   "the frame range or turn on 'use input range'.",
        "proxy mode": "proxy mode is on, so the input would be exported at proxy resolution",
        "no input": "Deflicker1 has no input: connect the clip to deflicker to its input.",
        "bad value": "Strength = 1.5 is outside its range 0.0 to 1.0",
    }[case]
    if case == "range outside the input":
        for name, value in (("use_input_range", False), ("frame_first", 990), ("frame_last", 1005)):
            node[name].setValue(value)
    elif case == "proxy mode":
        nuke.root()["proxy"].setValue(True)
    elif case == "no input":
        node.setInput(0, None)
    else:
        node["strength"].setValue(1.5)
    graph, status = nuke.standin_snapshot(), node["status"].value()
    node["render"].execute()
    (message,) = nuke.standin_messages()
    assert message.startswith("Deflicker (Deflicker1): " + expected)
    assert nuke.standin_executions() == [] and not host.running(node)
    assert nuke.standin_snapshot() == graph and node["status"].value() == status
    assert _cache_files(node, "input") == []


def test_creating_without_a_server_asks_first_and_changes_nothing_when_declined(nuke, host, monkeypatch):
    address = "tcp://127.0.0.1:{}".format(free_port())
    graph = nuke.standin_snapshot()
    nuke.standin_answer(False)
    assert host.create(address) is None and host.creating()          # asked on a worker thread: no freeze
    nuke.standin_run_until(lambda: not host.creating(), 30)
    assert "No deflicker server answers at " + address in nuke.standin_asked()[0]
    assert nuke.standin_progress_tasks()[0].messages[0] == "asking the deflicker server at {} for its " \
                                                           "parameters".format(address)
    assert nuke.standin_messages() == ["Deflicker: no deflicker server answers at {0}. Start one with `deflicker "
                                       "serve --bind {0}`, then create the node again.".format(address)]
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", "false")
    nuke.standin_answer(True)
    assert create(nuke, host, address) is None
    assert nuke.standin_messages()[-1].startswith("Deflicker: could not start a deflicker server at " + address)
    assert any(m.startswith("starting a deflicker server at " + address) for t in nuke.standin_progress_tasks()
               for m in t.messages)
    assert nuke.standin_snapshot() == graph


def test_a_described_effect_is_remembered_for_when_no_server_runs(nuke, host, server):
    assert create(nuke, host, server.address) is not None
    node = host.create("tcp://127.0.0.1:{}".format(free_port()))          # no server there, but the cache
    assert node is not None and node.name() == "Deflicker2" and node.knob("strength") is not None
    assert nuke.standin_asked() == [] and nuke.standin_messages() == []


@pytest.mark.parametrize("when", ["idle", "before a render", "script load"])
def test_a_result_made_stale_with_the_panel_closed_is_not_shown(nuke, host, server, clip, tmp_path, when):
    """Before Nuke 17 knobChanged does not fire for script changes with the panel closed: the stored key
    catches them in the update-UI callback, before a render, or when the script is opened."""
    node = _node(nuke, host, server, clip)
    _press(nuke, host, node, "render")
    assert _showing(node) and node[("deflicker_key")].value()
    node["strength"].setValue(0.5)                              # a script, not the panel: no knobChanged
    assert _showing(node)
    if when == "idle":
        nuke.standin_idle()
    elif when == "before a render":
        write = nuke.nodes.Write(file=str(tmp_path / "out.####.exr"), file_type="exr")
        write.setInput(0, node)
        nuke.execute(write, FIRST, FIRST)
        assert np.array_equal(nuke.standin_image(node, FIRST), nuke.standin_image(node.input(0), FIRST))
    else:
        nuke.standin_load_script()
    assert not _showing(node)
    assert node["status"].value() == "OUT OF DATE (Strength changed: press Render); showing the input"
    assert node["label"].value() == "OUT OF DATE: showing the input"
    node["strength"].setValue(1.0)
    _press(nuke, host, node, "render")                          # a new result clears the warning
    assert _showing(node) and node["label"].value() == ""


def test_a_re_pointed_input_read_makes_the_result_stale(nuke, host, server, clip, tmp_path):
    node = _node(nuke, host, server, clip)
    _press(nuke, host, node, "render")
    node.input(0)["file"].setValue(clip[0].replace("plate.", "other."))
    nuke.standin_idle()
    assert not _showing(node) and "the input changed" in node["status"].value()


def test_results_go_beside_the_script_stored_relative(nuke, host, server, clip, tmp_path):
    script = tmp_path / "shots" / "comp_v001.nk"
    script.parent.mkdir()
    nuke.root()["name"].setValue(str(script))
    node = _node(nuke, host, server, clip)
    _press(nuke, host, node, "render")
    results = tmp_path / "shots" / "deflicker" / "comp_v001" / "Deflicker1" / "result"
    assert len(list(results.glob("result_*.exr"))) == COUNT
    assert node.node("Result")["file"].value().startswith("[file dirname [value root.name]]/deflicker/comp_v001/")
    assert nuke.standin_image(node, FIRST).shape[:2] == (48, 64)       # Nuke finds the files through it
    node["results_folder"].setValue(str(tmp_path / "elsewhere"))
    assert host._folders(node).root == str(tmp_path / "elsewhere" / "comp_v001" / "Deflicker1")


def test_an_ocio_script_passes_its_working_space_as_the_colour_space(nuke, host, server, clip):
    node = _node(nuke, host, server, clip)
    assert host._request(node, "render").params["colorspace"] == ""      # Nuke's own colour management
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["workingSpaceLUT"].setValue("ACEScg")
    assert host._request(node, "render").params["colorspace"] == "ACEScg"
    node["colorspace"].setValue("ARRI LogC4")                             # the user's own choice wins
    assert host._request(node, "render").params["colorspace"] == "ARRI LogC4"

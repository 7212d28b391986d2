# SPDX-License-Identifier: Apache-2.0
"""The add-on's plain-Python modules (no Blender needed): frame mapping, plans, paths, parameter specs,
messages, and NodeTask against a real server."""
import os
import sys
import time

import pytest

import deflicker_bridge as bridge
from deflicker_nodes.blender import deps, effect_props, messages, paths, sources
from deflicker_nodes.blender.plan import make_plan
from deflicker_nodes.blender.task import NodeTask
from tests.server.procs import CHEAP, ServerProcess, free_port

from .conftest import dead_address


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


# ----------------------------------------------------------------------------- sources
def test_split_number_takes_the_last_digits_like_blender():
    assert sources.split_number("plate_v2.1001.exr") == ("plate_v2.", "1001", ".exr")
    assert sources.split_number("f_0003_final.png") == ("f_", "0003", "_final.png")
    assert sources.split_number("still.png") is None


def test_sequence_numbers_keeps_one_padding_and_refuses_gaps(tmp_path):
    folder = touch(tmp_path / "a", "f_0008.png", "f_0009.png", "f_0010.png", "f_10.png", "g_0001.png", "f_0011.exr")
    pattern, numbers = sources.sequence_numbers(str(folder / "f_0009.png"))
    assert pattern == str(folder / "f_%04d.png") and numbers == [8, 9, 10]
    touch(folder, "f_0013.png")
    with pytest.raises(sources.MediaError, match=r"missing frames \(11, 12\)"):
        sources.sequence_numbers(str(folder / "f_0009.png"))
    with pytest.raises(sources.MediaError, match="no frame number"):
        sources.sequence_numbers(str(touch(tmp_path / "b", "still.png") / "still.png"))


def test_image_sequence_and_clip_sequence_place_frames_like_blender(tmp_path):
    folder = touch(tmp_path, *["f_{:04d}.png".format(n) for n in range(5, 15)])
    # image user: scene frame f shows number f - start + 1 + offset
    smap = sources.image_sequence(str(folder / "f_0005.png"), frame_start=1, frame_offset=4)
    assert (smap.first_frame, smap.media_first, smap.media_last, smap.count) == (1, 1, 10, 10)
    assert smap.position(1) == 0 and smap.path.endswith("f_%04d.png")
    held = sources.image_sequence(str(folder / "f_0005.png"), frame_start=-4, frame_offset=7)
    assert (held.first_frame, held.media_first, held.position(held.media_first)) == (-7, -5, 2)
    # movie clip: frame 1 is the file named in the clip's path
    clip = sources.clip_sequence(str(folder / "f_0007.png"), frame_start=1, frame_offset=0)
    assert (clip.first_frame, clip.media_first, clip.position(1)) == (-1, -1, 2)
    assert smap.result_ext() == ".png"


def test_movie_places_frames_and_refuses_empty_or_missing(tmp_path):
    movie = tmp_path / "m.mov"
    movie.write_bytes(b"x")
    smap = sources.movie(str(movie), 48, frame_start=10, frame_offset=2)
    assert (smap.media_first, smap.media_last, smap.position(10), smap.result_ext()) == (8, 55, 2, ".png")
    assert sources.movie(str(movie), 48, 10, 2, image_user=True).media_first == 9
    with pytest.raises(sources.MediaError, match="no frames"):
        sources.movie(str(movie), 0, 1, 0)
    with pytest.raises(sources.MediaError, match="does not exist; fix its path"):
        sources.movie(str(tmp_path / "gone.mov"), 10, 1, 0, what="the Movie Clip 'gone'")


def test_result_files_in_frame_order(tmp_path):
    folder = touch(tmp_path, "frame_000010.png", "frame_000002.png", "frame_000001.png", ".hidden.png", "x.txt")
    assert [os.path.basename(p) for p in sources.result_files(str(folder))] == [
        "frame_000001.png", "frame_000002.png", "frame_000010.png"]
    assert sources.result_files(str(tmp_path / "missing")) == []


# ----------------------------------------------------------------------------- plan, paths
def test_plan_opens_the_handles_and_names_the_roots(tmp_path):
    smap = sources.SourceMap(sources.SEQUENCE, str(tmp_path / "src" / "f_%04d.png"), 20, first_frame=101)
    plan = make_plan(smap, 105, 110, 8, {"strength": 0.5}, output=str(tmp_path / "out" / "s" / "n"),
                     output_root=str(tmp_path / "out"))
    assert (plan.frames.start, plan.frames.end, plan.start, plan.stop) == (101, 118, 0, 18)
    assert plan.roots == (str(tmp_path / "src"), str(tmp_path / "out")) and not plan.analyse_only
    analyse = make_plan(smap, 105, 110, 8, {}, output_root=str(tmp_path / "out"))
    assert analyse.analyse_only and analyse.roots == (str(tmp_path / "src"), str(tmp_path / "out"))
    assert make_plan(smap, 105, 110, 8, {}).roots == (str(tmp_path / "src"),)
    with pytest.raises(sources.MediaError, match="run outside the source, which has frames 101-120; set the node"):
        make_plan(smap, 100, 110, 0, {})


def test_output_locations(tmp_path):
    cache = str(tmp_path / "cache")
    assert paths.output_base(paths.CACHE, "", cache) == os.path.join(cache, "untitled")
    assert paths.output_base(paths.CACHE, "/shots/a b/comp v2.blend", cache) == os.path.join(cache, "comp_v2")
    assert paths.output_base(paths.BLEND, "/shots/a/comp.blend") == "/shots/a/deflicker"
    with pytest.raises(paths.LocationError, match="save it"):
        paths.output_base(paths.BLEND, "")
    assert paths.output_folder("/b", "Scene.001", "Deflicker/1") == "/b/Scene.001/Deflicker_1"
    assert paths.user_cache_dir({"XDG_CACHE_HOME": "/x"}, "linux", "/h") == "/x"
    assert paths.user_cache_dir({}, "linux", "/h") == "/h/.cache"
    assert paths.user_cache_dir({}, "darwin", "/h") == "/h/Library/Caches"
    assert paths.user_cache_dir({"LOCALAPPDATA": "C:/L"}, "win32", "/h") == "C:/L"


# ----------------------------------------------------------------------------- parameters
@pytest.fixture(scope="module")
def described(server):
    with server.connect() as conn:
        return conn.describe()


def test_specs_follow_the_description(described):
    specs = effect_props.specs(described)
    assert [s.attr for s in specs] == ["fx_" + p.name for p in described.params]
    for s, p in zip(specs, described.params):
        assert s.kind == effect_props.KINDS[p.type] and s.options["name"] == p.label
        assert s.options["default"] == p.default and s.group == p.group
        if p.type != "boolean" and p.max is not None:
            assert s.options["max"] <= effect_props.INT_LIMIT or s.kind == "FLOAT"
    assert effect_props.specs(None) == []
    values = effect_props.values(described, lambda attr: {"fx_strength": 1, "fx_colorspace": " ACEScg "}.get(attr, 0))
    assert set(values) == set(described.names()) and isinstance(values["strength"], float)
    assert values["colorspace"] == "ACEScg"
    by_attr = dict((s.attr, s) for s in specs)
    preset, colorspace = by_attr["fx_preset"], by_attr["fx_colorspace"]
    assert (preset.kind, colorspace.kind, colorspace.options["default"]) == ("ENUM", "STRING", "")
    assert [item[0] for item in preset.options["items"]] == list(described.param("preset").choices)
    assert dict((i[0], i[2]) for i in preset.options["items"]) == dict(
        (name, entry["summary"]) for name, entry in described.presets.items())     # the tooltip says what it is for
    attr, fills = effect_props.preset_fills(described)
    assert attr == "fx_preset" and fills["processed"]["fx_appearance"] == "hold"
    assert effect_props.preset_fills(None) == (None, {})
    assert effect_props.ran_with({"preset": "old-film"}) == " with preset 'old-film'"


def test_effect_cache_first_then_server_then_none(server, described, tmp_path):
    cache = str(tmp_path / "effect.json")
    fetched = effect_props.load_effect(server.address, cache)
    assert fetched.names() == described.names() and os.path.isfile(cache)
    t0 = time.monotonic()
    assert effect_props.load_effect(dead_address(), cache).names() == described.names()
    assert time.monotonic() - t0 < 0.3  # the cache answers without probing the network
    with open(cache, "w") as handle:
        handle.write("{damaged")
    assert effect_props.load_effect(dead_address(), cache) is None
    assert effect_props.same_schema(fetched, described)
    fewer = bridge.Effect.from_describe({"effect": {"params": [{"name": "strength", "type": "double",
                                                                "default": 1.0}]}})
    assert not effect_props.same_schema(fewer, described)


# ----------------------------------------------------------------------------- messages, dependencies
def test_messages_say_what_to_do():
    address = "tcp://127.0.0.1:5557"
    assert "deflicker serve" in messages.no_server(address)
    lost = messages.explain("request 3 (render) was lost: no heartbeat from x for 6 s", address)
    assert lost.startswith("the deflicker server at " + address + " stopped answering") and "Render again" in lost
    assert "--root folders" in messages.explain("input '/a' is outside the server's allowed roots (/b); ...", address)
    assert "Refresh Parameters" in messages.explain("unknown parameter 'x'; known: []", address)
    assert messages.explain("frame f_0003.png is 64x48", address) == "frame f_0003.png is 64x48"


def test_the_bridge_is_the_add_ons_own_copy_when_it_has_one(tmp_path, monkeypatch):
    addon = tmp_path / "my_ext"
    (addon / "deflicker_bridge").mkdir(parents=True)
    (addon / "__init__.py").write_text("")
    (addon / "deflicker_bridge" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert deps.bridge_name("my_ext") == "my_ext.deflicker_bridge"
    assert deps.bridge_name("deflicker_nodes.blender") == "deflicker_bridge"   # the repository: the package
    assert deps.bridge.__name__ == "deflicker_bridge"
    assert deps.missing_modules(("json", "surely_not_a_module_x")) == ["surely_not_a_module_x"]


def test_the_result_keeps_the_sources_colour_space_and_the_engine_gets_it():
    params = {"colorspace": "", "strength": 1.0}
    assert effect_props.with_colorspace(params, "ACEScg", "/a/plate.%04d.exr")["colorspace"] == "ACEScg"
    assert effect_props.with_colorspace(params, "Filmic Log", "/a/p.%04d.png")["colorspace"] == "Filmic Log"
    for name, path in (("sRGB", "/a/p.%04d.png"), ("sRGB", "/a/m.mov"), ("Linear Rec.709", "/a/p.%04d.exr"),
                       ("Non-Color", "/a/p.%04d.png"), ("", "/a/p.png")):
        assert effect_props.with_colorspace(params, name, path)["colorspace"] == ""   # the file says so anyway
    assert effect_props.with_colorspace(dict(params, colorspace="ARRI LogC4"), "ACEScg", "/x.exr")["colorspace"] == \
        "ARRI LogC4"                                                                    # the user's choice wins
    assert effect_props.with_colorspace({"strength": 1.0}, "ACEScg", "/x.exr") == {"strength": 1.0}


# ----------------------------------------------------------------------------- NodeTask, real server
def test_task_renders_a_folder_of_the_planned_frames(server, clip, tmp_path):
    _, _, folder = clip
    smap = sources.image_sequence(str(folder / "f_0000.png"), 1, -1)
    out_root = tmp_path / "out"
    plan = make_plan(smap, 3, 6, 1, CHEAP, output=str(out_root / "Scene" / "Deflicker"), output_root=str(out_root))
    task = NodeTask(plan, server.address, start_server=False).start()
    status = task.wait(120)
    assert status.state == "done", status.message
    files = [os.path.basename(p) for p in task.result_files()]
    assert files == ["f_{:04d}.png".format(n) for n in range(1, 7)]  # positions 1..6 keep their names


def test_task_without_server_fails_with_advice(tmp_path):
    smap = sources.SourceMap(sources.MOVIE, str(tmp_path / "m.mov"), 10, 1)
    task = NodeTask(make_plan(smap, 1, 10, 0, {}), dead_address(), start_server=False).start()
    status = task.wait(30)
    assert status.state == "failed" and "no deflicker server answers" in status.message
    assert "deflicker serve" in status.message


def test_task_server_lost_midway_says_so(clip, tmp_path):
    _, _, folder = clip
    lost = ServerProcess(tmp_path, roots=[tmp_path, folder]).start()
    try:
        smap = sources.image_sequence(str(folder / "f_0000.png"), 1, -1)
        plan = make_plan(smap, 1, 12, 0, {"atlas_steps": 5000, "working_size": 128})
        task = NodeTask(plan, lost.address, start_server=False).start()
        deadline = time.monotonic() + 60
        while task.status().fraction <= 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        lost.kill()
        status = task.wait(60)
    finally:
        lost.stop()
    assert status.state == "failed"
    assert "stopped answering during the job" in status.message and "Render again" in status.message


def test_task_starts_a_server_that_reaches_source_and_output(clip, tmp_path, monkeypatch):
    """The default path: no server answers, so the task starts one (ensure_server) with the plan's roots."""
    _, _, folder = clip
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", "{} -m server --device cpu --cache-dir {} --client-timeout 3"
                       .format(sys.executable, tmp_path / "server-cache"))
    address = "tcp://127.0.0.1:{}".format(free_port())
    smap = sources.image_sequence(str(folder / "f_0000.png"), 1, -1)
    out_root = tmp_path / "out"
    plan = make_plan(smap, 1, 4, 0, CHEAP, output=str(out_root / "S" / "N"), output_root=str(out_root))
    task = NodeTask(plan, address, start_server=True).start()
    try:
        status = task.wait(120)
        assert status.state == "done", status.message
        assert len(task.result_files()) == 4
        with bridge.Connection(address) as conn:
            roots = conn.call("status")[0]["roots"]
        assert str(out_root) in roots and str(folder) in roots
    finally:
        with bridge.Connection(address, timeout=5, retries=0) as conn:
            conn.shutdown()

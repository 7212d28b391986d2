# SPDX-License-Identifier: Apache-2.0
"""The add-on in real Blender (`bpy` 4.5 / 5.0 as a module) against a real server with the real engine.

One Blender run per bpy venv (module-scoped): errors, cancels, analyse, render, the compositor's
own render through the node, re-registration from the cached description. The tests below assert
on what it reported and on the frames the compositor wrote.
"""
import json

import cv2
import numpy as np
import pytest

from tests.conftest import temporal_error
from tests.server.procs import CHEAP

from .conftest import (HEIGHT, WIDTH, bpy_params, dead_address, failing_server_command, run_in_blender)

FIRST, LAST = 5, 12          # the scene's frame range
FRAME_START = 3              # the node plays the sequence's first file (f_0000) at scene frame 3
HANDLES = 1                  # so the server opens source positions 1..10: not the whole clip
SLOW = {"atlas_steps": 5000, "working_size": 128}


@pytest.fixture(scope="module", params=bpy_params())
def run(request, server, clip, tmp_path_factory):
    python = request.param
    tmp = tmp_path_factory.mktemp("blender-node")
    _, _, folder = clip
    args = {"width": WIDTH, "height": HEIGHT, "first": FIRST, "last": LAST, "frame_start": FRAME_START,
            "handles": HANDLES, "params": CHEAP, "slow_params": SLOW, "address": server.address,
            "dead_address": dead_address(), "source_first_file": str(folder / "f_0000.png"),
            "movie": str(folder / "plate.mp4"),
            "render_dir": str(tmp / "render")}
    env = {"DEFLICKER_ADDRESS": server.address, "XDG_CACHE_HOME": str(tmp / "cache"),
           "DEFLICKER_SERVER_COMMAND": failing_server_command()}
    result = run_in_blender(python, "node", args, tmp, env)
    return {"result": result, "tmp": tmp, "args": args}


def read_rgb(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def rendered(run, source):
    folder = run["tmp"] / "render" / ("clip" if source == "movie clip" else "")
    return sorted(p.name for p in folder.glob("*.png")), [read_rgb(folder / "o_{:04d}.png".format(f))
                                                       for f in range(FIRST, LAST + 1)]


def normalised(frame):
    return (frame - frame.mean(axis=(0, 1))) / (frame.std(axis=(0, 1)) + 1e-6)


def test_node_properties_come_from_the_server_description(run, server):
    with server.connect() as conn:
        described = conn.describe()
    result = run["result"]
    assert result["params_without_server"] is None
    assert "no deflicker server answers at " + run["args"]["dead_address"] in result["refresh_without_server"]
    assert result["refresh"] == ["FINISHED"]
    assert result["registered_params"] == described.names()
    props = result["fx_props"]
    assert sorted(props) == sorted("fx_" + p.name for p in described.params)
    for param in described.params:
        prop = props["fx_" + param.name]
        assert prop["name"] == param.label
        assert prop["default"] == (param.default if isinstance(param.default, str) else pytest.approx(param.default))
        if param.type != "boolean" and param.min is not None:
            assert prop["min"] == pytest.approx(param.min) and prop["max"] == pytest.approx(param.max)


def test_picking_a_preset_fills_the_properties_it_sets(run, server):
    with server.connect() as conn:
        fills = conn.describe().preset_fills()
    assert run["result"]["presets"] == {"processed": "hold", "auto": fills["auto"]["appearance"]}
    assert fills["processed"]["appearance"] == "hold" and fills["auto"]["appearance"] == "adaptive"


def test_reregistered_from_cache_without_server_keeps_values(run):
    result = run["result"]
    assert result["reregistered_params"] == result["registered_params"]
    assert result["values_after_reregister"] == CHEAP
    assert result["is_deflicker_after_reregister"]
    assert (run["tmp"] / "cache" / "deflicker" / "blender" / "effect.json").is_file()


def test_sequence_offset_set_from_files(run):
    assert run["result"]["auto_offset"] == -1   # files start at 0000: Blender's Open Image sets the same


def test_range_outside_media_is_reported_and_tree_unchanged(run):
    errors = run["result"]["errors"]
    message = errors["range_operator"]
    assert message is not None and "Deflicker:" in message
    assert "outside the source" in message and "{}-{}".format(FRAME_START, FRAME_START + 11) in message
    assert errors["range_unchanged"]


def test_no_server_is_reported_and_tree_unchanged(run):
    errors = run["result"]["errors"]
    assert errors["no_server"]["state"] == "failed"
    assert "no deflicker server answers at " + run["args"]["dead_address"] in errors["no_server"]["message"]
    assert "deflicker serve" in errors["no_server"]["message"]
    started = errors["no_server_start"]
    assert started["state"] == "failed"
    assert "could not start a deflicker server" in started["message"] and "code 3" in started["message"]
    assert errors["no_server_unchanged"]


def test_cancel_at_once_and_midway_leaves_nothing(run):
    cancels = run["result"]["cancels"]
    assert cancels["at_once"] == "cancelled"
    assert cancels["midway"] == "cancelled"
    assert "rendering" in cancels["states_before_cancel"]
    assert cancels["unchanged"]
    assert not cancels["output_exists"]


def test_analyse_through_operator_and_timer(run):
    result = run["result"]
    assert result["analyse_timer_registered"]
    assert result["analyse"]["state"] == "done", result["analyse"]["message"]
    assert "Analysed frames {}-{} with preset 'auto'".format(FIRST - HANDLES, LAST + HANDLES) in \
        result["analyse"]["summary"]


def test_render_wires_result_into_tree(run):
    result = run["result"]
    render = result["render"]
    assert render["state"] == "done", render["message"]
    assert (render["start"], render["stop"]) == (FIRST - HANDLES - FRAME_START, LAST + HANDLES - FRAME_START + 1)
    assert not result["output_linked_before"]
    assert result["output_fed_by"] == ["Deflicker"]
    inner = result["inner"]
    assert inner["source"] == "SEQUENCE" and inner["image"].endswith("f_0001.png")
    assert (inner["frame_start"], inner["frame_offset"], inner["frame_duration"]) == (FIRST - HANDLES, 0, 10)


def test_the_result_has_the_sources_colour_space_and_alpha_mode(run):
    colour = run["result"]["colour"]
    assert colour["result"] == colour["source"] == ["sRGB", "PREMUL"]
    assert colour["relinked"] == "Linear Rec.709"
    assert colour["params"] == "Linear Rec.709"      # the engine is told what Blender reads the files as


def test_movie_clip_source_renders_too(run):
    render = run["result"]["clip_render"]
    assert render["state"] == "done", render["message"]
    assert render["image"].endswith("frame_000000.png")  # a movie's frames are numbered from 0
    assert (render["frame_start"], render["frame_offset"], render["frame_duration"]) == (FIRST - HANDLES, -1, 10)


@pytest.mark.parametrize("source", ["image sequence", "movie clip"])
def test_compositor_writes_one_aligned_frame_per_scene_frame(run, clip, source):
    clean, flickering, _ = clip
    names, frames = rendered(run, source)
    assert names == ["o_{:04d}.png".format(f) for f in range(FIRST, LAST + 1)]
    for frame, out in zip(range(FIRST, LAST + 1), frames):
        assert out.shape == (HEIGHT, WIDTH, 3)
        position = frame - FRAME_START
        errors = {p: float(np.mean((normalised(out) - normalised(clean[p])) ** 2))
                  for p in (position - 1, position, position + 1) if 0 <= p < len(clean)}
        assert min(errors, key=errors.get) == position, (frame, errors)


@pytest.mark.parametrize("source", ["image sequence", "movie clip"])
def test_compositor_output_has_less_flicker(run, clip, source):
    clean, flickering, _ = clip
    _, frames = rendered(run, source)
    span = slice(FIRST - FRAME_START, LAST - FRAME_START + 1)
    before = temporal_error(flickering[span], clean[span])
    after = temporal_error(np.stack(frames), clean[span])
    floor = temporal_error(clean[span], clean[span])
    assert after < 0.7 * before, (before, after, floor)
    (run["tmp"] / "flicker-{}.json".format(source)).write_text(json.dumps({"before": before, "after": after,
                                                                          "floor": floor}))

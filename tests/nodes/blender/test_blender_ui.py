# SPDX-License-Identifier: Apache-2.0
"""The panel, node, preferences and menu drawing code, run in real Blender against a layout that checks
every call against Blender's own UILayout RNA (no UI runs headless, so nothing draws for real)."""
import types

import pytest

from deflicker_engine.config import AnalysisParams, RenderParams, schema
from deflicker_server.effect import effect_description

from .conftest import bpy_params, dead_address, run_in_blender


def described():
    """The `describe` result the server sends for the engine's parameters (server/effect.py)."""
    engine = types.SimpleNamespace(describe=lambda: {"analysis": schema(AnalysisParams), "render": schema(RenderParams)})
    return effect_description(engine, "test")


@pytest.mark.parametrize("python", bpy_params())
def test_every_draw_call_exists_in_blender(python, clip, tmp_path):
    _, _, folder = clip
    result = run_in_blender(python, "ui", {"source_first_file": str(folder / "f_0000.png"),
                                           "dead_address": dead_address(), "described": described()}, tmp_path,
                            {"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result["errors"] == [] and result["errors_missing"] == []
    assert result["node_icon_ok"]
    drawn = [call for call in result["calls"]]
    names = [name for name, _ in drawn]
    assert ["label", "Select a Deflicker node"] in [list(c) for c in drawn]
    assert names.count("progress") == 1 and result["busy_state"] in ("pending", "connecting")
    assert result["final_state"] == "failed"
    assert result["params_drawn_without_description"] == []
    params = described()["effect"]["params"]
    analysis = ["fx_" + p["name"] for p in params if p["group"] == "analysis"]
    render = ["fx_" + p["name"] for p in params if p["group"] == "render"]
    assert result["params_drawn"] == analysis + render and render
    assert any(name == "label" and text and "no deflicker server answers" in text for name, text in drawn)
    for operator in ("deflicker.analyse", "deflicker.render", "deflicker.cancel", "deflicker.refresh_parameters",
                     "node.add_node"):
        assert ["operator", operator] in [list(c) for c in drawn]

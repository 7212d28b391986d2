# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the Blender add-on: the `bpy` venvs (real Blender as a module), a real server, a
flickering PNG sequence, and a runner for scripts inside Blender.

bpy venvs: `.venv-bpy-4.2`, `.venv-bpy-4.5`, `.venv-bpy-5.0` at the repo root (install/blender/make_test_venvs.sh), or
the Pythons listed in DEFLICKER_BPY_PYTHONS (os.pathsep-separated).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import flicker, textured_scene
from tests.server.procs import REPO, free_port, module_server, write_png_sequence

SCENARIO = Path(__file__).resolve().parent / "bpy_scenario.py"
VENVS = (".venv-bpy-4.2", ".venv-bpy-4.5", ".venv-bpy-5.0")
NO_BPY = ("no bpy venv found: run install/blender/make_test_venvs.sh (creates .venv-bpy-4.2, -4.5 and -5.0), "
          "or list bpy Pythons in DEFLICKER_BPY_PYTHONS")
WIDTH, HEIGHT, COUNT = 96, 64, 12


def bpy_pythons():
    """The bpy Pythons to test with: those listed in DEFLICKER_BPY_PYTHONS, else the repo's venvs."""
    listed = os.environ.get("DEFLICKER_BPY_PYTHONS")
    if listed:
        return [p for p in listed.split(os.pathsep) if p and os.path.isfile(p)]
    found = []
    for venv in VENVS:
        python = REPO / venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if python.is_file():
            found.append(str(python))
    return found


def bpy_params():
    """pytest params, one per bpy Python (ids like 'bpy-4.5'); a skip when there is none."""
    pythons = bpy_pythons()
    if not pythons:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_BPY), id="no-bpy")]
    return [pytest.param(p, id=Path(p).parent.parent.name.replace(".venv-", "") or p) for p in pythons]


def run_in_blender(python, scenario, args, tmp, env=None, timeout=300, repo_on_path=True):
    """Run bpy_scenario.py SCENARIO under `python`; returns the result dict it wrote. With
    `repo_on_path` False only the script's folder is importable from the repo (an installed add-on)."""
    args = dict(args, result=str(tmp / "result-{}.json".format(scenario)))
    args_path = tmp / "args-{}.json".format(scenario)
    args_path.write_text(json.dumps(args))
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("PYTHONPATH", None)
    if repo_on_path:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(installed_names(tmp)), str(REPO),
                                                               os.environ.get("PYTHONPATH")]))
    done = subprocess.run([python, str(SCENARIO), scenario, str(args_path)], cwd=str(tmp), env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    log = done.stdout.decode("utf-8", "replace")
    (tmp / "blender-{}.log".format(scenario)).write_text(log)
    if not Path(args["result"]).is_file():
        raise AssertionError("Blender scenario {} wrote no result (exit {}):\n{}".format(scenario, done.returncode,
                                                                                       log[-4000:]))
    return json.loads(Path(args["result"]).read_text())


def installed_names(tmp):
    """A folder where the repo's packages have their installed names (deflicker_nodes, deflicker_bridge),
    as links: the bpy venvs do not have our package installed."""
    folder = tmp / "installed-names"
    folder.mkdir(exist_ok=True)
    for name, source in (("deflicker_nodes", "nodes"), ("deflicker_bridge", "bridge")):
        if not (folder / name).exists():
            (folder / name).symlink_to(REPO / source, target_is_directory=True)
    return folder


server = module_server("blender-server", whole_tmp=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(clean frames, flickering frames, folder of f_0000.png... and plate.mp4) for a 12-frame 96x64
    scene panning 3 px a frame."""
    clean = textured_scene(COUNT, HEIGHT, WIDTH, pan=3.0)
    flickering = flicker(clean)
    folder = write_png_sequence(tmp_path_factory.mktemp("blender-clip") / "plate", flickering, stem="f")
    write_movie(folder / "plate.mp4", flickering)
    return clean, flickering, folder


def write_movie(path, frames):
    """Frames in [0, 1] as an H.264 movie, lossless (4:4:4, qp 0) so only 8-bit rounding differs."""
    import av
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        stream.options = {"qp": "0"}
        for frame in frames:
            rgb = (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def dead_address():
    return "tcp://127.0.0.1:{}".format(free_port())


def failing_server_command():
    """A 'server' that exits at once, so the add-on's attempt to start one fails fast."""
    return "{} -c \"raise SystemExit(3)\"".format(sys.executable)

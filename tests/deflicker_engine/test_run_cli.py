"""`deflicker run` as a user meets it: real subprocess, real files, one-line errors, inputs untouched."""
import hashlib
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import flicker, textured_scene

FAST = ["--atlas-steps", "20", "--working-size", "128", "-q"]


def deflicker(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "deflicker_engine.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def _digest(path):
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def _folder(path, frames):
    path.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(path / f"{i:03d}.png"), (f * 255).astype(np.uint8))
    return path


def _assert_one_line_error(result, *words):
    assert result.returncode == 1, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("deflicker: error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_help_explains_every_option():
    result = deflicker("run", "--help")
    assert result.returncode == 0
    for option in ("--strength", "--device", "--working-size", "--use-atlas", "--refine", "--window", "--output"):
        assert option in result.stdout


def test_runs_a_folder(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(6, 32, 48)))
    result = deflicker("run", str(src), "-o", str(tmp_path / "out"), *FAST)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(src))


def test_missing_input(tmp_path):
    _assert_one_line_error(deflicker("run", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")), "nope.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_corrupt_video_is_refused_and_untouched(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(4096))
    before = _digest(bad)
    _assert_one_line_error(deflicker("run", str(bad), "-o", str(tmp_path / "o.mp4")), "bad.mp4")
    assert _digest(bad) == before and sorted(os.listdir(tmp_path)) == ["bad.mp4"]


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(deflicker("run", str(tmp_path / "empty"), "-o", str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_mixed_frame_sizes(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    cv2.imwrite(str(src / "002.png"), np.zeros((20, 20, 3), np.uint8))
    before = _digest(src)
    _assert_one_line_error(deflicker("run", str(src), "-o", str(tmp_path / "out"), *FAST), "002.png")
    assert _digest(src) == before and not (tmp_path / "out").exists()


def test_output_equal_to_input(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    before = _digest(src)
    _assert_one_line_error(deflicker("run", str(src), "-o", str(src), *FAST))
    assert _digest(src) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    _assert_one_line_error(deflicker("run", str(src), "-o", str(locked / "out"), *FAST))


def test_output_folder_missing_parent(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    _assert_one_line_error(deflicker("run", str(src), "-o", str(tmp_path / "no" / "such" / "out.mp4"), *FAST))


def test_bad_parameter(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    _assert_one_line_error(deflicker("run", str(src), "-o", str(tmp_path / "o"), "--strength", "3"), "strength")

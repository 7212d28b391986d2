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


def _exr_plate(folder, frames):
    import OpenEXR

    folder.mkdir()
    for i, frame in enumerate(frames):
        planes = {c: np.ascontiguousarray(frame[:, :, k]) for k, c in enumerate("RGB")}
        OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                     planes).write(str(folder / f"plate.{1001 + i:04d}.exr"))
    return folder


def _read_exrs(folder):
    import OpenEXR

    out = []
    for path in sorted(folder.glob("*.exr")):
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            out.append(channels["RGB"].pixels if "RGB" in channels else
                       np.stack([channels[c].pixels for c in "RGB"], axis=2))
    return out


def test_help_lists_the_colour_space_option():
    result = deflicker("run", "--help")
    assert "--colorspace" in result.stdout and "OpenColorIO" in result.stdout


def test_unknown_colour_space_is_a_one_line_error_with_the_closest_names(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    _assert_one_line_error(deflicker("run", str(src), "-o", str(tmp_path / "o"), "--colorspace", "ARRI LogC5"),
                           "ARRI LogC5", "ARRI LogC4")
    assert not (tmp_path / "o").exists()


def test_acescg_plate_untouched_at_strength_zero_and_kept_above_one(tmp_path):
    """The output returns exactly to the input's space: an untouched ACEScg half-float plate comes back bit for bit."""
    frames = (flicker(textured_scene(8, 32, 48)) ** 2.2 * 6.0).astype(np.float16)   # scene-linear, highlights > 1
    src = _exr_plate(tmp_path / "in", frames)
    result = deflicker("run", str(src), "-o", str(tmp_path / "same"), "--colorspace", "ACEScg", "--strength", "0",
                       *FAST)
    assert result.returncode == 0, result.stderr
    assert all(np.array_equal(a, b) for a, b in zip(_read_exrs(tmp_path / "same"), frames))
    result = deflicker("run", str(src), "-o", str(tmp_path / "out"), "--colorspace", "ACEScg", *FAST)
    assert result.returncode == 0, result.stderr
    out = _read_exrs(tmp_path / "out")
    assert out[0].dtype == np.float16 and max(float(f.max()) for f in out) > 1.0
    assert not all(np.array_equal(a, b) for a, b in zip(out, frames))


def test_report_beside_the_output(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(8, 32, 48)))
    report = tmp_path / "qc" / "shot.html"
    result = deflicker("run", str(src), "-o", str(tmp_path / "out"), "--preset", "timelapse", "--report", str(report),
                       *FAST)
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert 'id="preset">timelapse<' in text and 'id="luma-curves"' in text and "<td>survey</td>" in text


def test_report_path_is_checked_before_any_work(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(4, 32, 48)))
    _assert_one_line_error(deflicker("run", str(src), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.txt")),
                           ".html")
    assert not (tmp_path / "out").exists()

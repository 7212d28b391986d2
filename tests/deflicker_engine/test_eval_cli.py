"""`deflicker eval` on tiny generated frame folders."""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from tests.conftest import textured_scene

pytest.importorskip("deflicker_engine.io")

from deflicker_engine.cli import main  # noqa: E402
from deflicker_engine.errors import InputError  # noqa: E402
from deflicker_engine.eval_cli import evaluate, register  # noqa: E402
from deflicker_engine.metrics import PSNR_CAP_DB  # noqa: E402


def _folder(path, frames):
    path.mkdir()
    for i, frame in enumerate(frames):
        bgr = cv2.cvtColor((np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path / f"{i:03d}.png"), bgr)
    return path


@pytest.fixture
def folders(tmp_path):
    clean = textured_scene(count=6, height=40, width=56, pan=1.0)
    gains = np.random.default_rng(0).uniform(0.75, 1.25, (len(clean), 1, 1, 1)).astype(np.float32)
    return {
        "ref": _folder(tmp_path / "ref", clean),
        "out": _folder(tmp_path / "out", clean * gains),
        "short": _folder(tmp_path / "short", clean[:4]),
        "small": _folder(tmp_path / "small", clean[:, :32, :48]),
    }


def _parse(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_eval_prints_table_and_writes_json(folders, tmp_path, capsys):
    report = tmp_path / "numbers.json"
    args = _parse(["eval", "--ref", str(folders["ref"]), "--out", str(folders["out"]), "--gt",
                   str(folders["ref"]), "--json", str(report), "-q"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "floor" in printed and "PSNR" in printed
    numbers = json.loads(report.read_text())
    assert numbers["frames"] == 6 and (numbers["width"], numbers["height"]) == (56, 40)
    assert numbers["e_warp_out"] > numbers["e_warp_ref"] + 0.05  # flicker is inconsistent, the reference is not
    assert numbers["psnr_out_gt"] < 30
    assert len(numbers["per_frame_out"]) == 5
    assert f"{numbers['e_warp_out']:.4f}" in printed


def test_eval_of_the_reference_itself_is_the_floor(folders):
    numbers = evaluate(str(folders["ref"]), str(folders["ref"]), str(folders["ref"]))
    assert numbers["e_warp_out"] == numbers["e_warp_ref"]
    assert numbers["psnr_out_gt"] == PSNR_CAP_DB


@pytest.mark.parametrize("other", ["short", "small"])
def test_eval_refuses_mismatched_clips(folders, other):
    with pytest.raises(InputError):
        evaluate(str(folders["ref"]), str(folders[other]))
    with pytest.raises(InputError):
        evaluate(str(folders["ref"]), str(folders["out"]), gt=str(folders[other]))


def test_eval_through_the_deflicker_command(folders, capsys):
    code = main(["eval", "--ref", str(folders["ref"]), "--out", str(folders["short"]), "-q"])
    assert code == 1
    assert "frames" in capsys.readouterr().err


def test_eval_in_a_named_colour_space(folders, capsys):
    plain = evaluate(str(folders["ref"]), str(folders["out"]))
    as_srgb = evaluate(str(folders["ref"]), str(folders["out"]), colorspace="sRGB")
    assert as_srgb["e_warp_out"] == pytest.approx(plain["e_warp_out"], rel=1e-5)   # PNGs are sRGB already
    code = main(["eval", "--ref", str(folders["ref"]), "--out", str(folders["out"]), "--colorspace", "nope", "-q"])
    assert code == 1 and "nope" in capsys.readouterr().err

"""`deflicker batch` end to end through a real server process: progress, resume, failures named."""
import os
import sys

import numpy as np
import pytest

from deflicker_engine.cli import main
from deflicker_engine.io import ClipInfo, open_sink, open_source
from tests.conftest import flicker, textured_scene
from tests.server.procs import CHEAP, FAKE_ENGINE, REPO, free_port, module_server, write_png_sequence

PARAMS = [arg for name, value in CHEAP.items() for arg in ("--param", f"{name}={value}")]


server = module_server("batch")


def _video(path, frames):
    info = ClipInfo(kind="video", path="", count=len(frames), width=frames.shape[2], height=frames.shape[1],
                    channels=3, dtype="uint8", encoding="srgb", fps=12.0, rate="12/1")
    with open_sink(str(path), info) as sink:
        for frame in frames:
            sink.write((frame * 255).round().astype(np.uint8))
    return path


def test_a_batch_renders_good_shots_names_failed_ones_and_resumes(server, capsys):
    root = server.tmp
    good_folder = write_png_sequence(root / "shots" / "sh010", flicker(textured_scene(8, 48, 64, seed=1)))
    write_png_sequence(root / "shots" / "sh020", flicker(textured_scene(6, 48, 64, seed=2)), stem="plate")
    video = _video(root / "shots" / "sh030.mp4", flicker(textured_scene(6, 48, 64, seed=3)))
    (root / "shots" / "broken.mp4").write_bytes(b"this is not a video")
    listing = root / "shots.txt"
    listing.write_text(f"shots/sh020/plate_%04d.png\nshots/missing.mov\n")
    out = root / "out"
    argv = ["batch", str(good_folder), str(video), str(root / "shots" / "broken.mp4"), "--list", str(listing),
            "-o", str(out), "--server", server.address, "--no-start", "--quiet", *PARAMS]

    assert main(argv) == 1
    report = capsys.readouterr().out
    assert "5 shot(s): 3 done, 0 skipped (already done), 2 failed" in report
    assert f"FAILED {root / 'shots' / 'broken.mp4'}:" in report
    assert f"FAILED {root / 'shots' / 'missing.mov'}: does not exist" in report
    with open_source(str(out / "sh010")) as src:
        assert (src.info.count, src.info.width, src.info.height) == (8, 64, 48)
    with open_source(str(out / "sh030.mp4")) as src:
        assert src.info.count == 6
    assert sorted(p.name for p in (out / "sh020").iterdir()) == [f"plate_{i:04d}.png" for i in range(6)]

    assert main(argv) == 1
    assert "3 skipped (already done), 2 failed" in capsys.readouterr().out
    assert main([a for a in argv if a != "--quiet"] + ["--force"]) == 1      # with progress this time
    captured = capsys.readouterr()
    assert "3 done, 0 skipped" in captured.out and "FAILED" in captured.err
    # stderr is not a terminal here, so progress is a few plain lines a shot (a farm's log), never bar updates
    assert "[1/5] sh010: " in captured.err and "\r" not in captured.err
    assert len(captured.err.splitlines()) <= 5 * 12


def test_batch_starts_a_server_when_none_answers_and_stops_it(tmp_path, monkeypatch, capsys):
    shot = write_png_sequence(tmp_path / "sh", flicker(textured_scene(5, 32, 48, seed=7)))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", f"{sys.executable} -m server --engine {FAKE_ENGINE} "
                                                   f"--cache-dir {tmp_path / 'cache'}")
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["batch", str(shot), "-o", str(tmp_path / "out"), "--server", address, "--quiet"]) == 0
    assert "1 done" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "out" / "sh")) == 5
    from deflicker_bridge.launcher import answers
    assert not answers(address, 0.5)


def test_no_shots_is_a_usage_error(capsys):
    assert main(["batch", "--no-start"]) == 2


def test_batch_writes_a_report_per_shot_and_an_index(server, capsys):
    root = server.tmp / "reported"
    sh010 = write_png_sequence(root / "sh010", flicker(textured_scene(6, 48, 64, seed=4)))
    reports = root / "qc"
    argv = ["batch", str(sh010), str(root / "missing.mov"), "-o", str(root / "out"), "--server", server.address,
            "--no-start", "--quiet", "--report-dir", str(reports), "--param", "preset=timelapse", *PARAMS]
    assert main(argv) == 1                                   # the missing shot fails; the report still comes
    assert sorted(p.name for p in reports.iterdir()) == ["index.html", "sh010.html"]
    shot_page = (reports / "sh010.html").read_text()
    assert 'id="preset">timelapse<' in shot_page and 'id="luma-curves"' in shot_page
    index = (reports / "index.html").read_text()
    assert 'href="sh010.html"' in index and "missing.mov" in index and "does not exist" in index


def test_an_unwritable_report_dir_fails_before_any_shot(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    shot = write_png_sequence(tmp_path / "sh", flicker(textured_scene(4, 32, 48, seed=5)))
    assert main(["batch", str(shot), "-o", str(tmp_path / "out"), "--no-start", "--server", "tcp://127.0.0.1:9",
                 "--report-dir", str(tmp_path / "file" / "qc")]) == 1
    assert "report folder" in capsys.readouterr().err


def test_progress_display_follows_the_stream(tmp_path):
    import io

    from deflicker_nodes.batch.runner import LogDisplay, QuietDisplay, Result, TqdmDisplay, make_display
    from deflicker_nodes.batch.shots import Shot

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(make_display(2, quiet=True), QuietDisplay)
    tty = make_display(2, stream=Tty())
    assert isinstance(tty, TqdmDisplay)
    tty.close()
    log = io.StringIO()
    display = make_display(2, stream=log)
    assert isinstance(display, LogDisplay)
    shot = Shot(str(tmp_path / "sh010"))
    display.start(shot, 0, 2)
    for done in range(1, 101):
        display.update("render", done, 100)
    display.end(Result(shot, "done", seconds=1.5, frames=100))
    lines = log.getvalue().splitlines()
    assert lines == ["[1/2] sh010: render: started (100 frames)", "[1/2] sh010: render: done, 100 frames in 0.0 s",
                     "[1/2] sh010: done, 100 frames in 1.5 s"]

"""Which shots a command line names, and where their outputs go."""
from pathlib import Path

from deflicker_nodes.batch.manifest import Manifest
from deflicker_nodes.batch.shots import assign_outputs, collect, expand


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_files_folders_patterns_globs_and_lists(tmp_path):
    _touch(tmp_path / "a.mp4")
    _touch(tmp_path / "b.mov")
    _touch(tmp_path / "seq" / "f_0001.png")
    _touch(tmp_path / "reel" / "c.mkv")
    _touch(tmp_path / "reel" / "shot9" / "x.0001.exr")
    _touch(tmp_path / "reel" / "notes.txt")
    (tmp_path / "list.txt").write_text("# shots\n\na.mp4\nseq/f_%04d.png\n")
    shots = collect([str(tmp_path / "*.m*"), str(tmp_path / "seq"), str(tmp_path / "reel")], [tmp_path / "list.txt"])
    sources = [Path(s.source).relative_to(tmp_path).as_posix() for s in shots]
    assert sources == ["a.mp4", "b.mov", "seq", "reel/c.mkv", "reel/shot9", "seq/f_%04d.png"]
    assert all(s.error is None for s in shots)


def test_unusable_entries_become_failed_shots_with_a_reason(tmp_path):
    _touch(tmp_path / "one.png")
    (tmp_path / "empty").mkdir()
    reasons = {e: expand(str(tmp_path / e))[0].error for e in ("nope.mp4", "one.png", "empty", "x.txt", "z*.mp4")}
    assert reasons["nope.mp4"] == "does not exist" and "single image" in reasons["one.png"]
    assert "no video" in reasons["empty"] and reasons["x.txt"] == "does not exist"
    assert reasons["z*.mp4"] == "matches nothing"


def test_outputs_mirror_the_input_form_and_clashes_are_numbered(tmp_path):
    _touch(tmp_path / "x" / "shot.mp4")
    _touch(tmp_path / "y" / "shot.mp4")
    _touch(tmp_path / "z" / "clip.webm")
    _touch(tmp_path / "sh010" / "plate.0001.exr")
    _touch(tmp_path / "frames" / "a.png")
    entries = ["x/shot.mp4", "y/shot.mp4", "z/clip.webm", "sh010/plate.####.exr", "frames"]
    shots = collect([str(tmp_path / e) for e in entries])
    out = tmp_path / "out"
    assign_outputs(shots, out)
    assert [Path(s.output).relative_to(out).as_posix() for s in shots] == [
        "shot.mp4", "shot_2.mp4", "clip.mov", "sh010/plate.####.exr", "frames"]


def test_manifest_marks_done_only_with_same_params_and_existing_output(tmp_path):
    output = _touch(tmp_path / "out" / "a.mp4")
    manifest = Manifest(tmp_path / "out")
    manifest.record("/in/a.mp4", str(output), {"strength": 0.5}, "done", frames=3)
    again = Manifest(tmp_path / "out")
    assert again.done("/in/a.mp4", str(output), {"strength": 0.5})
    assert not again.done("/in/a.mp4", str(output), {"strength": 0.6})
    output.unlink()
    assert not again.done("/in/a.mp4", str(output), {"strength": 0.5})
    (tmp_path / "out" / ".deflicker-batch.json").write_text("{broken")
    assert Manifest(tmp_path / "out").shots == {}
    assert not list((tmp_path / "out").glob("*.partial"))

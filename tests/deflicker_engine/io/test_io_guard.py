import os

import pytest

from deflicker_engine.errors import OutputError
from deflicker_engine.io import check_output_path, open_source
from iohelpers import smooth_frames, write_sequence


@pytest.fixture
def plates(tmp_path):
    return write_sequence(tmp_path / "plates", smooth_frames(2, 8, 8), ["p.0001.png", "p.0002.png"])


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "shots" / "clip.mp4"
    path.parent.mkdir()
    path.write_bytes(b"video")
    return path


def test_video_output_equal_to_input_is_refused(clip):
    with pytest.raises(OutputError, match="is the input"):
        check_output_path(clip, clip)
    with pytest.raises(OutputError):
        check_output_path(clip, clip.parent / "." / "clip.mp4")


def test_symlink_to_the_input_is_refused(clip, tmp_path):
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    with pytest.raises(OutputError):
        check_output_path(clip, link)


def test_folder_output_holding_the_input_is_refused(clip, tmp_path):
    with pytest.raises(OutputError):
        check_output_path(clip, clip.parent)  # replacing the folder would delete the input
    with pytest.raises(OutputError):
        check_output_path(clip, tmp_path)


def test_output_beside_a_video_input_is_fine(clip):
    check_output_path(clip, clip.parent / "clip_deflickered.mp4")
    check_output_path(clip, clip.parent / "frames")


@pytest.mark.parametrize("output", ["plates", "plates/out.mp4", "plates/sub", "plates/x.%04d.png", "."])
def test_outputs_in_or_over_an_input_folder_are_refused(plates, tmp_path, output):
    with pytest.raises(OutputError, match="input folder"):
        check_output_path(plates, tmp_path / output)


def test_pattern_input_protects_its_frames(plates):
    pattern = plates / "p.%04d.png"
    for output in (pattern, plates / "p.####.png", plates / "p.%d.png", plates):
        with pytest.raises(OutputError, match="overwrite"):
            check_output_path(pattern, output)
    check_output_path(pattern, plates / "clean.%04d.png")  # beside the plates, as compositors do


def test_source_objects_are_accepted(plates):
    with open_source(plates) as src:
        with pytest.raises(OutputError):
            check_output_path(src, plates / "o.mkv")
        with pytest.raises(OutputError):
            check_output_path(src.info, plates)


def test_missing_output_folder_is_refused(clip, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(clip, tmp_path / "nowhere" / "out.mp4")
    check_output_path(clip, tmp_path / "new_folder" / "f.%04d.png")  # one missing level is created
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(clip, tmp_path / "a" / "b" / "f.%04d.png")


def test_existing_file_where_a_folder_is_wanted_is_refused(clip, tmp_path):
    (tmp_path / "frames").write_text("a file")
    with pytest.raises(OutputError, match="existing file"):
        check_output_path(clip, tmp_path / "frames")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder_is_refused(clip, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_output_path(clip, locked / "out.mp4")
    finally:
        locked.chmod(0o700)


def test_unwritable_output_folder_message(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match=f"{tmp_path} is not writable"):
        check_output_path(clip, tmp_path / "out.mp4")


def test_folder_output_never_replaces_a_folder_of_other_things(tmp_path):
    from deflicker_engine.errors import OutputError
    from deflicker_engine.io import check_output_path

    source = tmp_path / "in.mp4"
    source.write_bytes(b"")
    precious = tmp_path / "Documents"
    precious.mkdir()
    (precious / "thesis.docx").write_text("years of work")
    with pytest.raises(OutputError, match="other than frames"):
        check_output_path(source, precious)
    assert (precious / "thesis.docx").read_text() == "years of work"
    earlier = tmp_path / "earlier_output"
    earlier.mkdir()
    (earlier / "frame_000000.png").write_bytes(b"")
    check_output_path(source, earlier)  # an earlier frame output may be replaced

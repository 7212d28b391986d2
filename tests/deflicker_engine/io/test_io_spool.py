import os

import numpy as np
import pytest

from deflicker_engine.errors import InputError
from deflicker_engine.io import FrameSource, open_sink, open_source, spool_frames
from iohelpers import smooth_frames


def test_spool_is_a_rereadable_source_on_disk():
    frames = smooth_frames(5, 12, 16, channels=4, dtype="uint16")
    src = spool_frames(iter(frames), rate="30000/1001")
    folder = src.info.path
    assert isinstance(src, FrameSource) and os.path.isdir(folder) and len(os.listdir(folder)) == 5
    assert (src.info.count, src.info.width, src.info.height, src.info.channels) == (5, 16, 12, 4)
    assert (src.info.dtype, src.info.rate, src.info.encoding) == ("uint16", "30000/1001", "srgb")
    with src:
        assert all(np.array_equal(a, b) for a, b in zip(src.frames(), frames))
        assert np.array_equal(src.read(3), frames[3]) and len(src) == 5
    assert not os.path.exists(folder)


def test_float_frames_default_to_linear():
    with spool_frames(smooth_frames(2, 4, 4, dtype="float16")) as src:
        assert src.info.encoding == "linear" and src.info.rate is None
    with spool_frames(smooth_frames(2, 4, 4, dtype="float32"), encoding="srgb") as src:
        assert src.info.encoding == "srgb"


def test_spool_streams_and_does_not_keep_frames():
    seen = []

    def generate():
        for frame in smooth_frames(3, 4, 4):
            seen.append(frame)
            yield frame

    with spool_frames(generate()) as src:
        assert len(seen) == 3 and src.info.count == 3
        frame = src.read(0)
        frame[:] = 0  # reading hands out fresh arrays
        assert np.array_equal(src.read(0), seen[0])


@pytest.mark.parametrize("bad,message", [
    ([np.zeros((4, 4), np.uint8)], "H x W x 3"),
    ([np.zeros((4, 4, 2), np.uint8)], "H x W x 3"),
    ([np.zeros((4, 4, 3), np.int32)], "int32"),
    ([np.zeros((4, 4, 3), np.float64)], "float64"),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], "frame 1 is 4x5x3 uint8 but frame 0"),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint16)], "frame 1"),
    ([[1, 2, 3]], "not a numpy array"),
    ([], "no frames"),
])
def test_bad_frames_are_input_errors_and_leave_no_spool(bad, message, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(InputError, match=message):
        spool_frames(iter(bad))
    assert os.listdir(tmp_path) == []


def test_open_source_returns_sources_unchanged():
    src = spool_frames(smooth_frames(1, 4, 4))
    assert open_source(src) is src
    src.close()


def test_spooled_frames_to_a_folder_output(tmp_path):
    frames = smooth_frames(2, 6, 6, dtype="float32")
    with spool_frames(frames) as src, open_sink(tmp_path / "out", src.info) as sink:
        for frame in src.frames():
            sink.write(frame)
    assert sorted(os.listdir(tmp_path / "out")) == ["frame_000000.exr", "frame_000001.exr"]

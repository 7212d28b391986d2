"""The cheap header probes must describe files exactly as the decoders deliver them."""
import numpy as np
import pytest

from deflicker_engine.io.sequence import _probe, read_frame
from iohelpers import smooth_frames, write_file

CASES = [(".png", "uint8", 3), (".png", "uint16", 4), (".png", "uint8", 4), (".jpg", "uint8", 3),
         (".tif", "uint8", 3), (".tif", "uint16", 3), (".tif", "uint16", 4), (".exr", "float16", 3),
         (".exr", "float32", 4)]


@pytest.mark.parametrize("ext,dtype,channels", CASES)
def test_probe_matches_decoder(tmp_path, ext, dtype, channels):
    path = tmp_path / f"a{ext}"
    write_file(path, smooth_frames(1, 13, 21, channels, dtype)[0])
    frame = read_frame(str(path))
    assert _probe(str(path)) == (21, 13, channels, dtype) == (frame.shape[1], frame.shape[0], frame.shape[2],
                                                               str(frame.dtype))


def test_probe_of_grey_png_reports_three_channels(tmp_path):
    write_file(tmp_path / "g.png", np.zeros((5, 7), np.uint16))
    assert _probe(str(tmp_path / "g.png")) == (7, 5, 3, "uint16")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".exr"])
def test_probe_of_garbage_is_unknown_not_an_error(tmp_path, ext):
    (tmp_path / f"x{ext}").write_bytes(b"not an image at all" * 10)
    assert _probe(str(tmp_path / f"x{ext}")) is None

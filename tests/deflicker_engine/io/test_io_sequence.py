import os

import numpy as np
import pytest

from deflicker_engine.errors import InputError
from deflicker_engine.io import open_source, to_working
from iohelpers import smooth_frames, write_file, write_sequence

LOSSLESS = [(".png", "uint8", 3), (".png", "uint16", 3), (".png", "uint8", 4), (".png", "uint16", 4),
            (".tif", "uint8", 3), (".tiff", "uint16", 3), (".tif", "uint16", 4), (".exr", "float16", 3),
            (".exr", "float32", 3), (".exr", "float16", 4), (".exr", "float32", 4)]


@pytest.mark.parametrize("ext,dtype,channels", LOSSLESS)
def test_lossless_formats_read_back_exactly(make_sequence, ext, dtype, channels):
    peak = 6.0 if ext == ".exr" else 1.0  # EXR frames carry values above 1
    folder, frames = make_sequence(ext=ext, dtype=dtype, channels=channels, peak=peak)
    with open_source(folder) as src:
        info = src.info
        assert (info.kind, info.count, info.width, info.height) == ("sequence", 4, 30, 20)
        assert (info.channels, info.dtype) == (channels, dtype)
        assert info.encoding == ("linear" if ext == ".exr" else "srgb")
        assert info.fps is None and info.rate is None
        assert info.names == tuple(f"frame.{i:04d}{ext}" for i in range(1, 5))
        for got, want in zip(src.frames(), frames):
            assert got.dtype == np.dtype(dtype) and np.array_equal(got, want)
        assert np.array_equal(src.read(2), frames[2])


def test_exr_values_above_one_survive_into_working(make_sequence):
    folder, frames = make_sequence(ext=".exr", dtype="float32", peak=6.0)
    with open_source(folder) as src:
        rgb, alpha = to_working(src.read(0), src.info)
    assert alpha is None and rgb.max() > 1.5


def test_jpeg_reads_as_rgb(make_sequence):
    folder, frames = make_sequence(ext=".jpg")
    with open_source(folder) as src:
        got = src.read(1)
    assert got.dtype == np.uint8 and got.shape == (20, 30, 3)
    assert np.abs(got.astype(int) - frames[1]).mean() < 3  # lossy, but RGB order (not BGR)


def test_grey_files_become_three_channels(tmp_path):
    grey = (np.arange(20 * 30).reshape(20, 30) % 256).astype(np.uint8)
    write_file(tmp_path / "a.png", grey)
    with open_source(tmp_path) as src:
        frame = src.read(0)
    assert src.info.channels == 3 and np.array_equal(frame, np.repeat(grey[:, :, None], 3, axis=2))


def test_folder_uses_natural_order_and_ignores_hidden_and_other_files(tmp_path):
    frames = smooth_frames(3, 8, 8)
    write_sequence(tmp_path, frames, ["f10.png", "f2.png", "f1.png"])
    (tmp_path / "notes.txt").write_text("x")
    write_file(tmp_path / ".thumb.png", frames[0])
    with open_source(tmp_path) as src:
        assert src.info.names == ("f1.png", "f2.png", "f10.png")
        assert np.array_equal(src.read(2), frames[0])  # f10.png


@pytest.mark.parametrize("pattern", ["plate.%04d.exr", "plate.####.exr"])
def test_patterns_select_numbered_files_in_number_order(tmp_path, pattern):
    frames = smooth_frames(3, 8, 8, dtype="float16")
    write_sequence(tmp_path, frames, ["plate.1001.exr", "plate.0999.exr", "plate.1000.exr"])
    write_file(tmp_path / "plate.12.exr", frames[0])  # wrong padding: not part of the pattern
    write_file(tmp_path / "other.1000.exr", frames[0])
    with open_source(tmp_path / pattern) as src:
        assert src.info.names == ("plate.0999.exr", "plate.1000.exr", "plate.1001.exr")
        assert src.info.path.endswith(pattern)
        assert np.array_equal(src.read(0), frames[1])


def test_unpadded_printf_pattern(tmp_path):
    write_sequence(tmp_path, smooth_frames(3, 8, 8), ["s.9.png", "s.10.png", "s.11.png"])
    with open_source(tmp_path / "s.%d.png") as src:
        assert src.info.names == ("s.9.png", "s.10.png", "s.11.png")


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "readme.txt").write_text("no frames here")
    with pytest.raises(InputError, match="shots holds no image frames"):
        open_source(tmp_path / "shots")


def test_pattern_without_matches_is_refused(tmp_path):
    with pytest.raises(InputError, match="match"):
        open_source(tmp_path / "plate.%04d.exr")


def test_mixed_formats_in_a_folder_are_refused(tmp_path):
    frames = smooth_frames(2, 8, 8)
    write_sequence(tmp_path, frames, ["a.png", "b.jpg"])
    with pytest.raises(InputError, match="mixes"):
        open_source(tmp_path)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".exr"])
def test_mixed_sizes_are_refused_naming_the_file(tmp_path, ext):
    dtype = "float16" if ext == ".exr" else "uint8"
    write_sequence(tmp_path, smooth_frames(3, 16, 24, dtype=dtype), [f"f{i}{ext}" for i in range(3)])
    write_file(tmp_path / f"f3{ext}", smooth_frames(1, 16, 26, dtype=dtype)[0])
    with pytest.raises(InputError, match=f"f3{ext}.*26x16"):
        open_source(tmp_path)


@pytest.mark.parametrize("ext,dtype", [(".png", "uint8"), (".tif", "uint16"), (".exr", "float32")])
def test_mixed_channel_counts_are_refused(tmp_path, ext, dtype):
    write_sequence(tmp_path, smooth_frames(2, 8, 8, dtype=dtype), [f"f{i}{ext}" for i in range(2)])
    write_file(tmp_path / f"f2{ext}", smooth_frames(1, 8, 8, channels=4, dtype=dtype)[0])
    with pytest.raises(InputError, match="f2.*4 channels"):
        open_source(tmp_path)


def test_mixed_bit_depths_are_refused(tmp_path):
    write_sequence(tmp_path, smooth_frames(2, 8, 8), ["f0.png", "f1.png"])
    write_file(tmp_path / "f2.png", smooth_frames(1, 8, 8, dtype="uint16")[0])
    with pytest.raises(InputError, match="f2.png.*uint16"):
        open_source(tmp_path)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".exr"])
def test_unreadable_file_is_refused_at_open_naming_it(tmp_path, ext):
    dtype = "float16" if ext == ".exr" else "uint8"
    write_sequence(tmp_path, smooth_frames(2, 8, 8, dtype=dtype), [f"f{i}{ext}" for i in range(2)])
    (tmp_path / f"f2{ext}").write_bytes(os.urandom(300))
    with pytest.raises(InputError, match=f"f2{ext}"):
        open_source(tmp_path)


def test_truncated_file_fails_when_read_naming_it(tmp_path):
    write_sequence(tmp_path, smooth_frames(2, 64, 64), ["f0.png", "f1.png"])
    data = (tmp_path / "f1.png").read_bytes()
    (tmp_path / "f1.png").write_bytes(data[: len(data) // 2])  # valid header, damaged pixels
    with open_source(tmp_path) as src:
        src.read(0)
        with pytest.raises(InputError, match="f1.png"):
            src.read(1)


def test_existing_folder_with_a_hash_in_its_name_is_a_folder(tmp_path):
    frames = smooth_frames(2, 8, 8)
    write_sequence(tmp_path / "shot#3", frames, ["a.png", "b.png"])
    with open_source(tmp_path / "shot#3") as src:
        assert src.info.count == 2

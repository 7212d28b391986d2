import os
from fractions import Fraction

import numpy as np
import pytest

from deflicker_engine.errors import OutputError
from deflicker_engine.io import ClipInfo, from_working, open_sink, open_source, to_working
from deflicker_engine.io.encoder import choose_codec
from iohelpers import smooth_frames, write_sequence


def clip_info(frames, kind="video", rate="24000/1001", encoding="srgb", names=None, path=""):
    height, width, channels = frames[0].shape
    return ClipInfo(kind=kind, path=path, count=len(frames), width=width, height=height, channels=channels,
                    dtype=str(frames[0].dtype), encoding=encoding, fps=float(Fraction(rate)) if rate else None,
                    rate=rate, names=names)


def write_all(path, info, frames, like=None):
    with open_sink(path, info, like=like) as sink:
        for frame in frames:
            sink.write(frame)


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv", ".avi"])
@pytest.mark.parametrize("rate", ["24000/1001", "25/1"])
def test_8bit_video_keeps_count_rate_and_size(tmp_path, ext, rate):
    frames = smooth_frames(7, 36, 64)
    write_all(tmp_path / f"out{ext}", clip_info(frames, rate=rate), frames)
    with open_source(tmp_path / f"out{ext}") as src:
        assert (src.info.count, src.info.width, src.info.height, src.info.rate) == (7, 64, 36, rate)
        assert src.info.dtype == "uint8"
        back = list(src.frames())
    error = max(np.abs(a.astype(int) - b).mean() for a, b in zip(back, frames))
    assert error < 2.5  # H.264 at CRF 12
    assert leftovers(tmp_path) == []


def pair(codec):
    return codec.name, codec.pix_fmt


def test_codec_policy():
    assert pair(choose_codec(".mp4", "uint8", 3, 64, 36)) == ("libx264", "yuv420p")
    assert pair(choose_codec(".mp4", "uint8", 3, 63, 36)) == ("libx264", "yuv444p")
    assert pair(choose_codec(".mov", "uint16", 3, 64, 36)) == ("prores_ks", "yuv422p10le")
    assert pair(choose_codec(".mov", "uint8", 4, 64, 36)) == ("prores_ks", "yuva444p10le")
    assert pair(choose_codec(".mkv", "float32", 3, 64, 36)) == ("ffv1", "gbrp16le")
    assert pair(choose_codec(".avi", "uint8", 4, 64, 36)) == ("ffv1", "bgra")


def test_odd_size_8bit_video(tmp_path):
    frames = smooth_frames(3, 35, 63)
    write_all(tmp_path / "odd.mp4", clip_info(frames), frames)
    with open_source(tmp_path / "odd.mp4") as src:
        assert (src.info.width, src.info.height, src.info.count) == (63, 35, 3)


def test_16bit_mov_is_prores_10bit(tmp_path):
    frames = smooth_frames(4, 36, 64, dtype="uint16")
    write_all(tmp_path / "deep.mov", clip_info(frames, rate="25/1"), frames)
    with open_source(tmp_path / "deep.mov") as src:
        assert (src.info.dtype, src.info.count, src.info.rate) == ("uint16", 4, "25/1")
        back = src.read(2)
    assert np.abs(back.astype(float) - frames[2]).mean() / 65535 < 0.005


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_mkv_is_lossless_ffv1(tmp_path, channels):
    frames = smooth_frames(3, 35, 63, channels=channels, dtype="uint16")
    write_all(tmp_path / "deep.mkv", clip_info(frames), frames)
    with open_source(tmp_path / "deep.mkv") as src:
        assert all(np.array_equal(a, b) for a, b in zip(src.frames(), frames))


def test_alpha_mov_is_prores_4444_with_alpha(tmp_path):
    frames = smooth_frames(3, 36, 64, channels=4, dtype="uint16")
    write_all(tmp_path / "alpha.mov", clip_info(frames), frames)
    with open_source(tmp_path / "alpha.mov") as src:
        assert src.info.channels == 4
        back = src.read(1)
    assert np.abs(back[:, :, 3].astype(float) - frames[1][:, :, 3]).max() / 65535 < 0.002


def test_float_clip_to_video_is_16bit_encoded(tmp_path):
    frames = smooth_frames(3, 36, 64, dtype="float32", peak=0.8)
    info = clip_info(frames, kind="sequence", rate=None, encoding="linear")
    write_all(tmp_path / "lin.mkv", info, frames)
    with open_source(tmp_path / "lin.mkv") as src:
        assert src.info.rate == "24/1"  # sequences carry no rate: the film default
        rgb, _ = to_working(src.read(0), src.info)
    want, _ = to_working(frames[0], info)
    assert np.abs(rgb - want).max() < 1e-4


def test_video_input_to_folder_writes_16bit_png_frames(tmp_path):
    frames = smooth_frames(3, 20, 30)
    write_all(tmp_path / "out", clip_info(frames), frames)
    assert sorted(os.listdir(tmp_path / "out")) == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    with open_source(tmp_path / "out") as src:
        assert src.info.dtype == "uint16"
        assert np.array_equal(src.read(1), frames[1].astype(np.uint16) * 257)


@pytest.mark.parametrize("ext,dtype,channels", [(".png", "uint8", 3), (".png", "uint16", 4), (".jpg", "uint8", 3),
                                                (".tif", "uint16", 3), (".exr", "float16", 4),
                                                (".exr", "float32", 3)])
def test_sequence_to_folder_keeps_names_format_and_depth(tmp_path, make_sequence, ext, dtype, channels):
    folder, frames = make_sequence(ext=ext, dtype=dtype, channels=channels, template="sh010_{:03d}", first=7)
    with open_source(folder) as src:
        write_all(tmp_path / "result", src.info, list(src.frames()), like=src)
        names = src.info.names
    with open_source(tmp_path / "result") as out:
        assert out.info.names == names and out.info.dtype == dtype and out.info.channels == channels
        if ext != ".jpg":
            assert all(np.array_equal(a, b) for a, b in zip(out.frames(), frames))


def test_pattern_output_starts_at_the_input_first_frame_number(tmp_path, make_sequence):
    folder, frames = make_sequence(ext=".exr", dtype="float16", template="plate.{:04d}", first=1001, count=3)
    with open_source(folder / "plate.####.exr") as src:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "clean.1000.exr").write_bytes(b"older frame, not replaced")
        write_all(tmp_path / "out" / "clean.%04d.exr", src.info, list(src.frames()), like=src)
    assert sorted(os.listdir(tmp_path / "out")) == ["clean.1000.exr", "clean.1001.exr", "clean.1002.exr",
                                                    "clean.1003.exr"]
    assert (tmp_path / "out" / "clean.1000.exr").read_bytes() == b"older frame, not replaced"
    assert leftovers(tmp_path / "out") == []


def test_pattern_output_from_video_starts_at_zero_and_creates_its_folder(tmp_path):
    frames = smooth_frames(2, 8, 8)
    write_all(tmp_path / "new" / "f_####.png", clip_info(frames), frames)
    assert sorted(os.listdir(tmp_path / "new")) == ["f_0000.png", "f_0001.png"]
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "new") == []


def test_pattern_output_to_jpeg_converts_16bit(tmp_path):
    frames = smooth_frames(2, 8, 8, dtype="uint16")
    write_all(tmp_path / "j.%02d.jpg", clip_info(frames), frames)
    with open_source(tmp_path / "j.%02d.jpg") as src:
        assert src.info.dtype == "uint8" and src.info.count == 2


def test_pattern_output_to_exr_encodes_linear(tmp_path):
    frames = smooth_frames(2, 8, 8, dtype="uint8")
    info = clip_info(frames)
    write_all(tmp_path / "e.%02d.exr", info, frames)
    with open_source(tmp_path / "e.%02d.exr") as src:
        assert (src.info.dtype, src.info.encoding) == ("float16", "linear")
        back = from_working(*to_working(src.read(0), src.info), info)
    assert np.abs(back.astype(int) - frames[0]).max() <= 1


def test_exception_inside_the_block_leaves_nothing(tmp_path):
    frames = smooth_frames(3, 8, 8)
    for target in ("out.mp4", "out", "p.%03d.png"):
        with pytest.raises(RuntimeError):
            with open_sink(tmp_path / target, clip_info(frames)) as sink:
                sink.write(frames[0])
                raise RuntimeError("stop")
    assert os.listdir(tmp_path) == []


def test_exception_keeps_an_existing_output_folder_untouched(tmp_path):
    frames = smooth_frames(2, 8, 8)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.png").write_text("previous render")
    with pytest.raises(KeyboardInterrupt):
        with open_sink(tmp_path / "out", clip_info(frames)) as sink:
            sink.write(frames[0])
            raise KeyboardInterrupt
    assert os.listdir(tmp_path / "out") == ["old.png"] and leftovers(tmp_path) == []


def test_existing_output_folder_is_replaced_only_on_success(tmp_path):
    frames = smooth_frames(2, 8, 8)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.png").write_text("previous render")
    with open_sink(tmp_path / "out", clip_info(frames)) as sink:
        sink.write(frames[0])
        assert os.listdir(tmp_path / "out") == ["old.png"]  # nothing published mid-way
        sink.write(frames[1])
    assert sorted(os.listdir(tmp_path / "out")) == ["frame_000000.png", "frame_000001.png"]
    assert leftovers(tmp_path) == []


def test_existing_video_is_replaced_only_on_success(tmp_path):
    frames = smooth_frames(2, 8, 8)
    (tmp_path / "out.mp4").write_bytes(b"previous")
    with pytest.raises(ValueError):
        with open_sink(tmp_path / "out.mp4", clip_info(frames)) as sink:
            sink.write(frames[0])
            raise ValueError
    assert (tmp_path / "out.mp4").read_bytes() == b"previous"
    write_all(tmp_path / "out.mp4", clip_info(frames), frames)
    assert open_source(tmp_path / "out.mp4").info.count == 2 and leftovers(tmp_path) == []


def test_wrong_frame_count_publishes_nothing(tmp_path):
    frames = smooth_frames(3, 8, 8)
    with pytest.raises(OutputError, match="2 of 3 frames"):
        write_all(tmp_path / "short.mkv", clip_info(frames), frames[:2])
    with pytest.raises(OutputError, match="expects 3 frames"):
        write_all(tmp_path / "long", clip_info(frames), frames + frames[:1])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.uint16),
                                 np.zeros((8, 9, 3), np.uint8)])
def test_wrong_frame_shape_or_dtype_names_expected_and_got(tmp_path, bad):
    frames = smooth_frames(1, 8, 8)
    with pytest.raises(OutputError, match=r"is 8x\dx\d uint\d+, expected 8x8x3 uint8"):
        write_all(tmp_path / "o.mp4", clip_info(frames), [bad])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["still.png", "clip.gif"])
def test_unsupported_outputs_are_refused(tmp_path, name):
    frames = smooth_frames(1, 8, 8)
    with pytest.raises(OutputError, match=name.split(".")[0]):
        open_sink(tmp_path / name, clip_info(frames))


def test_sink_refuses_to_overwrite_its_own_input(tmp_path):
    frames = smooth_frames(2, 8, 8)
    folder = write_sequence(tmp_path / "in", frames, ["a.png", "b.png"])
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    with open_source(folder) as src:
        with pytest.raises(OutputError):
            open_sink(folder, src.info)
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before


@pytest.mark.parametrize("rate", ["60000/1001", "30000/1001", "2997/125", "12/1"])
def test_mkv_round_trips_exact_rates(tmp_path, rate):
    frames = smooth_frames(3, 8, 8)
    write_all(tmp_path / "r.mkv", clip_info(frames, rate=rate), frames)
    with open_source(tmp_path / "r.mkv") as src:
        assert src.info.rate == rate


def test_atomic_file_replaces_only_on_success(tmp_path):
    from deflicker_engine.io import atomic_file

    target = tmp_path / "analysis.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["analysis.npz"]
    with atomic_file(target, "w", permissions=0o644) as handle:
        handle.write("new")
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["analysis.npz"]

from fractions import Fraction

import numpy as np
import pytest

from deflicker_engine.errors import InputError, ParameterError
from deflicker_engine.io import open_source
from iohelpers import DATA, smooth_frames


def working_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.iinfo(a.dtype).max)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / scale)


@pytest.mark.parametrize("rate", ["24000/1001", "25"])
def test_mp4_keeps_every_frame_rate_and_size(make_video, rate):
    path = make_video("clip.mp4", count=14, rate=rate, height=36, width=64)
    frames = smooth_frames(14, 36, 64)
    with open_source(path) as src:
        info = src.info
        assert (info.kind, info.count, info.width, info.height, info.channels) == ("video", 14, 64, 36, 3)
        assert info.dtype == "uint8" and info.encoding == "srgb" and info.names is None
        assert Fraction(info.rate) == Fraction(rate) and "/" in info.rate
        assert info.fps == pytest.approx(float(Fraction(rate)))
        decoded = list(src.frames())
    assert len(decoded) == 14 and len(src) == 14
    for got, want in zip(decoded, frames):
        assert got.shape == (36, 64, 3) and got.dtype == np.uint8
        assert working_error(got, want) < 0.02  # lossy H.264, but the same picture in RGB order


def test_rate_is_exact_rational(make_video):
    with open_source(make_video(rate="24000/1001")) as src:
        assert src.info.rate == "24000/1001"


def test_mkv_without_frame_count_is_counted(make_video):
    path = make_video("clip.mkv", count=9)
    with open_source(path) as src:
        assert src.info.count == 9 and len(list(src.frames())) == 9


def test_prores_10_bit_reads_as_uint16(make_video):
    path = make_video("clip.mov", count=5, codec="prores_ks", pix_fmt="yuv422p10le", dtype="uint16",
                      frame_format="rgb48le", options={"profile": "3"})
    with open_source(path) as src:
        assert (src.info.dtype, src.info.channels, src.info.count) == ("uint16", 3, 5)
        got = src.read(3)
    assert got.dtype == np.uint16 and working_error(got, smooth_frames(5, dtype="uint16")[3]) < 0.01


def test_prores_4444_alpha_reads_as_rgba(make_video):
    path = make_video("alpha.mov", count=3, codec="prores_ks", pix_fmt="yuva444p10le", dtype="uint16",
                      channels=4, frame_format="rgba64le", options={"profile": "4"})
    with open_source(path) as src:
        assert (src.info.channels, src.info.dtype) == (4, "uint16")
        assert src.read(0).shape == (36, 64, 4)


def test_png_codec_alpha_video_is_exact_rgba(make_video):
    path = make_video("alpha.mov", count=3, codec="png", pix_fmt="rgba", channels=4, frame_format="rgba")
    with open_source(path) as src:
        assert (src.info.channels, src.info.dtype) == (4, "uint8")
        assert np.array_equal(src.read(2), smooth_frames(3, channels=4)[2])


@pytest.mark.parametrize("ext", ["mp4", "mkv", "avi", "mov"])
def test_random_access_matches_sequential_reading(make_video, ext):
    path = make_video(f"gop.{ext}", count=30, options={"g": "6", "bf": "2"})
    with open_source(path) as src:
        sequential = list(src.frames())
        for index in (17, 3, 29, 0, 18, 12, 11):
            assert np.array_equal(src.read(index), sequential[index]), index
        assert all(np.array_equal(a, b) for a, b in zip(src.frames(20, 25), sequential[20:25]))


def test_out_of_range_frames_are_parameter_errors(make_video):
    with open_source(make_video(count=4)) as src:
        with pytest.raises(ParameterError):
            src.read(4)
        with pytest.raises(ParameterError):
            src.frames(2, 9)


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(InputError, match="missing.mp4 does not exist"):
        open_source(tmp_path / "missing.mp4")


@pytest.mark.parametrize("name", ["notes.txt", "clip.xyz"])
def test_unsupported_extension_is_refused(tmp_path, name):
    (tmp_path / name).write_bytes(b"hello")
    with pytest.raises(InputError, match=name):
        open_source(tmp_path / name)


def test_single_image_is_refused_with_a_hint(tmp_path):
    (tmp_path / "still.png").write_bytes(b"x")
    with pytest.raises(InputError, match="pattern"):
        open_source(tmp_path / "still.png")


def test_random_bytes_with_video_extension_are_refused(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="noise.mp4"):
        open_source(path)


def test_truncated_mp4_is_refused(make_video):
    path = make_video("cut.mp4", count=20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.mp4"):
        open_source(path)


def test_truncated_faststart_mp4_is_refused(tmp_path):
    import av
    frames = smooth_frames(20)
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(
                frame + np.random.default_rng(len(frame)).integers(0, 9, frame.shape, dtype=np.uint8))))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # index intact, frames missing
    with pytest.raises(InputError, match="fast.mp4"):
        with open_source(path) as src:
            list(src.frames())


@pytest.mark.parametrize("ext,message", [("avi", "has no frames"), ("mp4", "no video stream"),
                                         ("mkv", "cannot open")])
def test_video_without_frames_is_refused(tmp_path, ext, message):
    import av
    path = tmp_path / f"empty.{ext}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1" if ext == "avi" else "libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        container.start_encoding()
    assert path.exists()
    with pytest.raises(InputError, match=f"empty.{ext}.*{message}|{message}.*empty.{ext}"):
        open_source(path)


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "clips" / "old_film_winter_scenes.mp4").exists(), reason="needs ../shared/data")
def test_real_old_film_clip():
    with open_source(DATA / "clips" / "old_film_winter_scenes.mp4") as src:
        info = src.info
        assert (info.count, info.width, info.height, info.fps) == (96, 640, 360, 12.0)
        assert info.rate == "12/1" and info.dtype == "uint8"
        assert sum(1 for _ in src.frames()) == 96
        assert src.read(95).shape == (360, 640, 3)

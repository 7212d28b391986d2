import numpy as np
import pytest

from deflicker_engine.io import ClipInfo, from_working, to_working
from deflicker_engine.io.colour import decode_srgb, encode_srgb


def info(dtype: str, channels: int = 3, encoding: str = "srgb") -> ClipInfo:
    return ClipInfo(kind="sequence", path="x", count=1, width=8, height=4, channels=channels, dtype=dtype,
                    encoding=encoding)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_integers_map_to_unit_range_and_back_exactly(dtype):
    top = np.iinfo(dtype).max
    frame = np.random.default_rng(1).integers(0, top + 1, size=(4, 8, 3)).astype(dtype)
    frame[0, 0] = [0, top, top // 2]
    rgb, alpha = to_working(frame, info(dtype))
    assert rgb.dtype == np.float32 and alpha is None
    assert rgb.min() >= 0 and rgb.max() <= 1 and rgb[0, 0, 1] == 1.0
    assert np.array_equal(from_working(rgb, None, info(dtype)), frame)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_integer_output_turns_nan_into_black_and_infinities_into_the_range_ends(dtype):
    top = np.iinfo(dtype).max
    rgb = np.array([[[np.nan, np.inf, -np.inf], [1e30, -1e30, 0.25]]], dtype=np.float32)
    out = from_working(rgb, None, ClipInfo(kind="sequence", path="x", count=1, width=2, height=1, channels=3,
                                           dtype=dtype, encoding="srgb"))
    assert out.dtype == np.dtype(dtype)
    assert out.tolist() == [[[0, top, 0], [top, 0, round(0.25 * top)]]]


def test_integer_output_is_clipped_and_rounded():
    rgb = np.array([[[-0.2, 0.5, 1.7]]], dtype=np.float32)
    out = from_working(rgb, None, ClipInfo("sequence", 1, 1, 1, 3, "uint8"))
    assert out.tolist() == [[[0, 128, 255]]]


def test_srgb_curve_matches_the_standard_and_extends_beyond_one():
    x = np.array([-0.5, 0.0, 0.002, 0.0031308, 0.18, 1.0, 4.0], dtype=np.float32)
    y = encode_srgb(x.copy())
    assert y[0] == pytest.approx(-0.5 * 12.92) and y[2] == pytest.approx(0.002 * 12.92)
    assert y[4] == pytest.approx(1.055 * 0.18 ** (1 / 2.4) - 0.055, abs=1e-6)
    assert y[5] == pytest.approx(1.0, abs=1e-6) and y[6] > 1.5
    assert np.all(np.diff(y) > 0)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_linear_float_round_trip_keeps_hdr_and_negatives(dtype):
    rng = np.random.default_rng(2)
    frame = (rng.random((4, 8, 3)) * 9 - 0.5).astype(dtype)
    rgb, _ = to_working(frame, info(dtype, encoding="linear"))
    assert rgb.max() > 1.5  # values above 1 stay above 1 in the working encoding
    back = from_working(rgb, None, info(dtype, encoding="linear"))
    assert back.dtype == np.dtype(dtype)
    if dtype == "float16":
        assert np.array_equal(back, frame)
    else:
        assert np.max(np.abs(back - frame) / np.maximum(1, np.abs(frame))) < 1e-5


def test_decode_inverts_encode_over_a_wide_range():
    x = np.linspace(-1, 1.0, 20001, dtype=np.float32)
    assert np.max(np.abs(decode_srgb(encode_srgb(x)) - x)) < 1e-5


@pytest.mark.parametrize("dtype,encoding", [("uint8", "srgb"), ("uint16", "srgb"), ("float16", "linear"),
                                            ("float32", "linear")])
def test_alpha_is_bit_exact_through_working(dtype, encoding):
    rng = np.random.default_rng(3)
    if dtype.startswith("uint"):
        frame = rng.integers(0, np.iinfo(dtype).max + 1, size=(4, 8, 4)).astype(dtype)
    else:
        frame = (rng.random((4, 8, 4)) * 3 - 1).astype(dtype)
    clip = info(dtype, 4, encoding)
    rgb, alpha = to_working(frame, clip)
    assert alpha.dtype == np.float32 and alpha.shape == (4, 8)
    rgb = rgb * 0.5  # processing changes colour, never alpha
    via_float = from_working(rgb, alpha, clip)
    via_native = from_working(rgb, frame[:, :, 3], clip)
    assert np.array_equal(via_float[:, :, 3], frame[:, :, 3])
    assert np.array_equal(via_native[:, :, 3], frame[:, :, 3])


def test_four_channel_clip_without_alpha_gets_opaque_alpha():
    out = from_working(np.zeros((2, 3, 3), np.float32), None, ClipInfo("sequence", 1, 3, 2, 4, "uint16"))
    assert out.shape == (2, 3, 4) and np.all(out[:, :, 3] == 65535)

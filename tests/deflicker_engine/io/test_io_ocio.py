"""Colour spaces by OpenColorIO name: the show's config or OCIO's built-in one, a perceptual working
encoding, and an exact way back (an untouched frame returns within float16 precision, > 1.0 kept)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from deflicker_engine.errors import InputError, ParameterError
from deflicker_engine.io import ClipInfo, from_working, open_sink, open_source, to_working, with_colorspace
from deflicker_engine.io.ocio import colour_transform, load_config
from iohelpers import write_sequence

ocio = pytest.importorskip("PyOpenColorIO")

SHOW_CONFIG = Path(__file__).parent / "data" / "show.ocio"
HALF_ULP = 2.0 ** -11          # float16's relative precision (half a unit in the last place)
BUILTIN = "ocio://studio-config-latest"


@pytest.fixture(autouse=True)
def no_show_config(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)


def scene_linear_pixels(count: int = 4000, seed: int = 0) -> np.ndarray:
    """Plausible linear Rec.709 pixels: log-normal grey levels from deep shadow to 16x mid grey, mild colour."""
    rng = np.random.default_rng(seed)
    extra = np.array([[0, 0, 0], [1, 1, 1], [0.18, 0.18, 0.18], [16, 16, 16], [4, 0.5, 0.2]])
    grey = np.exp(rng.normal(np.log(0.18), 1.5, (count - len(extra), 1)))
    colour = 1 + 0.6 * rng.uniform(-1, 1, (count - len(extra), 3))
    return np.concatenate([extra, grey * colour]).astype(np.float32)


def native_pixels(colorspace: str, dtype: str = "float32", config: str = BUILTIN) -> np.ndarray:
    """The same pixels expressed in `colorspace` by OCIO itself (what a plate in that space holds)."""
    cfg = load_config(config)
    values = scene_linear_pixels()
    if config == BUILTIN:
        processor = ocio.Config.GetProcessorFromBuiltinColorSpace("Linear Rec.709 (sRGB)", cfg, colorspace)
    else:
        processor = cfg.getProcessor("scene_linear", colorspace)
    processor.getDefaultCPUProcessor().applyRGB(values)
    return values.reshape(100, 40, 3).astype(dtype)


def clip(dtype: str, colorspace: str, config=None, channels: int = 3, shape=(100, 40)) -> ClipInfo:
    return ClipInfo(kind="sequence", path="x", count=1, width=shape[1], height=shape[0], channels=channels,
                    dtype=dtype, encoding="linear" if dtype.startswith("float") else "srgb",
                    colour=colour_transform(colorspace, config))


def relative_error(back: np.ndarray, frame: np.ndarray) -> float:
    """Largest error relative to its pixel's brightest channel (how float precision is judged)."""
    back, frame = back.astype(np.float64), frame.astype(np.float64)
    scale = np.maximum(np.abs(frame).max(axis=-1, keepdims=True), 1e-3)
    return float((np.abs(back - frame) / scale).max())


SPACES = ["ACEScg", "ACES2065-1", "ACEScct", "ARRI LogC3 (EI800)", "ARRI LogC4", "S-Log3 S-Gamut3.Cine",
          "V-Log V-Gamut", "Linear Rec.2020", "sRGB Encoded Rec.709 (sRGB)", "Camera Rec.709",
          "Gamma 2.4 Encoded Rec.709", "Linear Rec.709 (sRGB)"]


@pytest.mark.parametrize("colorspace", SPACES)
def test_untouched_float_frame_returns_within_float16_precision(colorspace):
    frame = native_pixels(colorspace)
    info = clip("float32", colorspace)
    rgb, _ = to_working(frame, info)
    back = from_working(rgb, None, info)
    assert back.dtype == np.float32
    assert relative_error(back, frame) < HALF_ULP / 100      # measured: about 1e-6


@pytest.mark.parametrize("colorspace", ["ACEScg", "ARRI LogC3 (EI800)", "ACEScct", "Linear Rec.2020"])
def test_half_float_plates_come_back_bit_exact_almost_everywhere(colorspace):
    frame = native_pixels(colorspace, "float16")
    info = clip("float16", colorspace)
    back = from_working(to_working(frame, info)[0], None, info)
    assert back.dtype == np.float16
    assert relative_error(back, frame) <= HALF_ULP
    assert np.mean(back == frame) > 0.99


def test_values_above_one_are_kept_both_ways():
    frame = np.full((2, 2, 3), 8.0, np.float32)
    info = clip("float32", "ACEScg")
    rgb, _ = to_working(frame, info)
    assert rgb.min() > 1.5                        # highlights stay highlights in the working encoding
    assert np.allclose(from_working(rgb, None, info), 8.0, rtol=1e-6)


def test_working_encoding_is_perceptual_with_mid_grey_where_srgb_has_it():
    grey = np.full((1, 1, 3), 0.18, np.float32)
    for name in ("ACEScg", "Linear Rec.709 (sRGB)"):
        rgb, _ = to_working(grey, clip("float32", name, shape=(1, 1)))
        assert rgb == pytest.approx(np.full((1, 1, 3), 1.055 * 0.18 ** (1 / 2.4) - 0.055), abs=1e-4)
    srgb = np.full((1, 1, 3), 0.5, np.float32)    # already sRGB-encoded: unchanged
    assert to_working(srgb, clip("float32", "sRGB Encoded Rec.709 (sRGB)", shape=(1, 1)))[0] == pytest.approx(srgb)


def test_working_primaries_are_rec709_for_rec709_spaces_and_ap1_for_wider_ones():
    for name in ("sRGB Encoded Rec.709 (sRGB)", "Camera Rec.709", "Gamma 2.4 Encoded Rec.709", "Linear Rec.709 (sRGB)"):
        assert colour_transform(name).working.startswith("sRGB Encoded Rec.709"), name
    for name in ("ACEScg", "ARRI LogC3 (EI800)", "S-Log3 S-Gamut3.Cine", "Linear P3-D65", "Linear Rec.2020"):
        assert colour_transform(name).working.startswith("sRGB Encoded AP1"), name
    # a saturated ACEScg colour stays positive (in Rec.709 it would be about -0.6 before the curve's x12.92)
    green = np.array([[[0.0, 1.0, 0.0]]], np.float32)
    rgb, _ = to_working(green, clip("float32", "ACEScg", shape=(1, 1)))
    assert rgb.min() >= 0 and rgb[0, 0, 1] == pytest.approx(1.0, abs=1e-5)


def test_a_flicker_gain_stays_close_to_a_gain_in_the_working_encoding():
    """Flicker is a gain on light; in the working encoding it must not depend on the colour space."""
    frame = native_pixels("ACEScg")
    for name in ("ACEScg", "ARRI LogC3 (EI800)"):
        cfg = load_config(BUILTIN)
        native = frame.copy()
        if name != "ACEScg":
            cfg.getProcessor("ACEScg", name).getDefaultCPUProcessor().applyRGB(native)
        brighter = (frame * 1.2).astype(np.float32)
        if name != "ACEScg":
            cfg.getProcessor("ACEScg", name).getDefaultCPUProcessor().applyRGB(brighter)
        info = clip("float32", name)
        a, b = to_working(native, info)[0], to_working(brighter, info)[0]
        mid = (a > 0.2) & (a < 1.0) & (b > 0.2)
        ratio = b[mid] / a[mid]
        assert np.median(ratio) == pytest.approx(1.2 ** (1 / 2.2), rel=0.03)


def test_display_referred_and_data_spaces_are_analysed_as_they_are():
    frame = np.random.default_rng(4).random((4, 6, 3)).astype(np.float32)
    for name in ("sRGB - Display", "Rec.2100-PQ - Display", "Raw"):
        info = clip("float32", name, shape=(4, 6))
        rgb, _ = to_working(frame, info)
        assert np.array_equal(rgb, frame) and np.array_equal(from_working(rgb, None, info), frame)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_integer_log_plates_round_trip_exactly(dtype):
    top = np.iinfo(dtype).max
    logc = native_pixels("ARRI LogC3 (EI800)")
    frame = np.concatenate([np.rint(np.clip(logc, 0, 1) * top), np.full((100, 40, 1), top // 3)], axis=2).astype(dtype)
    info = clip(dtype, "ARRI LogC3 (EI800)", channels=4)
    rgb, alpha = to_working(frame, info)
    assert rgb.max() > 1.0                                          # LogC holds highlights above display white
    back = from_working(rgb, alpha, info)
    assert np.array_equal(back[..., 3], frame[..., 3])
    assert np.abs(back.astype(np.int64) - frame).max() <= (0 if dtype == "uint8" else 1)


@pytest.mark.parametrize("name,expected", [("acescg", "ACEScg"), ("ARRI LogC", "ARRI LogC3 (EI800)"),
                                           ("sRGB", "sRGB Encoded Rec.709 (sRGB)"), ("Rec.709", "Camera Rec.709"),
                                           ("lin_srgb", "Linear Rec.709 (sRGB)"), ("scene_linear", "ACEScg"),
                                           ("ACES - ACEScg", "ACEScg"), ("AlexaV3LogC", "ARRI LogC3 (EI800)"),
                                           ("Rec.709 Gamma 2.4", "Gamma 2.4 Encoded Rec.709"), ("Non-Color", "Raw")])
def test_names_aliases_roles_and_everyday_names(name, expected):
    assert colour_transform(name).colorspace == expected


def test_unknown_name_lists_the_closest_and_the_known_names():
    with pytest.raises(ParameterError) as error:
        colour_transform("ARRI LogC5")
    message = str(error.value)
    assert "ARRI LogC5" in message and "closest: ARRI LogC4" in message and "ACEScg" in message


def test_empty_means_the_file_decides():
    assert colour_transform("") is None and colour_transform("  ") is None
    with pytest.raises(ParameterError):
        colour_transform(3)


def test_show_config_from_OCIO_without_interchange_roles(monkeypatch):
    monkeypatch.setenv("OCIO", str(SHOW_CONFIG))
    transform = colour_transform("show_log")
    assert transform.config == str(SHOW_CONFIG) and "scene_linear" in transform.working
    frame = native_pixels("show_log", config=str(SHOW_CONFIG))
    info = ClipInfo("sequence", 1, 40, 100, 3, "float32", colour=transform)
    rgb, _ = to_working(frame, info)
    assert relative_error(from_working(rgb, None, info), frame) < HALF_ULP / 100
    with pytest.raises(ParameterError, match="show_lin"):
        colour_transform("ACEScg")              # the show's names, not the built-in config's


def test_a_broken_OCIO_config_is_a_parameter_error_that_names_it(monkeypatch, tmp_path):
    bad = tmp_path / "broken.ocio"
    bad.write_text("ocio_profile_version: 2\ncolorspaces: [\n")
    monkeypatch.setenv("OCIO", str(bad))
    with pytest.raises(ParameterError, match=r"broken\.ocio.*\$OCIO"):
        colour_transform("anything")


def test_colour_travels_with_pickled_clip_info():
    info = clip("float16", "ACEScg")
    again = pickle.loads(pickle.dumps(info))
    assert again == info and again.colour.colorspace == "ACEScg"
    frame = native_pixels("ACEScg", "float16")
    assert np.array_equal(to_working(frame, again)[0], to_working(frame, info)[0])


def test_open_source_attaches_the_colour_space(make_sequence):
    folder, frames = make_sequence(ext=".exr", dtype="float16", count=2)
    with open_source(folder, colorspace="ACEScg") as src:
        assert src.info.colour.colorspace == "ACEScg"
        assert open_source(src) is src and src.info.colour is not None      # an open source keeps it
    with open_source(folder) as src:
        assert src.info.colour is None


def test_unknown_colour_space_fails_before_the_input_is_touched(tmp_path):
    with pytest.raises(ParameterError):
        open_source(tmp_path / "missing.mp4", colorspace="nope")
    with pytest.raises(InputError):
        open_source(tmp_path / "missing.mp4", colorspace="ACEScg")


def test_outputs_stay_in_the_input_colour_space(make_sequence, tmp_path):
    """A LogC 16-bit PNG plate written as EXR holds LogC values (not linear ones)."""
    frames = [np.random.default_rng(6).integers(6000, 60000, (6, 8, 3)).astype(np.uint16) for _ in range(2)]
    folder = write_sequence(tmp_path / "logc", frames, ["a.0001.png", "a.0002.png"])
    with open_source(folder, colorspace="ARRI LogC3 (EI800)") as src:
        with open_sink(tmp_path / "out" / "a.%04d.exr", src.info, like=src) as sink:
            for frame in src.frames():
                sink.write(frame)
    with open_source(tmp_path / "out" / "a.%04d.exr") as out:
        written = out.read(0)
    assert np.allclose(written, frames[0] / 65535.0, atol=1e-3)


def test_exr_plate_in_acescg_writes_back_unchanged(make_sequence, tmp_path):
    folder, frames = make_sequence(ext=".exr", dtype="float16", count=2, peak=6.0)
    with open_source(folder, colorspace="ACEScg") as src:
        with open_sink(tmp_path / "out", src.info, like=src) as sink:
            for frame in src.frames():
                rgb, alpha = to_working(frame, src.info)
                sink.write(from_working(rgb, alpha, src.info))
    with open_source(tmp_path / "out") as out:
        for i, frame in enumerate(frames):
            assert relative_error(out.read(i), frame) <= HALF_ULP


def test_with_colorspace_attaches_to_a_copy_and_keeps_an_attached_one():
    plain = ClipInfo("sequence", 1, 4, 2, 3, "float16", encoding="linear")
    named = with_colorspace(plain, "ACEScg")
    assert named.colour.colorspace == "ACEScg" and plain.colour is None      # the original is untouched
    assert with_colorspace(named, "") is named and with_colorspace(plain, "") is plain
    assert with_colorspace(named, "acescg") is named
    with pytest.raises(ParameterError):
        with_colorspace(plain, "nope")

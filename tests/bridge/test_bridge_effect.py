"""Effect, Param and Frame: what hosts build their knobs and images from."""
import numpy as np
import pytest

import deflicker_bridge as bridge
from deflicker_bridge.effect import Effect, Param
from deflicker_bridge.frames import as_frame

DESCRIBE = {"effect": {"name": "Deflicker", "label": "Deflicker", "clips": [{"name": "Source"}], "params": [
    {"name": "working_size", "type": "integer", "default": 448, "min": 128, "max": 1024, "label": "Working size",
     "help": "long side", "group": "analysis"},
    {"name": "strength", "type": "double", "default": 1.0, "min": 0.0, "max": 1.0, "label": "Strength",
     "help": "", "group": "render"}], "temporal": {"frames_needed": "clip"}}}


def test_effect_from_describe_gives_typed_params_with_ranges():
    effect = Effect.from_describe(DESCRIBE)
    assert effect.names() == ["working_size", "strength"]
    assert effect.defaults() == {"working_size": 448, "strength": 1.0}
    size = effect.param("working_size")
    assert (size.type, size.min, size.max, size.label, size.group) == ("integer", 128, 1024, "Working size", "analysis")
    assert effect.coerce({"working_size": "256", "strength": 0}) == {"working_size": 256, "strength": 0.0}
    for name, value in (("working_size", 100), ("working_size", 300.5), ("strength", "lots"), ("nope", 1)):
        with pytest.raises(bridge.ParameterError):
            effect.coerce({name: value})
    with pytest.raises(ValueError):
        Param("x", "colour", "")
    with pytest.raises(ValueError):
        Param("x", "choice", "a")                                  # a choice with nothing to choose


def test_choice_and_text_params_and_presets_from_describe():
    effect = bridge.Effect.from_describe({"effect": {"params": [
        {"name": "preset", "type": "choice", "default": "auto", "choices": ["auto", "processed"], "group": "analysis"},
        {"name": "colorspace", "type": "string", "default": "", "group": "analysis"},
        {"name": "slow_changes", "type": "double", "default": 0.5, "min": 0.0, "max": 30.0, "group": "analysis"}],
        "presets": {"processed": {"summary": "s", "values": {"slow_changes": 0.0}}}}})
    assert effect.param("preset").choices == ("auto", "processed")
    assert effect.coerce({"preset": "processed", "colorspace": "ACEScg"}) == {"preset": "processed",
                                                                              "colorspace": "ACEScg"}
    for name, value in (("preset", "vintage"), ("colorspace", 3), ("slow_changes", float("nan")),
                        ("slow_changes", "inf")):
        with pytest.raises(bridge.ParameterError):
            effect.coerce({name: value})
    assert effect.preset_values("processed") == {"slow_changes": 0.0}
    with pytest.raises(bridge.ParameterError):
        effect.preset_values("vintage")


def test_frames_from_arrays_are_contiguous_little_endian_views():
    image = np.arange(4 * 6 * 3, dtype=np.uint16).reshape(4, 6, 3)
    frame = as_frame(image[:, ::2])                                # non-contiguous: copied once
    assert frame.shape == (4, 3, 3) and np.array_equal(frame.array, image[:, ::2])
    gray = as_frame(np.zeros((2, 2), np.float32))
    assert gray.shape == (2, 2, 1)
    big = as_frame(np.ones((1, 1, 3), ">f4"))
    assert big.dtype == "float32" and big.array[0, 0, 0] == 1.0
    contiguous = np.zeros((2, 2, 4), np.float16)
    assert as_frame(contiguous).array.base is not None            # a view, not a copy
    with pytest.raises(ValueError):
        as_frame((b"123", (1, 1, 3), "float32"))
    with pytest.raises(ValueError):
        as_frame(np.zeros((1, 1, 3), np.int32))


def test_preset_fills_put_back_what_another_preset_changed():
    """Hosts send every knob's value and explicit values win over a preset, so picking a preset must set
    every knob some preset touches: its own value, else the default."""
    effect = bridge.Effect.from_describe({"effect": {"params": [
        {"name": "preset", "type": "choice", "default": "auto", "choices": ["auto", "processed"], "group": "analysis"},
        {"name": "slow_changes", "type": "double", "default": 0.5, "min": 0.0, "max": 30.0, "group": "analysis"},
        {"name": "strength", "type": "double", "default": 1.0, "min": 0.0, "max": 1.0}],
        "presets": {"auto": {"summary": "a", "values": {}},
                    "processed": {"summary": "p", "values": {"slow_changes": 0.0, "gone": 1}}}}})
    assert effect.preset_param().name == "preset"
    assert effect.preset_fills() == {"auto": {"slow_changes": 0.5}, "processed": {"slow_changes": 0.0}}
    assert bridge.Effect.from_describe({"effect": {"params": []}}).preset_param() is None

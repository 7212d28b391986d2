import pytest

from deflicker_engine.config import AnalysisParams, RenderParams, from_dict, schema, validate
from deflicker_engine.errors import ParameterError


def test_defaults_are_valid_and_described():
    validate(AnalysisParams())
    validate(RenderParams())
    names = {p["name"]: p for p in schema(RenderParams)}
    assert names["strength"] == {"name": "strength", "type": "double", "default": 1.0, "min": 0.0, "max": 1.0,
                                 "label": "Strength", "help": names["strength"]["help"]}
    assert all(p["label"] and p["help"] for p in schema(AnalysisParams))


@pytest.mark.parametrize("values", [{"strength": 1.5}, {"strength": "high"}, {"strength": True}, {"bogus": 1}])
def test_bad_render_params_are_refused(values):
    with pytest.raises(ParameterError):
        from_dict(RenderParams, values)


def test_types_are_checked():
    with pytest.raises(ParameterError):
        from_dict(AnalysisParams, {"use_atlas": 1})
    with pytest.raises(ParameterError):
        from_dict(AnalysisParams, {"window": 40.5})
    assert from_dict(RenderParams, {"strength": 1}).strength == 1.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ParameterError, match="finite"):
        from_dict(RenderParams, {"strength": value})
    with pytest.raises(ParameterError, match="finite"):
        from_dict(AnalysisParams, {"consolidation": value})


def test_a_preset_supplies_its_values_and_explicit_values_win():
    from deflicker_engine.config import PRESETS

    processed = PRESETS["processed"].values
    assert processed, "the processed preset must set something"
    name, value = next(iter(processed.items()))
    params = from_dict(AnalysisParams, {"preset": "processed"})
    assert params.preset == "processed" and getattr(params, name) == value
    default = getattr(AnalysisParams(), name)
    other = default if default != value else None
    if other is not None:
        assert getattr(from_dict(AnalysisParams, {"preset": "processed", name: other}), name) == other


def test_every_preset_but_auto_is_a_set_of_values_and_fast_flicker_presets_pull_harder():
    from deflicker_engine.config import PRESETS
    assert [name for name, p in PRESETS.items() if not p.values] == ["auto"]
    default = AnalysisParams().consolidation
    assert from_dict(AnalysisParams, {"preset": "mains-light"}).consolidation > default
    assert from_dict(AnalysisParams, {"preset": "timelapse"}).consolidation > default
    assert from_dict(AnalysisParams, {"preset": "old-film"}).consolidation < default
    assert from_dict(AnalysisParams, {"preset": "old-film", "consolidation": 0.8}).consolidation == 0.8


def test_unknown_preset_and_choices_are_refused():
    with pytest.raises(ParameterError, match="preset must be one of"):
        from_dict(AnalysisParams, {"preset": "vintage"})
    with pytest.raises(ParameterError, match="preset must be one of"):
        validate(AnalysisParams(preset="vintage"))


def test_choice_parameters_are_described_with_their_choices():
    from deflicker_engine.config import PRESETS, presets_schema

    preset = {p["name"]: p for p in schema(AnalysisParams)}["preset"]
    assert preset["type"] == "choice" and preset["choices"] == list(PRESETS) and preset["default"] == "auto"
    assert set(presets_schema()) == set(PRESETS)


def test_a_preset_given_in_python_applies_its_values_to_the_fields_left_at_their_defaults():
    from deflicker_engine.config import PRESETS, resolve

    name, value = next(iter(PRESETS["processed"].values.items()))
    assert getattr(resolve(AnalysisParams(preset="processed")), name) == value
    assert resolve(AnalysisParams()) == AnalysisParams()

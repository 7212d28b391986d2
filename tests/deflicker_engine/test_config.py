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

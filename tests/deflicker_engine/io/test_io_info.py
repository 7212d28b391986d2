from fractions import Fraction

import pytest

from deflicker_engine.errors import ParameterError
from deflicker_engine.io import ClipInfo
from deflicker_engine.io.info import rate_string, tidy_rate


def test_clip_info_is_frozen_and_describes_frames():
    info = ClipInfo("video", 10, 64, 36, 4, "uint16", fps=25.0, rate="25/1")
    assert info.shape == (36, 64, 4) and info.encoding == "srgb" and info.names is None
    with pytest.raises(AttributeError):
        info.count = 3


@pytest.mark.parametrize("field,value", [("kind", "movie"), ("dtype", "int8"), ("channels", 2),
                                         ("encoding", "log"), ("width", 0)])
def test_clip_info_rejects_nonsense(field, value):
    values = dict(kind="sequence", count=1, width=4, height=4, channels=3, dtype="uint8")
    values[field] = value
    with pytest.raises(ParameterError, match=field if field != "width" else "size"):
        ClipInfo(**values)


def test_rates_are_spelled_as_fractions():
    assert rate_string(Fraction(25)) == "25/1" and rate_string(Fraction(24000, 1001)) == "24000/1001"


def test_container_rounding_is_undone_but_real_rates_are_kept():
    assert tidy_rate(Fraction(19001, 317)) == Fraction(60000, 1001)
    assert tidy_rate(Fraction(2997, 125)) == Fraction(2997, 125)
    assert tidy_rate(Fraction(12)) == 12 and tidy_rate(Fraction(25000001, 1000000)) == 25

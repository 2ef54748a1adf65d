import pytest

from autointerp.errors import InputError
from autointerp.records import UnitId


@pytest.mark.parametrize("text", ["L6.N74", "6.74", "6/74", "l6.n74", " L6.N74 "])
def test_parse_forms(text):
    n = UnitId.parse(text)
    assert (n.layer, n.index) == (6, 74)
    assert str(n) == "L6.N74"


@pytest.mark.parametrize("text", ["", "L6", "6", "L6.N", "6.74.1", "L-1.N3", "x6.74", "6:74", "L6N74"])
def test_parse_rejects(text):
    with pytest.raises(InputError, match="malformed unit id"):
        UnitId.parse(text)


def test_round_trip_and_hashable():
    n = UnitId.parse("L12.N1535")
    assert UnitId.parse(str(n)) == n
    assert len({n, UnitId(layer=12, index=1535)}) == 1

"""Fuzz the LLM reply parser: a correct list parses, anything else is a ParseError, never a crash or zeros."""

import json

from hypothesis import given, settings as hsettings, strategies as st

from autointerp.scoring.parse import ParseError, parse_predictions

preds = st.lists(st.integers(0, 10), min_size=1, max_size=70)


def _parse(text, n):
    try:
        return parse_predictions(text, n)
    except ParseError:
        return None


@given(preds, st.sampled_from(["{}", "Sure! Here you go: {} Hope this helps.", "```json\n{}\n```",
                               '{{"predictions": {}}}']))
def test_valid_replies_parse_exactly(values, wrapper):
    text = wrapper.format(json.dumps(values))
    assert parse_predictions(text, len(values)) == [float(v) for v in values]


@given(preds, st.integers(1, 30))
def test_truncated_json_never_invents_values(values, cut):
    text = json.dumps(values)
    truncated = text[: max(1, len(text) - cut)]
    got = _parse(truncated, len(values))
    assert got is None or got == [float(v) for v in values]


@given(preds, st.integers(-3, 3).filter(lambda d: d != 0))
def test_wrong_length_is_an_error(values, delta):
    n = len(values) + delta
    if n > 0:
        assert _parse(json.dumps(values), n) is None


@given(st.lists(st.one_of(st.text(max_size=5), st.booleans(), st.none(), st.floats(allow_nan=True),
                          st.integers(11, 10**6), st.integers(-10**6, -1)), min_size=1, max_size=20))
def test_non_numbers_and_out_of_range_are_errors(values):
    assert _parse(json.dumps(values), len(values)) is None or all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10 for v in values)


@hsettings(max_examples=300)
@given(st.text(max_size=300), st.integers(1, 50))
def test_arbitrary_prose_never_crashes(text, n):
    got = _parse(text, n)
    assert got is None or (len(got) == n and all(0 <= v <= 10 for v in got))

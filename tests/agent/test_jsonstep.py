"""Where a JSON step stops being a call of a known tool with known arguments (`wrong_at`), and what
the loop runs from a reply cut there."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from autointerp.agent.jsonstep import parse_step, wrong_at

TOOLS = {"top_examples": frozenset({"start", "n"}), "probe": frozenset({"texts"}),
         "score": frozenset({"explanation", "triggers"}), "effects": frozenset()}


@pytest.mark.parametrize("text, cut_to", [
    ('{"tool": "test_', '{"tool": "test_'),  # no tool begins so: the name is kept, to be reported unknown
    ('{"tool": "top_examples", "args": {\n    "name": "top', '{"tool": "top_examples", "args": {\n    '),
    ('{"tool": "probe", "args": {"texts": ["a: b", "c"], "x": 1', '{"tool": "probe", "args": {"texts": ["a: b", "c"], '),
    ('{"tool": "probe", "args": {"texts": [{"a"', '{"tool": "probe", "args": {'),  # the pair goes
])
def test_a_step_is_cut_where_it_went_wrong(text, cut_to):
    assert text[:wrong_at(text, TOOLS)] == cut_to


@pytest.mark.parametrize("text", [
    '{"tool": "', '{"tool": "top_', '{"tool": "effects"}', '{"tool": "effects", "arguments": {}}',
    '{"tool": "score", "args": {"explanation": "the \\"x\\": y {z}", "triggers": ["x"]}}',
    '{"tool": "probe", "args": {"texts": ["a", "b"]}} then {"oops": 1}', 'Sure. {"tool": "nothing"}',
    '{"tool": "top_examples", "args": {"start": 2, "n": 1', '{"tool": "probe", "args": {"texts": ["a", "b\\"',
    '{"tool": "score", "args": {"explanation": "x", "triggers": [], ',
])
def test_a_step_that_can_still_be_valid_is_not_cut(text):
    assert wrong_at(text, TOOLS) is None


def test_the_cut_reply_still_parses_as_the_call_it_began():
    text = '{"tool": "probe", "args": {"texts": ["In 1990 the war"], "description": "The top'
    assert parse_step(text[:wrong_at(text, TOOLS)]) == ("probe", {"texts": ["In 1990 the war"]})
    unknown = '{"tool": "test_examples", "args": {}}'
    assert parse_step(unknown[:wrong_at(unknown, TOOLS)]) == ("test_examples", {})  # reported unknown by name


@given(st.text(alphabet='{}[]":, abcdeinoprstx\\', max_size=80))
def test_cutting_is_final(tail):
    text = '{"tool": "' + tail
    cut = wrong_at(text, TOOLS)
    if cut is not None:
        assert wrong_at(text[:cut], TOOLS) in (None, cut)  # cutting again keeps it all (a bad name is kept)


def test_the_loop_runs_what_a_cut_reply_began(real_wb):
    from autointerp.agent import AgentConfig, explain
    from tests.agent.test_loop import NEURON, events, scripted

    llm = scripted(AIMessage("animals"),  # the category seed, if asked; otherwise the first step (unusable)
                   AIMessage('{"tool": "probe", "args": {"texts": ["In 1990 the war"], "name": "probe", '
                             '"description": "Run the real model"}}'),
                   AIMessage('{"tool": "test_examples", "args": {"test_examples": [{"a": 1}]}}'),
                   native=False)
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=3))
    results = [e for e in events(rec, "tool_result") if e.step > 0]
    assert [r.name for r in results][-2:] == ["probe", "test_examples"]
    assert results[-2].ok and not results[-1].ok and "unknown tool 'test_examples'" in results[-1].result
    assert len(rec.evidence.probes) == 1 and rec.evidence.probes[0].endswith("'In 1990 the war'")


def test_a_bare_line_where_an_argument_name_belongs_is_cut():
    text = '{"tool": "top_examples", "args": {\n    1|9.1|\'ah\' (middle piece of "Kandahar")'
    assert text[:wrong_at(text, TOOLS)] == '{"tool": "top_examples", "args": {\n    '
    pair = '{"tool": "top_examples", "args": {"start": 2, "n": |'
    assert pair[:wrong_at(pair, TOOLS)] == '{"tool": "top_examples", "args": {"start": 2, '

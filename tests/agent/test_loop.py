"""The whole agent loop driven by a scripted chat model: real tools, real model, real held-out scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, ToolMessage

from autointerp.agent import AgentConfig, explain
from autointerp.agent.explain import NAME_FLOOR, NAME_SUPPORT
from autointerp.agent.loop import FORCE_ORDER, STALL_STEPS, StepError, begun_call, parse_step
from autointerp.agent.session import open_session
from autointerp.agent.tools import make_tools
from autointerp.agent.transcript import load
from autointerp.llm import LLM, Capabilities
from tests.agent.scripted import ScriptedChatModel, call

NEURON = "L3.N74"


def scripted(*replies, native=True) -> LLM:
    return LLM("scripted", ScriptedChatModel(script=list(replies), native=native), price=None,
               capabilities=Capabilities(tool_calls=native))


def events(rec, kind):
    return [e for e in load(Path(rec.transcript)) if e.type == kind]


def test_native_loop_tool_calls_errors_and_submit(real_wb):
    llm = scripted(
        AIMessage("years"),  # the category of the heuristic's top tokens
        AIMessage("fires on numbers"),  # the one-shot seed
        AIMessage("", tool_calls=[call("top_examples", 1, n=3), call("probe", 2, texts=["In 1990 the", "A cat."])]),
        AIMessage("", invalid_tool_calls=[{"name": "score", "args": "{not json", "id": "bad-1", "error": "bad JSON",
                                           "type": "invalid_tool_call"}]),
        AIMessage("", tool_calls=[call("context", 3, example=9999), call("no_such_tool", 4),
                                  call("probe", 5, texts=[])]),
        AIMessage("thinking"),  # no call: nudged
        AIMessage("", tool_calls=[call("score", 6, explanation="years and numbers", triggers=["1990"])]),
        AIMessage("", tool_calls=[call("submit", 7, explanation="years and numbers, as digits", kind="input")]),
    )
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=10))
    chat = llm.chat
    assert not chat.script, "every scripted reply was used"
    assert rec.steps == 6 and rec.method == "agent" and rec.explainer == "scripted"
    assert [e.data["stop"] for e in events(rec, "final")] == ["submit"]
    observations = [m.content for m in chat.seen[-1] if isinstance(m, ToolMessage)]
    assert any(o.startswith("error: malformed call to 'score'") for o in observations)
    assert any("example must be in 0.." in o for o in observations)
    assert any("unknown tool 'no_such_tool'" in o for o in observations)
    assert any("give at least one non-empty text" in o for o in observations)
    assert any(o.startswith("0. (") for o in observations), "top_examples numbered from its start"
    assert len(rec.evidence.probes) == 2
    results = events(rec, "tool_result")
    assert sum(not e.data["ok"] for e in results) == 4
    # The record is the best validation candidate, scored once more on windows no tool saw.
    sources = {e.data.get("source") for e in events(rec, "score") if e.data.get("split") == "validation"}
    assert {"heuristic", "category", "one-shot", "score", "submit"} <= sources
    named = {e.data["source"]: e.data for e in events(rec, "score") if e.data.get("source") in ("category", "named")}
    assert named["category"]["text"] == "years", "the category name is scored alone first"
    heur = next(e.data["value"] for e in events(rec, "score") if e.data.get("source") == "heuristic")
    supported = named["category"]["value"] >= max(NAME_FLOOR, NAME_SUPPORT * heur)
    assert ("named" in named) == supported and (not supported or named["named"]["text"].startswith("years: "))
    s = rec.scores[0]
    held = set(s.split.score_top_windows) | set(s.split.score_random_windows)
    assert held and not held & set(s.split.explain_windows) and s.n_examples == 10
    assert rec.prompt_tokens > 0 and rec.cost_usd is None and Path(rec.transcript).exists()


def test_json_fallback_runs_the_same_tools(real_wb):
    llm = scripted(
        AIMessage("the, a, an"),  # not a category name: no candidate from it
        AIMessage("fires on numbers"),
        AIMessage("I would like to look at examples"),  # not JSON: sent back, loop goes on
        AIMessage('{"tool": "probe", "args": {"texts": ["In 1990 the war", "The cat sat."]}}'),
        AIMessage('{"tool": "probe", "args": {"texts": ["In 1990 the war", "The cat sat."]}}'),  # repeated
        AIMessage('Sure. {"tool": "submit", "args": {"explanation": "years such as 1990", "triggers": ["1990"]}}'),
        native=False,
    )
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=6))
    assert rec.steps == 4 and [e.data["stop"] for e in events(rec, "final")] == ["submit"]
    assert "category" not in {e.data.get("source") for e in events(rec, "score")}
    sent = [str(m.content) for m in llm.chat.seen[-1]]
    assert any("not a usable step" in t for t in sent)
    assert any("already made exactly this call" in t for t in sent)
    assert '"tool": "<name>"' in sent[0], "the fallback's system prompt describes the JSON step"
    assert len(rec.evidence.probes) == 2


def test_stops_at_max_steps_and_target_score_with_best_so_far(real_wb):
    looping = [AIMessage("", tool_calls=[call("top_examples", i, start=i)]) for i in range(3)]
    rec = explain(real_wb, NEURON, llm=scripted(AIMessage("numbers"), AIMessage("numbers"), *looping),
                  config=AgentConfig(max_steps=3))
    assert rec.steps == 3 and events(rec, "final")[0].data["stop"] == "max-steps"
    best = max((e for e in events(rec, "score") if e.data.get("split") == "validation"), key=lambda e: e.data["value"])
    assert rec.scores[0].explanation == best.data["text"]
    rec = explain(real_wb, NEURON, llm=scripted(AIMessage("numbers"), AIMessage("numbers"), looping[0]),
                  config=AgentConfig(max_steps=5, target_score=-1.0))
    assert rec.steps == 1 and events(rec, "final")[0].data["stop"] == "target-score"
    rec = explain(real_wb, NEURON, llm=scripted(AIMessage("numbers"), AIMessage("numbers")),
                  config=AgentConfig(max_steps=5, max_tokens=1))
    assert rec.steps == 0 and events(rec, "final")[0].data["stop"] == "budget"


def test_idle_steps_in_a_row_stop_the_loop_as_stalled(real_wb):
    """A model that keeps repeating itself is stopped: the script has no reply for a step after the stall."""
    step = '{"tool": "top_examples", "args": {"n": 3}}'
    llm = scripted(AIMessage("the, a, an"), AIMessage("fires on numbers"), AIMessage(step), AIMessage(step),
                   AIMessage("no JSON here"), AIMessage(step), native=False)
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=8))
    assert STALL_STEPS == 3 and not llm.chat.script
    assert rec.steps == 4 and events(rec, "final")[0].data["stop"] == "stalled"
    llm = scripted(AIMessage("numbers"), AIMessage("numbers"), *[AIMessage("thinking") for _ in range(STALL_STEPS)])
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=8))
    assert rec.steps == STALL_STEPS and events(rec, "final")[0].data["stop"] == "stalled"


def test_after_an_idle_step_the_local_reply_is_begun_with_an_unused_tool(real_wb):
    by_name = {t.name: t for t in make_tools(open_session(real_wb, NEURON))}
    assert "score" not in FORCE_ORDER and set(FORCE_ORDER) <= set(by_name)
    begun = begun_call(by_name, [])
    assert begun == '{"tool": "substitute", "args": {"examples": '
    assert parse_step(begun + '3, "k": 2}}') == ("substitute", {"examples": 3, "k": 2})
    assert begun_call(by_name, [("substitute", {}), ("top_examples", {})]) == '{"tool": "context", "args": {"example": '
    assert begun_call(by_name, [(n, {}) for n in FORCE_ORDER]) == '{"tool": "', "nothing left to force"
    by_name["context"] = by_name["score"]  # a first argument that is a string is opened for the model
    assert begun_call(by_name, [("substitute", {})]) == '{"tool": "context", "args": {"explanation": "'


def test_a_named_token_list_is_preferred_only_over_the_bare_list_and_only_within_tolerance():
    from autointerp.agent.explain import NAME_TOLERANCE, prefer_named
    from autointerp.agent.session import Candidate

    bare = Candidate('the tokens "dog", "cat"', ["dog", "cat"], 0.60, "heuristic")
    close = Candidate('animals: "dog", "cat"', ["dog", "cat"], round(0.60 - NAME_TOLERANCE / 2, 4), "named")
    far = Candidate('animals: "dog", "cat"', ["dog", "cat"], round(0.60 - 2 * NAME_TOLERANCE, 4), "named")
    written = Candidate("pets in stories", [], 0.60, "submit")
    assert prefer_named(bare, close) is close
    assert prefer_named(bare, far) is bare and prefer_named(bare, None) is bare
    assert prefer_named(written, close) is written


def test_one_shot_and_heuristic(real_wb):
    rec = explain(real_wb, NEURON, llm=scripted(AIMessage("Explanation: the years in dates.\nMore text")),
                  method="one-shot")
    assert rec.text == "the years in dates." and rec.method == "one-shot" and rec.prompt_version == "one_shot_v1"
    rec = explain(real_wb, NEURON, method="heuristic")
    assert rec.text.startswith("the tokens ") and rec.triggers and rec.explainer == "none"


@given(st.text(max_size=200))
def test_parse_step_never_crashes(text):
    try:
        name, args = parse_step(text)
    except StepError:
        return
    assert isinstance(name, str) and isinstance(args, dict)


def test_parse_step_repairs_a_cut_off_reply():
    assert parse_step('{"tool": "probe", "args": {"texts": ["a", "b') == ("probe", {"texts": ["a", "b"]})
    with pytest.raises(StepError):
        parse_step('{"tool": "probe", "args": [1]}')


@pytest.mark.integration
def test_explain_cli_with_the_real_local_llm(real_settings):
    """The real embedded LLM drives the loop (JSON-step fallback) within its step budget; the stored
    record's score comes from held-out windows; `transcript` shows the run."""
    from autointerp.store import open_store
    from tests.test_cli import run

    r = run(real_settings, "explain", NEURON, "--llm", "local", "--max-steps", "2", "--json", timeout=900)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    stored = open_store(real_settings).latest("smollm2-135m", NEURON)
    assert stored is not None and stored.text == printed["text"] and stored.explainer == "local"
    assert stored.steps <= 2 and stored.prompt_tokens > 0 and stored.completion_tokens > 0
    s = stored.scores[0]
    assert s.method == "simulation" and s.n_examples == 10
    assert not (set(s.split.score_top_windows) | set(s.split.score_random_windows)) & set(s.split.explain_windows)
    llm_events = [e for e in load(Path(stored.transcript)) if e.type == "llm"]
    assert len(llm_events) == 2 + stored.steps, "the category and one-shot seeds, then one reply per step"
    shown = run(real_settings, "transcript", NEURON)
    assert shown.returncode == 0 and "final:" in shown.stdout and "[1] llm:" in shown.stdout


def _tool_call(i: int, name: str, **args) -> dict:
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def test_native_tool_calls_over_the_openai_protocol(real_wb, openai_server):
    """ChatOpenAI against a real HTTP server: tools are sent as OpenAI functions, calls come back,
    results go back as tool messages, and `submit` ends the loop."""
    from autointerp.llm import make_llm

    openai_server.replies = [
        (200, "years"),
        (200, "the years in dates"),
        (200, {"content": None, "tool_calls": [_tool_call(1, "probe", texts=["In 1990 the war", "A cat."])]}),
        (200, {"content": None, "tool_calls": [_tool_call(2, "probe", texts="not a list")]}),
        (200, {"content": None, "tool_calls": [_tool_call(3, "submit", explanation="years such as 1990")]}),
    ]
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", real_wb.settings)
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=5))
    assert rec.steps == 3 and events(rec, "final")[0].data["stop"] == "submit"
    loop_requests = openai_server.requests[2:]
    names = {t["function"]["name"] for t in loop_requests[0]["tools"]}
    assert {"top_examples", "probe", "synonyms", "substitute", "context", "effects", "score", "submit"} <= names
    tool_msgs = [m for m in loop_requests[-1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_1", "call_2"]
    assert "1990" in tool_msgs[0]["content"] and tool_msgs[1]["content"].startswith("error: probe failed")
    assert rec.explainer == "openai-compatible:m" and rec.prompt_tokens > 0


@pytest.mark.integration
@pytest.mark.parametrize(("words", "expected"), [(["dog", "cat", "horse", "cow", "sheep"], "animal"),
                                                 (["Monday", "Tuesday", "Friday", "Sunday"], "day"),
                                                 (["red", "blue", "green", "yellow"], "colo")])
def test_the_local_llm_names_the_category_of_top_tokens(real_settings, words, expected):
    from autointerp.agent.explain import category
    from autointerp.llm import make_llm

    name = category(words, make_llm("local", real_settings))
    assert name is not None and expected in name.lower(), name

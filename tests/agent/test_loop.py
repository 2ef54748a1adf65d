"""The whole agent loop driven by a scripted chat model: real tools, real model, real held-out scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, ToolMessage

from autointerp.agent import AgentConfig, explain
from autointerp.agent.confidence import CONFIDENT_FLOOR
from autointerp.agent.explain import ExplanationFailed
from autointerp.agent.loop import STALL_STEPS, StepError, parse_step
from autointerp.agent.session import open_session
from autointerp.agent.tools import run_context
from autointerp.scoring.simulation import score_records
from autointerp.agent.transcript import load
from autointerp.llm import LLM, Capabilities
from tests.agent.scripted import ScriptedChatModel, call

NEURON = "L3.N74"


def scripted(*replies, native=True) -> LLM:
    return LLM("scripted", ScriptedChatModel(script=list(replies), native=native), price=None,
               capabilities=Capabilities(tool_calls=native))


def events(rec, kind):
    return [e for e in load(Path(rec.transcript)) if e.type == kind]


@pytest.fixture(scope="module")
def findings(real_wb):
    from autointerp.agent.agentic import gather
    from autointerp.agent.transcript import Transcript

    session = open_session(real_wb, NEURON)
    gather(session, Transcript(real_wb.settings, "x", session.neuron, "agent"))
    return session.findings


@pytest.fixture(scope="module")
def asks_category(findings) -> bool:
    """Whether explaining NEURON asks the LLM for a category name first (only when substitution
    shows similar words keep the activation): the scripts below start with that reply when it does."""
    from autointerp.agent.compose import verdict

    return verdict(findings) == "category"


@pytest.fixture(scope="module")
def peak(findings) -> str:
    """A word the evidence names, so a written explanation using it is not refused."""
    from autointerp.agent.compose import top_words

    return top_words(findings)[0][0]


def seeds(asks: bool) -> list[AIMessage]:
    return [AIMessage("years")] if asks else []


def check_confident(rec) -> None:
    final = events(rec, "final")[0]
    assert rec.confident == (final.validation >= CONFIDENT_FLOOR)
    assert rec.text.startswith("No clear explanation; best guess: ") == (not rec.confident)


def test_the_three_window_sets_are_disjoint_and_the_test_set_is_held_outs(real_wb):
    from autointerp.scoring.split import held_out

    s = open_session(real_wb, NEURON)
    explain_w, val_w, test_w = ({r.window for r in rs} for rs in (s.explain, s.validation, s.test))
    assert explain_w and val_w and test_w
    assert not explain_w & val_w and not explain_w & test_w and not val_w & test_w
    _, test, _ = held_out(s.layer, s.neuron.index, 5, 5, seed=real_wb.settings.seed)
    assert [r.window for r in s.test] == [r.window for r in test], "held-out scores stay comparable"
    top = {r.window for r in s.layer.top(s.neuron.index)}
    assert val_w & top, "validation holds top windows the explainer never reads"
    assert set(s.split.explain_windows) == explain_w


def test_context_edits_keep_quiet_windows_as_counterexamples_that_validation_reads(real_wb):
    """A deletion that silences the window is kept (from an explainer window, never a test one) and
    validation scores on it too, where a candidate naming the peak word alone is wrong."""
    s = open_session(real_wb, NEURON)
    for i in range(len(s.explain)):
        run_context(s, i, counterexample=True)
        if s.counterexamples:
            break
    assert s.counterexamples, "some edit of the top windows silences the neuron"
    kept = s.counterexamples[0]
    source = next(r for r in s.explain if r.window == kept.window)
    assert kept.max_activation <= 0.7 * source.max_activation and len(kept.tokens) < len(source.tokens)
    assert kept.window not in {r.window for r in s.test}
    text, words = f'the word "{source.max_token.strip()}"', [source.max_token.strip()]
    value = s.validate(text, words, "words").validation
    both = score_records(text, words, s.validation + s.counterexamples, s.max_activation, "embedding")
    alone = score_records(text, words, s.validation, s.max_activation, "embedding")
    assert value == round(both.value, 4) and both.n_tokens > alone.n_tokens


def test_the_transcript_names_the_counterexample_and_contrast_windows_validation_reads(real_wb):
    from autointerp.agent.agentic import gather
    from autointerp.agent.transcript import Transcript

    s = open_session(real_wb, NEURON)
    t = Transcript(s.settings, s.target.name, s.neuron, "agent")
    gather(s, t)
    said = [e.content for e in t.events if e.type == "observation"]
    counter = [x for x in said if "counterexample windows" in x]
    silent = [x for x in said if "stays silent" in x]
    assert len(counter) == (1 if s.counterexamples else 0) and len(silent) == (1 if s.contrasts else 0)
    assert len(said) == len(counter) + len(silent)
    for r in s.counterexamples:
        assert f"window {r.window} " in counter[0]
    for found in s.findings.silent:
        assert f'"{found.phrase}" (window {found.window})' in silent[0]


def test_native_loop_tool_calls_errors_refusals_and_submit(real_wb, asks_category, peak):
    llm = scripted(
        *seeds(asks_category),
        AIMessage("", tool_calls=[call("top_examples", 1, n=3), call("probe", 2, texts=["In 1990 the", "A cat."])]),
        AIMessage("", invalid_tool_calls=[{"name": "score", "args": "{not json", "id": "bad-1", "error": "bad JSON",
                                           "type": "invalid_tool_call"}]),
        AIMessage("", tool_calls=[call("context", 3, example=9999), call("no_such_tool", 4),
                                  call("probe", 5, texts=[])]),
        AIMessage("thinking"),  # no call: nudged
        AIMessage("", tool_calls=[call("score", 6, explanation='the "[token] above" in school practices')]),
        AIMessage("", tool_calls=[call("score", 7, explanation="school practices during World War II")]),
        AIMessage("", tool_calls=[call("submit", 8, explanation=f"The neuron fires on '{peak}' in any text",
                                       triggers=[peak], kind="input")]),
    )
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=10))
    chat = llm.chat
    assert not chat.script, "every scripted reply was used"
    assert rec.steps == 7 and rec.method == "agent" and rec.explainer == "scripted"
    assert [e.stop for e in events(rec, "final")] == ["submit"]
    observations = [str(m.content) for m in chat.seen[-1] if isinstance(m, ToolMessage)]
    assert any(o.startswith("error: malformed call to 'score'") for o in observations)
    assert any("example must be in 0.." in o for o in observations)
    assert any("unknown tool 'no_such_tool'" in o for o in observations)
    assert any("give at least one non-empty text" in o for o in observations)
    assert any("copies the placeholder '[token]'" in o for o in observations)
    assert any("names no token or word from the evidence" in o for o in observations)
    assert len(rec.evidence.probes) == 2
    results = events(rec, "tool_result")
    loop_results = [e for e in results if e.step > 0]
    assert sum(not e.ok for e in loop_results) == 6
    assert {e.name for e in results if e.step == 0} >= {"substitute", "context", "effects"}, \
        "the rules' experiments run before the loop"
    assert any(e.detail for e in results), "the full result goes to the transcript"
    validated = [e for e in events(rec, "score") if e.split == "validation"]
    sources = {d.source for d in validated}
    assert sources & {"words", "exact"} and "submit" in sources and "score" not in sources, \
        "refused explanations are never scored"
    assert not any("[" in d.text for d in validated)
    (submitted,) = [e for e in loop_results if e.name == "submit"]
    assert submitted.score == next(d.value for d in validated if d.source == "submit"), \
        "the call that scored a candidate carries its score"
    assert all(e.score is None for e in loop_results if e.name != "submit"), "refused and unscored calls carry none"
    final = events(rec, "final")[0]
    assert final.validation == max(d.value for d in validated) or \
        max(d.value for d in validated) - final.validation <= 0.02
    check_confident(rec)
    s = rec.scores[0]
    held = set(s.split.score_top_windows) | set(s.split.score_random_windows)
    assert held and not held & set(s.split.explain_windows) and s.n_examples == 10
    assert rec.prompt_tokens > 0 and rec.cost_usd is None and Path(rec.transcript).exists()


def test_old_tool_results_are_cut_to_one_line_in_what_the_model_is_sent(real_wb, asks_category, peak):
    llm = scripted(*seeds(asks_category), AIMessage("", tool_calls=[call("top_examples", 1, n=6)]),
                   AIMessage("", tool_calls=[call("top_examples", 2, start=1, n=6)]),
                   AIMessage("", tool_calls=[call("submit", 3, explanation=f"the word {peak}", triggers=[peak])]))
    explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=3))
    last = [str(m.content) for m in llm.chat.seen[-1] if isinstance(m, ToolMessage)]
    assert len(last) == 2 and last[0].endswith(" ...") and "\n" not in last[0], "the older result: one line"
    assert last[1].count("\n") == 5, "the latest result in full: six rows"
    assert len(llm.chat.seen[-1][1].content) < 2000, "the task prompt is compact"


def test_json_fallback_runs_the_same_tools(real_wb, asks_category, peak):
    llm = scripted(
        *seeds(asks_category),
        AIMessage("I would like to look at examples"),  # not JSON: sent back, loop goes on
        AIMessage('{"tool": "probe", "args": {"texts": ["In 1990 the war", "The cat sat."]}}'),
        AIMessage('{"tool": "probe", "args": {"texts": ["In 1990 the war", "The cat sat."]}}'),  # repeated
        AIMessage('Sure. {"tool": "submit", "args": {"explanation": "the word %s", "triggers": ["%s"]}}' % (peak, peak)),
        native=False,
    )
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=6))
    assert rec.steps == 4 and [e.stop for e in events(rec, "final")] == ["submit"]
    sent = [str(m.content) for m in llm.chat.seen[-1]]
    assert any("Not a usable step" in t for t in sent)
    assert any("already made exactly this call" in t for t in sent)
    assert '"tool": "<name>"' in sent[0], "the fallback's system prompt describes the JSON step"
    assert len(rec.evidence.probes) == 2


def test_stops_at_max_steps_target_score_and_budget_with_the_best_so_far(real_wb, asks_category):
    looping = [AIMessage("", tool_calls=[call("top_examples", i, start=i)]) for i in range(3)]
    rec = explain(real_wb, NEURON, llm=scripted(*seeds(asks_category), *looping), config=AgentConfig(max_steps=3))
    assert rec.steps == 3 and events(rec, "final")[0].stop == "max-steps"
    best = max((e for e in events(rec, "score") if e.split == "validation"), key=lambda e: e.value)
    assert rec.scores[0].explanation == best.text
    rec = explain(real_wb, NEURON, llm=scripted(*seeds(asks_category)), config=AgentConfig(max_steps=5, target_score=-1.0))
    assert rec.steps == 0 and events(rec, "final")[0].stop == "target-score", \
        "a composed candidate that clears the target ends the run before any step"
    rec = explain(real_wb, NEURON, llm=scripted(*seeds(asks_category), looping[0]),
                  config=AgentConfig(max_steps=5, max_tokens=1))
    assert rec.steps == 1 and events(rec, "final")[0].stop == "budget"


def test_idle_steps_in_a_row_stop_the_loop_as_stalled(real_wb, asks_category):
    """A model that keeps repeating itself is stopped: the script has no reply for a step after the stall."""
    step = '{"tool": "top_examples", "args": {"n": 3}}'
    llm = scripted(*seeds(asks_category), AIMessage(step), AIMessage(step), AIMessage("no JSON here"),
                   AIMessage(step), native=False)
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=8))
    assert STALL_STEPS == 3 and not llm.chat.script
    assert rec.steps == 4 and events(rec, "final")[0].stop == "stalled"
    llm = scripted(*seeds(asks_category), *[AIMessage("thinking") for _ in range(STALL_STEPS)])
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=8))
    assert rec.steps == STALL_STEPS and events(rec, "final")[0].stop == "stalled"
    check_confident(rec)


def test_one_shot_and_heuristic(real_wb):
    rec = explain(real_wb, NEURON, llm=scripted(AIMessage("Explanation: the years in dates.\nMore text")),
                  method="one-shot")
    assert rec.text.endswith("the years in dates.") and rec.method == "one-shot" and rec.prompt_version == "one_shot_v2"
    check_confident(rec)
    with pytest.raises(ExplanationFailed, match="placeholder"):
        explain(real_wb, NEURON, llm=scripted(AIMessage('The neuron fires on "the [token] above"')), method="one-shot")
    rec = explain(real_wb, NEURON, method="heuristic")
    assert '"' in rec.text and rec.triggers and rec.explainer == "none"
    check_confident(rec)


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

    from autointerp.agent.compose import PLACEHOLDER

    r = run(real_settings, "explain", NEURON, "--llm", "local", "--max-steps", "3", "--json", timeout=900)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    stored = open_store(real_settings).latest("smollm2-135m", NEURON)
    assert stored is not None and stored.text == printed["text"] and stored.explainer == "local"
    assert stored.steps <= 3 and stored.prompt_tokens > 0 and stored.completion_tokens > 0
    assert not PLACEHOLDER.search(stored.text), stored.text
    s = stored.scores[0]
    assert s.method == "simulation" and s.n_examples == 10
    assert not (set(s.split.score_top_windows) | set(s.split.score_random_windows)) & set(s.split.explain_windows)
    events_ = load(Path(stored.transcript))
    final = next(e for e in events_ if e.type == "final")
    assert printed["confident"] == stored.confident == (final.validation >= CONFIDENT_FLOOR)
    assert stored.text.startswith("No clear explanation") == (not stored.confident)
    scored = [e.text for e in events_ if e.type == "score"]
    assert scored and not any(PLACEHOLDER.search(t) for t in scored), "nothing with a placeholder is scored"
    llm_events = [e for e in events_ if e.type == "llm"]
    assert stored.steps <= len(llm_events) <= 1 + stored.steps, "at most a category name, then one reply per step"
    assert stored.prompt_tokens + stored.completion_tokens <= 8000
    shown = run(real_settings, "transcript", NEURON)
    assert shown.returncode == 0 and "final:" in shown.stdout and "[1] llm:" in shown.stdout


def _tool_call(i: int, name: str, **args) -> dict:
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def test_native_tool_calls_over_the_openai_protocol(real_wb, openai_server, asks_category):
    """ChatOpenAI against a real HTTP server: tools are sent as OpenAI functions, calls come back,
    results go back as tool messages, and `submit` ends the loop."""
    from autointerp.llm import make_llm

    openai_server.replies = [
        *([(200, "years")] if asks_category else []),
        (200, {"content": None, "tool_calls": [_tool_call(1, "probe", texts=["In 1990 the war", "A cat."])]}),
        (200, {"content": None, "tool_calls": [_tool_call(2, "probe", texts="not a list")]}),
        (200, {"content": None, "tool_calls": [_tool_call(3, "submit", explanation="years such as 1990")]}),
    ]
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", real_wb.settings)
    rec = explain(real_wb, NEURON, llm=llm, config=AgentConfig(max_steps=5))
    assert rec.steps == 3 and events(rec, "final")[0].stop == "submit"
    loop_requests = openai_server.requests[int(asks_category):]
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
    from autointerp.agent.baselines import category
    from autointerp.llm import make_llm

    name = category(words, make_llm("local", real_settings))
    assert name is not None and expected in name.lower(), name

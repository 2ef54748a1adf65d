"""Transcripts hold typed events: saved as JSON lines, loaded back as the same typed events (old
transcripts, whose fields sat under `data`, too), and read by the progress line, the printer and the
web app's step view."""

from __future__ import annotations

import json

import pytest

from autointerp import events as ev
from autointerp.agent.transcript import Transcript, load, render_event
from autointerp.errors import InputError
from autointerp.progress import ExplainStatus
from autointerp.records import UnitId
from autointerp.web.views import event_view

RUN = [
    ev.Start(neuron="L3.N74", model="smollm2-135m", method="agent", explainer="local", simulator="embedding",
             config={"max_steps": 4, "target_score": 0.9}, split={"seed": 0}),
    ev.Prompt(role="user", content="name what the words share"),
    ev.Reply(content="years"),
    ev.Score(split="validation", text="the tokens \"1990\"", value=0.21, source="heuristic"),
    ev.Prompt(role="system", content="you explain neurons"),
    ev.Reply(step=1, content="", tool_calls=[ev.Call(name="score", args={"explanation": "years"}, id="c1")]),
    ev.ToolCall(step=1, name="score", args={"explanation": "years"}),
    # the text says 0.99: the line must show the typed score, never a number read from the text
    ev.ToolResult(step=1, name="score", result="score 0.990; best 0.990: 'years'", score=0.4,
                  detail={"rows": [1, 2]}),
    ev.ToolResult(step=2, name=None, result="error: malformed call to None", ok=False),
    ev.Observation(step=2, content="Call a tool to test your hypothesis"),
    ev.Score(step=2, split="test", text="years", value=None, n_tokens=640),
    ev.Final(step=2, stop="max-steps", validation=0.4, source="score", confident=False,
             record={"text": "No clear explanation; best guess: years"}),
    ev.Error(step=2, error="LLMError: gone"),
]


def test_a_transcript_round_trips_through_json_into_typed_events(fresh_settings):
    seen: list[ev.Event] = []
    t = Transcript(fresh_settings, "smollm2-135m", UnitId.parse("L3.N74"), "agent", seen.append)
    for e in RUN:
        t.add(e)
    path = t.save()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [x["type"] for x in lines] == [e.type for e in RUN] and "data" not in lines[0]
    loaded = load(path)
    assert loaded == t.events == seen == RUN
    assert [type(e) for e in loaded] == [type(e) for e in RUN]
    assert loaded[5].tool_calls[0].id == "c1" and loaded[7].score == 0.4 and loaded[10].value is None

    status = ExplainStatus("L3.N74")
    for e in loaded[:8]:
        status(e)
    assert "best +0.400" in status.line() and "0.990" not in status.line()
    for e in loaded[8:11]:
        status(e)
    assert "held-out score undefined" in status.line()


def test_an_old_transcript_loads_into_typed_events(tmp_path):
    """As the versions before typed events wrote them: every field under `data`; an older one yet
    had no `detail` on a tool result, no `source` on the final event."""
    old = [
        {"type": "start", "step": 0, "at": "2026-01-01T00:00:00Z",
         "data": {"neuron": "L3.N74", "model": "smollm2-135m", "method": "agent", "explainer": "local",
                  "simulator": "embedding", "config": {"max_steps": 8}, "split": {}}},
        {"type": "llm", "step": 1, "data": {"content": "", "tool_calls": [{"name": "score", "args": {}, "id": "x"}]}},
        {"type": "tool_result", "step": 1, "data": {"name": "score", "result": "score 0.500; best 0.500: 'a'",
                                                     "ok": True}},
        {"type": "score", "step": 1, "data": {"split": "test", "text": "a", "value": 0.25, "n_tokens": 64}},
        {"type": "final", "step": 1, "data": {"stop": "submit", "validation": 0.5, "record": {"text": "a"}}},
    ]
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in old))
    start, reply, result, score, final = load(path)
    assert isinstance(start, ev.Start) and start.max_steps == 8 and start.at.year == 2026
    assert isinstance(reply, ev.Reply) and reply.tool_calls == [ev.Call(name="score", args={}, id="x")]
    assert isinstance(result, ev.ToolResult) and result.detail is None and result.score is None
    assert isinstance(score, ev.Score) and score.value == 0.25 and score.n_tokens == 64
    assert isinstance(final, ev.Final) and final.stop == "submit" and final.source is None

    assert render_event(reply) == '[1] llm:   -> score({})' and render_event(result).startswith("[1] score -> score 0.5")
    assert render_event(score).startswith('[1] score: {"split": "test", "text": "a", "value": 0.25')
    views = [event_view(e) for e in (start, reply, result, score, final)]
    assert [v["title"] for v in views] == ["start: agent by local, simulator embedding", "LLM reply: calls score",
                                           "score → result", "score (test): +0.2500",
                                           "final: stopped (submit), validation +0.5000"]
    assert views[-1]["body"] == "a" and views[0]["at"].startswith("2026-01-01")


@pytest.mark.parametrize("line", ['{"type": "score", "step": 0, "data": {"value": 0.5}}',  # no split
                                  '{"type": "thought", "step": 0, "data": {}}',
                                  '{"type": "prompt", "role": "assistant", "content": "x"}'])
def test_an_event_of_the_wrong_shape_is_a_damaged_transcript(tmp_path, line):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "start", "step": 0, "data": {}}\n' + line + "\n")
    with pytest.raises(InputError, match="damaged or truncated at line 2"):
        load(path)

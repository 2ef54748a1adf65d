"""The live explain status line, fed the events of a run as `explain` emits them."""

import io

from rich.console import Console

from autointerp import events as ev
from autointerp.llm import Usage
from autointerp.progress import ExplainStatus, live


def _run(status) -> list[str]:
    """An agent run's events (the shapes explain and the loop add), with the line after each."""
    meter = status.usage
    events = [
        ev.Start(method="agent", phase="seeding: heuristic, category, one-shot", config={"max_steps": 4}),
        ev.Prompt(role="user", content="..."),
        ev.Reply(content="animals"),
        ev.Score(split="validation", text="the tokens", value=0.21),
        ev.Score(split="validation", text="one-shot", value=0.05),
        ev.Prompt(role="system", content="..."),
        ev.Reply(step=1, content='{"tool": "probe"}'),
        ev.ToolCall(step=1, name="probe"),
        ev.ToolResult(step=1, name="probe", result="max 3.1"),
        ev.ToolCall(step=2, name="score"),
        ev.ToolResult(step=2, name="score", result="score 0.345; best 0.345: 'x'", score=0.345),
        ev.ToolResult(step=4, name="probe", result="score 9.0 words"),
        ev.Score(step=4, split="test", value=0.123),
        ev.Final(step=4, stop="max-steps"),
    ]
    lines = []
    for e in events:
        meter.add(Usage.of(100, 10, None, 40))
        status(e)
        lines.append(status.line())
    return lines


def test_status_line_follows_the_run():
    lines = _run(ExplainStatus("L6.N74", Usage()))
    assert lines[0].startswith("L6.N74 · seeding") and "110 tokens (50 run)" in lines[0]
    assert "best +0.210" in lines[4]  # the best seed, not the last one
    assert "step 1/4 · running probe" in lines[7] and "step 2/4 · waiting for the LLM" in lines[8]
    assert "step 2/4 · running score" in lines[9] and "step 3/4" in lines[10] and "best +0.345" in lines[10]
    assert "finishing" in lines[11] and "best +0.345" in lines[11]  # a tool's text is never read for a score
    assert "held-out score +0.123" in lines[12] and "done (max-steps)" in lines[13]
    assert "1,540 tokens (700 run)" in lines[13]


def test_live_prints_a_line_per_step_to_a_log_and_nothing_without_a_console():
    buf = io.StringIO()
    status = ExplainStatus("L6.N74", Usage())
    with live(status, Console(file=buf, force_terminal=False, width=200)) as on_event:
        on_event(ev.Start(method="agent", config={"max_steps": 4}))
        on_event(ev.ToolResult(step=1, name="probe", result=""))
        on_event(ev.Final(step=1, stop="submit"))
    printed = buf.getvalue().splitlines()
    assert len(printed) == 2 and printed[0].startswith("L6.N74 · step 2/4 · waiting for the LLM")
    assert printed[1].startswith("L6.N74 · step 1/4 · done (submit)")
    with live(ExplainStatus("L6.N74"), None) as on_event:
        on_event(ev.Start(method="one-shot", config={"max_steps": 4}))


def test_the_first_phase_says_what_each_method_does():
    """The phase comes from the explainer (its `first_phase`, else whether it needs an LLM), carried
    by the start event: no method name is compared."""
    from autointerp.agent import get_explainer
    from autointerp.agent.protocol import first_phase

    def first(method: str) -> str:
        status = ExplainStatus("L6.N74")
        status(ev.Start(method=method, phase=first_phase(get_explainer(method)), config={"max_steps": 4}))
        return status.line()

    assert "asking the LLM" in first("one-shot") and "seeding" in first("agent")
    assert "reading the top tokens" in first("heuristic") and "LLM" not in first("heuristic")
    old = ExplainStatus("L6.N74")
    old(ev.Start(method="agent", config={"max_steps": 4}))  # a transcript from before phases were carried
    assert "asking the LLM" in old.line()

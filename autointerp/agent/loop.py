"""The bounded agent loop. Native tool calling where the chat model has it, else a JSON-step
fallback that runs the same tools. Ends on `submit`, the target score, the step limit, the token
budget (also when the next step would not fit in it), or a stall (STALL_STEPS steps in a row that
ran nothing new); tool failures, refused explanations and malformed steps go back to the model as
observations. Older tool results are cut to their first line in the history: the model keeps what
it found, not every row of it, and each step's prompt stays short."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from autointerp import events as ev
from autointerp.agent.jsonstep import StepError, parse_step, wrong_at
from autointerp.agent.session import Session
from autointerp.agent.transcript import Transcript
from autointerp.llm import LLM
from autointerp.prompts import render

PROMPT_VERSION = 2
MAX_OBSERVATION = 800
KEPT_RESULTS = 1  # tool results shown in full: the latest; older ones are cut to their first line
StopReason = Literal["submit", "target-score", "max-steps", "budget", "stalled"]
# Steps in a row with no new tool run (a repeated call, an unparsable reply, no call at all) before
# the loop gives up: of 113 local-LLM agent transcripts, 81 had 3 such steps in a row and none of them
# ran a new call afterwards (after 2 in a row: 2 of 104 did).
STALL_STEPS = 3
# How every local reply starts: far more of a tiny model's steps then parse. (Substitution and
# context edits run before the loop, so an idle model is no longer begun with them.)
JSON_START = '{"tool": "'


class AgentConfig(BaseModel):
    max_steps: int = Field(default=8, ge=1, le=100)
    target_score: float = Field(default=0.9, le=1.0)
    max_tokens: int = Field(default=60_000, ge=1, description="explainer LLM token budget (prompt + completion)")


def run_tool(tools: dict[str, BaseTool], name: str, args: dict) -> tuple[str, bool]:
    """(observation, ok). Any failure becomes an observation the model can act on."""
    tool = tools.get(name)
    if tool is None:
        return f"error: unknown tool {name!r}; tools: {', '.join(tools)}", False
    try:
        return str(tool.invoke(args))[:MAX_OBSERVATION], True
    except Exception as e:  # noqa: BLE001 - the model gets the failure, the loop goes on
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"error: {name} failed: {msg[:300]}", False


def _ran(session: Session, transcript: Transcript, step: int, tools: dict[str, BaseTool], name: str,
         args: dict) -> tuple[str, bool]:
    """Run one call; the transcript gets the compact observation, the tool's full result and the
    validation score of the candidate it scored, if any."""
    session.detail = None
    before = len(session.candidates)
    obs, ok = run_tool(tools, name, args)
    scored = session.candidates[-1].validation if len(session.candidates) > before else None
    transcript.add(ev.ToolResult(step=step, name=name, result=obs, ok=ok, detail=session.detail, score=scored))
    return obs, ok


def _first_line(text: str) -> str:
    head = text.split("\n", 1)
    return head[0][:120] + (" ..." if len(head) > 1 or len(head[0]) > 120 else "")


def _shorten_old(messages: list[BaseMessage], results: list[int]) -> None:
    """Replace every tool result message (indices `results`) but the latest KEPT_RESULTS by a copy
    cut to its first line; the message objects already sent are left as they were."""
    for i in results[:-KEPT_RESULTS] if KEPT_RESULTS else results:
        short = _first_line(str(messages[i].content))
        if messages[i].content != short:
            messages[i] = messages[i].model_copy(update={"content": short})


def _tool_lines(tools: list[BaseTool]) -> str:
    return "\n".join(f"- {t.name}({', '.join(t.args)}): {t.description.splitlines()[0]}" for t in tools)


def run_loop(session: Session, llm: LLM, tools: list[BaseTool], task: str, transcript: Transcript,
             config: AgentConfig) -> tuple[StopReason, int]:
    """(why it stopped, steps taken). The session keeps every scored candidate and meters the tokens
    (the seeds' calls before the loop count against the budget too)."""
    by_name = {t.name: t for t in tools}
    native = llm.capabilities.tool_calls
    system = render("agent_system", PROMPT_VERSION, neuron=session.neuron, model=session.target.name)
    if not native:
        system += "\n\n" + render("agent_json", PROMPT_VERSION, tools=_tool_lines(tools))
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(task)]
    transcript.add(ev.Prompt(role="system", content=system))
    transcript.add(ev.Prompt(role="user", content=task))
    done: list[tuple[str, dict]] = []
    idle, last = 0, 0
    results: list[int] = []  # where the tool result messages are, oldest first
    for step in range(1, config.max_steps + 1):
        if session.usage.tokens >= config.max_tokens or session.usage.tokens + last > config.max_tokens:
            # spent, or the next step (which costs at least what the last did) would not fit
            return "budget", step - 1
        spent = session.usage.tokens
        if native:
            ran = _native_step(session, llm, tools, by_name, messages, transcript, step, results)
        else:
            ran = _json_step(session, llm, by_name, messages, transcript, step, done, results)
        last = session.usage.tokens - spent
        _shorten_old(messages, results)
        idle = 0 if ran else idle + 1
        if idle >= STALL_STEPS:
            transcript.add(ev.Observation(step=step, content=f"stopped: {idle} steps in a row ran no new tool call"))
            return "stalled", step
        if session.submitted is not None:
            return "submit", step
        best = session.best
        if best is not None and best.validation >= config.target_score:
            return "target-score", step
    return "max-steps", config.max_steps


def _native_step(session, llm, tools, by_name, messages, transcript, step, results: list[int]) -> bool:
    """One reply and its tool calls; False when it made none."""
    reply = llm.invoke(messages, tools=tools)
    session.usage.add(reply.usage)
    msg = reply.message
    messages.append(msg)
    calls = [ev.Call(name=c["name"], args=c["args"], id=c["id"]) for c in msg.tool_calls]
    transcript.add(ev.Reply(step=step, content=str(msg.content), tool_calls=calls))
    for bad in msg.invalid_tool_calls:
        obs = f"error: malformed call to {bad.get('name')!r}: {bad.get('error') or 'arguments are not valid JSON'}"
        messages.append(ToolMessage(obs, tool_call_id=bad.get("id") or "invalid"))
        transcript.add(ev.ToolResult(step=step, name=bad.get("name"), result=obs, ok=False))
    for call in calls:
        transcript.add(ev.ToolCall(step=step, name=call.name, args=call.args))
        obs, _ = _ran(session, transcript, step, by_name, call.name, call.args)
        messages.append(ToolMessage(obs, tool_call_id=call.id))
        results.append(len(messages) - 1)
    if not calls and not msg.invalid_tool_calls:
        nudge = "Call a tool to test your hypothesis, or `submit` your explanation."
        messages.append(HumanMessage(nudge))
        transcript.add(ev.Observation(step=step, content=nudge))
    return bool(calls)


def _json_step(session, llm, by_name, messages, transcript, step, done: list[tuple[str, dict]],
               results: list[int]) -> bool:
    """One JSON step; False when it ran no new tool call (unparsable, or a repeat)."""
    spec = {name: frozenset(tool.args) for name, tool in by_name.items()}
    hints = {"prefill": JSON_START, "max_tokens": 160, "stop_strings": ["}}"], "stop_on_repeat": True,
             "stop_when": lambda text: wrong_at(text, spec) is not None} if llm.capabilities.prefill else {}
    reply = llm.invoke(messages, **hints)
    session.usage.add(reply.usage)
    text = reply.text
    if (cut := wrong_at(text, spec)) is not None:  # keep the call it began, up to where it went wrong
        text = text[:cut]
    messages.append(AIMessage(text))
    transcript.add(ev.Reply(step=step, content=text))
    try:
        name, args = parse_step(text)
    except StepError as e:
        obs = render("agent_json_retry", PROMPT_VERSION, problem=str(e))
        messages.append(HumanMessage(obs))
        transcript.add(ev.Observation(step=step, content=obs))
        return False
    transcript.add(ev.ToolCall(step=step, name=name, args=args))
    ran = (name, args) not in done
    if not ran:
        obs = "error: you already made exactly this call; change the arguments or use another tool"
        transcript.add(ev.ToolResult(step=step, name=name, result=obs, ok=False))
    else:
        obs, _ = _ran(session, transcript, step, by_name, name, args)
        done.append((name, args))
    messages.append(HumanMessage(f"{name}:\n{obs}"))
    results.append(len(messages) - 1)
    return ran

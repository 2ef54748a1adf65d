"""The baselines: the seed paper's heuristic (the neuron's most frequent peak tokens, no LLM) and the
OpenAI-style one-shot explainer (top examples once, no tools); and `category`, the few-shot line
completion the agent uses to name what a word list has in common."""

from __future__ import annotations

import re

from langchain_core.messages import HumanMessage

from autointerp import events as ev
from autointerp.agent.compose import placeholder
from autointerp.agent.protocol import ExplainContext, ExplanationFailed, Proposal
from autointerp.agent.session import Session
from autointerp.agent.tools import marked
from autointerp.agent.transcript import Transcript
from autointerp.llm import LLM, Usage
from autointerp.prompts import render

ONE_SHOT_VERSION = 2
CATEGORY_VERSION = 1
_NOT_A_CATEGORY = frozenset("word words token tokens letter letters the a an and of to".split())


def _examples(session: Session, n: int = 8) -> str:
    return "\n".join(f"{session.normalised(r.max_activation)}: {marked(r)}" for r in session.explain[:n])


def heuristic(session: Session, n: int = 5) -> tuple[str, list[str]]:
    """The seed paper's explanation: the neuron's most frequent unique peak tokens."""
    words = list(dict.fromkeys(t.token.strip() for t in session.top_tokens(20) if t.token.strip()))[:n]
    if not words:
        raise ExplanationFailed(f"{session.neuron} has no top tokens to list")
    return "the tokens " + ", ".join(f'"{w}"' for w in words), words


def clean_reply(text: str) -> str:
    """The first sentence-bearing line of a reply, without labels or quotes."""
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*#>]+\s*)?(?:explanation|answer|neuron)\s*:\s*", "", line, flags=re.I).strip(" \"'`*")
        line = re.split(r"(?<=\w\w)[.!?]\s", line)[0]
        if len(re.findall(r"[A-Za-z]", line)) >= 3:
            return line[:300]
    raise ExplanationFailed(f"the explainer's reply holds no explanation: {text[:80]!r}")


def one_shot(session: Session, llm: LLM, transcript: Transcript) -> str:
    """The OpenAI-style baseline; a reply that copies a prompt placeholder is no explanation."""
    prompt = render("one_shot", ONE_SHOT_VERSION, examples=_examples(session))
    transcript.add(ev.Prompt(role="user", content=prompt))
    hints = {"prefill": "The neuron fires on", "repetition_penalty": 1.3, "max_tokens": 60} \
        if llm.capabilities.prefill else {}
    reply = llm.invoke([HumanMessage(prompt)], **hints)
    session.usage.add(reply.usage)
    transcript.add(ev.Reply(content=reply.text))
    text = clean_reply(reply.text)
    if why := placeholder(text):
        raise ExplanationFailed(f"the explainer's reply was refused: {why}")
    return text


def category(words: list[str], llm: LLM, transcript: Transcript | None = None, usage: Usage | None = None) -> str | None:
    """What the words have in common, by few-shot line completion (even the 135M local model
    names animals, colours or months this way); None when the reply is not a short category name."""
    line = ", ".join(words)
    prompt = render("category", CATEGORY_VERSION, words=line)
    instruction, shots = prompt.rstrip("\n").split("\n", 1)
    if transcript is not None:
        transcript.add(ev.Prompt(role="user", content=prompt))
    if llm.capabilities.prefill:
        got = llm.invoke([HumanMessage(instruction)], prefill=shots, max_tokens=8, stop_strings=["\n"])
    else:
        got = llm.invoke([HumanMessage(prompt)])
    if usage is not None:
        usage.add(got.usage)
    reply = got.text
    if transcript is not None:
        transcript.add(ev.Reply(content=reply))
    found = reply.rsplit(line + ":", 1)[-1].strip().split("\n")[0].strip(" .\"'`*")
    ok = re.fullmatch(r"[A-Za-z][A-Za-z '-]{1,39}", found) and len(found.split()) <= 4
    return found if ok and found.lower() not in _NOT_A_CATEGORY else None


class HeuristicExplainer:
    """The seed paper's explanation: the neuron's most frequent unique peak tokens."""

    name = "heuristic"
    needs_llm = False
    prompt_version = "heuristic_v1"
    first_phase = "reading the top tokens"  # it asks no LLM

    def explain(self, ctx: ExplainContext) -> Proposal:
        text, words = heuristic(ctx.session)
        return Proposal(ctx.session.validate(text, words, "heuristic"))


class OneShotExplainer:
    """The OpenAI-style baseline: the top explain windows once, one reply, no tools."""

    name = "one-shot"
    needs_llm = True
    prompt_version = f"one_shot_v{ONE_SHOT_VERSION}"

    def explain(self, ctx: ExplainContext) -> Proposal:
        assert ctx.llm is not None
        return Proposal(ctx.session.validate(one_shot(ctx.session, ctx.llm, ctx.transcript), [], "one-shot"))

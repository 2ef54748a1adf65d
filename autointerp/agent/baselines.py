"""The baselines: the seed paper's heuristic (the neuron's most frequent peak tokens, no LLM) and the
OpenAI-style one-shot explainer (top examples once, no tools); and `category`, the few-shot line
completion the agent uses to name what a word list has in common."""

from __future__ import annotations

import re

import numpy as np
from langchain_core.messages import HumanMessage

from autointerp import events as ev
from autointerp.agent.compose import placeholder
from autointerp.agent.protocol import ExplainContext, ExplanationFailed, Proposal
from autointerp.agent.session import Session
from autointerp.agent.tools import marked
from autointerp.agent.transcript import Transcript
from autointerp.embeddings import embed_cached
from autointerp.llm import LLM, Usage
from autointerp.prompts import render
from autointerp.tools.words import ORDINARY_WORDS

ONE_SHOT_VERSION = 2
CATEGORY_VERSION = 1
_NOT_A_CATEGORY = frozenset("word words token tokens letter letters the a an and of to".split())
# A category name must fit at least NAME_FIT of the words: each counts when it is closer to the name
# (MiniLM cosine) than NAME_QUANTILE of ordinary words are. Named planted word lists fit 0.5-1.0 of
# their words ("music" for "Durrës", "organs", "music", "drum", "horned", "percussion": 0.5); the
# names the local model gave real neurons' unrelated peak words mostly fit none ("animals" for
# "Head", "Aruba", "signs", "crew": 0.0; evals/README.md, "Category names").
NAME_FIT = 0.5
NAME_QUANTILE = 0.95


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
    if not ok or found.lower() in _NOT_A_CATEGORY:
        return None
    if (fit := name_fit(found, words)) < NAME_FIT:
        if transcript is not None:
            transcript.add(ev.Observation(content=f'the name "{found}" fits {fit:.0%} of the words (each closer to it '
                                          f"than {NAME_QUANTILE:.0%} of ordinary words): left unnamed"))
        return None
    return found


def name_fit(name: str, words: list[str]) -> float:
    """The share of `words` closer to `name` (MiniLM cosine) than NAME_QUANTILE of ordinary words
    are: how well a category name fits the words it is meant to gather. The local model names
    anything it is asked to, so a list of unrelated peak words gets a category too ("sports" for
    "giving", "of", "threw", "beat"), which a reader would take as a finding."""
    if not words:
        return 0.0
    vecs = embed_cached([name, *words, *ORDINARY_WORDS])
    sims = vecs[1:] @ vecs[0]
    floor = float(np.quantile(sims[len(words):], NAME_QUANTILE))
    return float(np.mean(sims[: len(words)] > floor))


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

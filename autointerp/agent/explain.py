"""`explain`: one neuron, one explainer (agent, one-shot or the seed-style heuristic), one record
whose headline score comes from held-out windows no tool ever saw."""

from __future__ import annotations

import re
from collections.abc import Callable

from langchain_core.messages import HumanMessage

from autointerp.agent.loop import PROMPT_VERSION, AgentConfig, StopReason, run_loop
from autointerp.agent.session import Candidate, Session, open_session
from autointerp.agent.tools import marked, make_tools
from autointerp.agent.transcript import Event, Transcript
from autointerp.errors import AutointerpError
from autointerp.llm import LLM, LLMError, Usage, make_llm
from autointerp.prompts import render
from autointerp.records import ExplainMethod, Explanation, NeuronId, SimulatorName
from autointerp.tools import effects as effects_mod
from autointerp.workbench import Workbench

ONE_SHOT_VERSION = 1
CATEGORY_VERSION = 1
PROMPT_VERSIONS: dict[str, str] = {"agent": f"agent_v{PROMPT_VERSION}+category_v{CATEGORY_VERSION}",
                                   "one-shot": f"one_shot_v{ONE_SHOT_VERSION}", "heuristic": "heuristic_v1"}
# A category name must predict the neuron by itself before it labels the token list: its own validation
# score at least NAME_FLOOR and NAME_SUPPORT of the list's. On the 12 planted concepts the name alone
# scores 0.69-1.31 of the list; the names SmolLM2 invents for real neurons' mixed tokens ("animals"
# for "Champions", "ron") mostly score under 0.4 of it, or under 0.2 outright.
NAME_FLOOR, NAME_SUPPORT = 0.2, 0.6
# A supported named list keeps the heuristic's tokens and adds what they share; when it scores this
# close to the bare list (well inside the spread of a 10-window validation score), the name stays.
NAME_TOLERANCE = 0.02
_NOT_A_CATEGORY = frozenset("word words token tokens letter letters the a an and of to".split())


class ExplanationFailed(LLMError):
    """The explainer produced nothing usable as an explanation."""


def _examples(session: Session, n: int = 10) -> str:
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
    prompt = render("one_shot", ONE_SHOT_VERSION, examples=_examples(session))
    transcript.add("prompt", role="user", content=prompt)
    hints = {"prefill": "The neuron fires on", "repetition_penalty": 1.3, "max_tokens": 60} \
        if llm.capabilities.prefill else {}
    reply = llm.invoke([HumanMessage(prompt)], **hints)
    session.usage.add(reply.usage)
    transcript.add("llm", content=reply.text)
    return clean_reply(reply.text)


def category(words: list[str], llm: LLM, transcript: Transcript | None = None, usage: Usage | None = None) -> str | None:
    """What the top tokens have in common, by few-shot line completion (even the 135M local model
    names animals, colours or months this way); None when the reply is not a short category name."""
    line = ", ".join(words)
    prompt = render("category", CATEGORY_VERSION, words=line)
    instruction, shots = prompt.rstrip("\n").split("\n", 1)
    if transcript is not None:
        transcript.add("prompt", role="user", content=prompt)
    if llm.capabilities.prefill:
        got = llm.invoke([HumanMessage(instruction)], prefill=shots, max_tokens=8, stop_strings=["\n"])
    else:
        got = llm.invoke([HumanMessage(prompt)])
    if usage is not None:
        usage.add(got.usage)
    reply = got.text
    if transcript is not None:
        transcript.add("llm", content=reply)
    found = reply.rsplit(line + ":", 1)[-1].strip().split("\n")[0].strip(" .\"'`*")
    ok = re.fullmatch(r"[A-Za-z][A-Za-z '-]{1,39}", found) and len(found.split()) <= 4
    return found if ok and found.lower() not in _NOT_A_CATEGORY else None


def _output_side(session: Session) -> str | None:
    """What the neuron promotes, when DLA and mean ablation agree on at least two of their top ten
    tokens; otherwise the evidence does not support an output claim."""
    res = session.effects or effects_mod.effects(session.wb, session.neuron, k=10, contexts=10,
                                                 windows={r.window for r in session.explain})
    session.effects = res
    session.evidence.promoted_tokens = [t.token for t in res.promoted]
    session.evidence.suppressed_tokens = [t.token for t in res.suppressed]
    lost = {t.token.strip().lower() for t in res.ablation_lost}
    agreed = list(dict.fromkeys(t.token.strip() for t in res.promoted if t.token.strip() and t.token.strip().lower() in lost))
    if len(agreed) < 2:
        return None
    return "promotes " + ", ".join(f'"{t}"' for t in agreed[:3]) + " as the next token"


def explain(wb: Workbench, neuron: NeuronId | str, llm: LLM | str | None = None, method: ExplainMethod = "agent",
            config: AgentConfig | None = None, simulator: SimulatorName = "embedding", store=None,
            usage: Usage | None = None, on_event: Callable[[Event], None] | None = None) -> Explanation:
    """Explain one neuron of the workbench's target and return the record (the caller stores it).
    The transcript is saved whatever happens; an explainer that yields nothing raises ExplanationFailed.
    `usage`, when given, is the caller's meter: this run's LLM calls are added to it as they happen,
    so what a failed run spent is known too. `on_event` sees every transcript event as it happens."""
    config = config or AgentConfig()
    llm_obj = None if method == "heuristic" else llm if isinstance(llm, LLM) else make_llm(llm, wb.settings)
    needs_sim_llm = simulator in ("llm", "llm-logprob")
    if needs_sim_llm and llm_obj is None:
        raise AutointerpError(f"simulator {simulator!r} needs an LLM")
    session = open_session(wb, neuron, simulator, llm_obj if needs_sim_llm else None)
    if usage is not None:
        session.usage = usage
    transcript = Transcript(session.settings, session.target.name, session.neuron, method, on_event)
    transcript.add("start", neuron=str(session.neuron), model=session.target.name, method=method,
                   explainer=llm_obj.name if llm_obj else None, simulator=simulator, config=config.model_dump(),
                   split=session.split.model_dump())
    steps, stop = 0, None
    try:
        chosen, steps, stop = _run(method, session, llm_obj, transcript, config, store)
        text, kind = chosen.text, session.kind if chosen is session.submitted else "input"
        if method == "agent":
            output = _output_side(session)
            if output and kind == "input":
                text, kind = f"{text.rstrip('.')}; it {output}", "both"
        score = session.test_score(chosen.text, chosen.triggers)
        transcript.add("score", steps, split="test", text=chosen.text, value=score.value, n_tokens=score.n_tokens)
    except Exception as e:
        transcript.add("error", steps, error=f"{type(e).__name__}: {e}")
        transcript.save()
        raise
    spent = session.usage
    cost = None if spent.cost_usd is None else round(spent.cost_usd, 8)
    record = Explanation(
        neuron=str(session.neuron), model=session.target.name, text=text, kind=kind, triggers=chosen.triggers,
        evidence=session.evidence, scores=[score], method=method, explainer=llm_obj.name if llm_obj else "none",
        prompt_version=PROMPT_VERSIONS[method], steps=steps,
        prompt_tokens=spent.prompt_tokens, completion_tokens=spent.completion_tokens, cost_usd=cost,
        transcript=str(transcript.path))
    transcript.add("final", steps, stop=stop, validation=chosen.validation, record=record.model_dump(mode="json"))
    transcript.save()
    return record


def _run(method: ExplainMethod, session: Session, llm: LLM | None, transcript: Transcript, config: AgentConfig,
         store) -> tuple[Candidate, int, StopReason | None]:
    if method == "heuristic":
        text, words = heuristic(session)
        return session.validate(text, words, "heuristic"), 0, None
    if method == "one-shot":
        return session.validate(one_shot(session, llm, transcript), [], "one-shot"), 0, None
    text, words = heuristic(session)
    seeds = [session.validate(text, words, "heuristic")]
    if name := category(words, llm, transcript, session.usage):
        seeds.append(alone := session.validate(name, [], "category"))
        if alone.validation >= max(NAME_FLOOR, NAME_SUPPORT * seeds[0].validation):
            seeds.append(session.validate(f"{name}: " + ", ".join(f'"{w}"' for w in words), words, "named"))
    try:
        seeds.append(session.validate(one_shot(session, llm, transcript), [], "one-shot"))
    except ExplanationFailed as e:
        transcript.add("observation", content=f"one-shot seed failed: {e}")
    for c in seeds:
        transcript.add("score", split="validation", text=c.text, value=c.validation, source=c.source)
    task = render("agent_task", PROMPT_VERSION, neuron=session.neuron,
                  top_tokens=", ".join(repr(t.token) for t in session.evidence.top_tokens[:8]),
                  examples=_examples(session, 8), max_steps=config.max_steps,
                  candidates="\n".join(f"- {c.validation:.3f}: {c.text}" for c in seeds))
    stop: StopReason
    stop, steps = run_loop(session, llm, make_tools(session, store), task, transcript, config)
    for c in session.candidates[len(seeds):]:
        transcript.add("score", split="validation", text=c.text, value=c.validation, source=c.source)
    return prefer_named(session.best, next((c for c in seeds if c.source == "named"), None)), steps, stop


def prefer_named(best: Candidate, named: Candidate | None) -> Candidate:
    """The named token list instead of the bare one when it scores within NAME_TOLERANCE of it."""
    if best.source == "heuristic" and named is not None and named.validation >= best.validation - NAME_TOLERANCE:
        return named
    return best

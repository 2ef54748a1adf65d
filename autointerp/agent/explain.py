"""`explain`: one neuron, one explainer (agent, one-shot or the seed-style heuristic), one record
whose headline score comes from held-out windows no tool ever saw."""

from __future__ import annotations

import re
from collections.abc import Callable

from langchain_core.messages import HumanMessage

from autointerp.agent import tools as agent_tools
from autointerp.agent.compose import TIE, category_items, choose, compose, placeholder, top_words, verdict
from autointerp.agent.confidence import confident, hedged
from autointerp.agent.loop import PROMPT_VERSION, AgentConfig, StopReason, run_loop
from autointerp.agent.session import Candidate, Session, ToolError, open_session
from autointerp.agent.tools import examples_table, findings_table, make_tools, marked
from autointerp.agent.transcript import Event, Transcript
from autointerp.errors import AutointerpError
from autointerp.llm import LLM, LLMError, Usage, make_llm
from autointerp.prompts import render
from autointerp.records import ExplainMethod, Explanation, NeuronId, SimulatorName
from autointerp.workbench import Workbench

ONE_SHOT_VERSION = 2
CATEGORY_VERSION = 1
PROMPT_VERSIONS: dict[str, str] = {"agent": f"agent_v{PROMPT_VERSION}+category_v{CATEGORY_VERSION}",
                                   "one-shot": f"one_shot_v{ONE_SHOT_VERSION}", "heuristic": "heuristic_v1"}
CONTEXT_EXAMPLES = 3  # context edits run up front, on the first top examples peaking on a peak word
_NOT_A_CATEGORY = frozenset("word words token tokens letter letters the a an and of to".split())


class ExplanationFailed(LLMError):
    """The explainer produced nothing usable as an explanation."""


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
    transcript.add("prompt", role="user", content=prompt)
    hints = {"prefill": "The neuron fires on", "repetition_penalty": 1.3, "max_tokens": 60} \
        if llm.capabilities.prefill else {}
    reply = llm.invoke([HumanMessage(prompt)], **hints)
    session.usage.add(reply.usage)
    transcript.add("llm", content=reply.text)
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
    if session.effects is None:
        agent_tools.run_effects(session)
    agreed = session.findings.output
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
        sure = confident(chosen.validation)
        score = session.test_score(chosen.text, chosen.triggers)
        transcript.add("score", steps, split="test", text=chosen.text, value=score.value, n_tokens=score.n_tokens)
    except Exception as e:
        transcript.add("error", steps, error=f"{type(e).__name__}: {e}")
        transcript.save()
        raise
    spent = session.usage
    cost = None if spent.cost_usd is None else round(spent.cost_usd, 8)
    record = Explanation(
        neuron=str(session.neuron), model=session.target.name, text=text if sure else hedged(text), kind=kind,
        triggers=chosen.triggers, evidence=session.evidence, scores=[score], method=method,
        explainer=llm_obj.name if llm_obj else "none", prompt_version=PROMPT_VERSIONS[method], steps=steps,
        confident=sure, prompt_tokens=spent.prompt_tokens, completion_tokens=spent.completion_tokens, cost_usd=cost,
        transcript=str(transcript.path))
    transcript.add("final", steps, stop=stop, validation=chosen.validation, source=chosen.source, confident=sure,
                   record=record.model_dump(mode="json"))
    transcript.save()
    return record


def _run(method: ExplainMethod, session: Session, llm: LLM | None, transcript: Transcript, config: AgentConfig,
         store) -> tuple[Candidate, int, StopReason | None]:
    if method == "heuristic":
        text, words = heuristic(session)
        return session.validate(text, words, "heuristic"), 0, None
    if method == "one-shot":
        return session.validate(one_shot(session, llm, transcript), [], "one-shot"), 0, None
    return _agent(session, llm, transcript, config, store)


def gather(session: Session, transcript: Transcript) -> None:
    """The experiments every composition rule reads, run up front without the LLM (cheaper than
    steps): peak words, substitution, context edits of the first top examples, effects. Each is
    recorded as a step-0 tool call."""
    agent_tools.record_peaks(session)
    agent_tools.record_silent(session)
    words = {w.lower() for w, _ in top_words(session.findings)}
    on_words = [i for i, p in enumerate(session.findings.peaks) if p.word.lower() in words][:CONTEXT_EXAMPLES]
    runs = [("substitute", {}, lambda: agent_tools.run_substitute(session))]
    runs += [("context", {"example": i}, lambda i=i: agent_tools.run_context(session, i, counterexample=True))
             for i in on_words]
    runs.append(("effects", {}, lambda: agent_tools.run_effects(session)))
    for name, args, run in runs:
        transcript.add("tool_call", name=name, args=args)
        session.detail = None
        try:
            obs, ok = run(), True
        except (ToolError, AutointerpError) as e:
            obs, ok = f"error: {name} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}", False
        transcript.add("tool_result", name=name, result=obs, ok=ok, detail=session.detail)
    if session.counterexamples:
        shown = ", ".join(f"window {r.window} (max {session.normalised(r.max_activation)})"
                          for r in session.counterexamples)
        transcript.add("observation", content=f"validation also scores {len(session.counterexamples)} "
                       f"counterexample windows (a driving context word deleted): {shown}")
    if session.findings.silent:
        shown = ", ".join(f'"{s.phrase}" (window {s.window})' for s in session.findings.silent)
        transcript.add("observation", content=f"validation also scores {len(session.contrasts)} windows cut at a "
                       f"peak word where the neuron stays silent: {shown}")


def _score_drafts(session: Session, name: str | None, transcript: Transcript) -> None:
    """Score each composed candidate not scored yet."""
    done = {(c.text, tuple(c.triggers)) for c in session.candidates}
    for d in compose(session.findings, name):
        if (d.text, tuple(d.triggers)) in done:
            continue
        c = session.validate(d.text, d.triggers, d.rule)
        done.add((c.text, tuple(c.triggers)))
        transcript.add("score", split="validation", text=c.text, value=c.validation, source=c.source)


def _agent(session: Session, llm: LLM, transcript: Transcript, config: AgentConfig,
           store) -> tuple[Candidate, int, StopReason | None]:
    """Evidence first, candidates composed from it and scored, then the LLM's steps (it sees the
    findings and the scores, and may propose better); the best validation candidate wins."""
    gather(session, transcript)
    f = session.findings
    # The token list is always a candidate, so the agent's choice is never one the baseline beats on
    # validation; it loses near-ties (compose.choose) unless it is the best and names whole words only.
    text, words = heuristic(session)
    c = session.validate(text, words, "heuristic")
    transcript.add("score", split="validation", text=c.text, value=c.validation, source=c.source)
    name = category(category_items(f, top_words(f)), llm, transcript, session.usage) if verdict(f) == "category" else None
    _score_drafts(session, name, transcript)
    best = choose(session.candidates, f)
    if best.validation >= config.target_score:
        return best, 0, "target-score"
    task = render("agent_task", PROMPT_VERSION, neuron=session.neuron, findings=findings_table(session),
                  examples=examples_table(session, 0, 5), max_steps=config.max_steps,
                  candidates="\n".join(f"{c.validation:.3f} {c.text}" for c in
                                       sorted(session.candidates, key=lambda c: -c.validation)[:4]))
    names = frozenset({name}) if name else frozenset()
    before = len(session.candidates)
    stop, steps = run_loop(session, llm, make_tools(session, store, names), task, transcript, config)
    for c in session.candidates[before:]:
        transcript.add("score", steps, split="validation", text=c.text, value=c.validation, source=c.source)
    _score_drafts(session, name, transcript)  # the loop's own experiments may support new rules
    chosen = choose(session.candidates, f)
    near = [c for c in session.candidates if c.validation >= chosen.validation - TIE]
    transcript.add("observation", steps, content=f"chosen {chosen.source} ({chosen.validation:.3f}) among "
                   f"{len(near)} within {TIE} of the best")
    return chosen, steps, stop

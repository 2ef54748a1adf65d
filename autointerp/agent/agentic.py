"""The agent explainer: evidence first (experiments run up front), candidates composed from it and
scored, then the LLM's steps; the best validation candidate wins, and the record adds what the
neuron promotes when the output-side evidence agrees."""

from __future__ import annotations

from autointerp import events as ev
from autointerp.agent import tools as agent_tools
from autointerp.agent.baselines import CATEGORY_VERSION, category, heuristic
from autointerp.agent.compose import TIE, category_items, choose, compose, top_words, verdict
from autointerp.agent.loop import PROMPT_VERSION, AgentConfig, StopReason, run_loop
from autointerp.agent.protocol import ExplainContext, Proposal
from autointerp.agent.session import Candidate, Session, ToolError
from autointerp.agent.tools import examples_table, findings_table, make_tools
from autointerp.agent.transcript import Transcript
from autointerp.errors import AutointerpError
from autointerp.llm import LLM
from autointerp.prompts import render
from autointerp.tools.effects import TokenEffect

CONTEXT_EXAMPLES = 3  # context edits run up front, on the first top examples peaking on a peak word


FAMILY = 3  # of the ten tokens DLA promotes most, how many must be forms of its first one
LEAD = 1.5  # or: the first token's value over the best token that is not one of its forms


def dla_family(promoted: list[TokenEffect]) -> list[str]:
    """The forms of one word (case, a leading space) that lead the direct logit attribution, each
    with a positive value: either its first two tokens and at least FAMILY of its ten are that word,
    or its first token leads every other word's by LEAD times and another form of it is among the
    ten. A unit whose output weights push one word that hard predicts it, even where ablating it on
    its own top contexts moves little (it need not fire where that word comes next)."""
    top = promoted[:10]
    if len(top) < 2 or top[1].value <= 0:
        return []
    word = top[0].token.strip().lower()
    if not word:
        return []
    forms = [t.token.strip() for t in top if t.value > 0 and t.token.strip().lower() == word]
    others = [t.value for t in top if t.token.strip().lower() != word]
    led = len(forms) >= 2 and (not others or top[0].value >= LEAD * max(others[0], 0.0))
    if (top[1].token.strip().lower() == word and len(forms) >= FAMILY) or led:
        return list(dict.fromkeys(forms))
    return []


def _output_side(session: Session) -> str | None:
    """What the neuron promotes: the tokens DLA and mean ablation agree on (at least two of their
    top ten), else one word whose forms lead DLA (`dla_family`), said to rest on the weights alone;
    otherwise the evidence does not support an output claim."""
    if session.effects is None:
        agent_tools.run_effects(session)
    agreed = session.findings.output
    if len(agreed) >= 2:
        return "promotes " + ", ".join(f'"{t}"' for t in agreed[:3]) + " as the next token"
    forms = dla_family(session.effects.promoted) if session.effects is not None else []
    if forms:
        return ("promotes " + ", ".join(f'"{t}"' for t in forms[:3])
                + " through its output weights (logit attribution; ablation on its top contexts shows little)")
    return None


def gather(session: Session, transcript: Transcript) -> None:
    """The experiments every composition rule reads, run up front without the LLM (cheaper than
    steps): peak words, substitution, context edits of the first top examples, effects. Each is
    recorded as a step-0 tool call."""
    agent_tools.record_peaks(session)
    agent_tools.record_silent(session)
    words = {w.lower() for w, _ in top_words(session.findings)}
    on_words = [i for i, p in enumerate(session.findings.peaks) if p.word.lower() in words][:CONTEXT_EXAMPLES]
    runs = [("substitute", {}, lambda: agent_tools.run_substitute(session)),
            ("contrast", {}, lambda: agent_tools.run_senses(session))]
    runs += [("context", {"example": i}, lambda i=i: agent_tools.run_context(session, i, counterexample=True))
             for i in on_words]
    runs.append(("effects", {}, lambda: agent_tools.run_effects(session)))
    for name, args, run in runs:
        transcript.add(ev.ToolCall(name=name, args=args))
        session.detail = None
        try:
            obs, ok = run(), True
        except (ToolError, AutointerpError) as e:
            obs, ok = f"error: {name} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}", False
        transcript.add(ev.ToolResult(name=name, result=obs, ok=ok, detail=session.detail))
    if session.counterexamples:
        shown = ", ".join(f"window {r.window} (max {session.normalised(r.max_activation)})"
                          for r in session.counterexamples)
        transcript.add(ev.Observation(content=f"validation also scores {len(session.counterexamples)} "
                                      f"counterexample windows (a driving context word deleted): {shown}"))
    if session.findings.silent:
        shown = ", ".join(f'"{s.phrase}" (window {s.window})' for s in session.findings.silent)
        transcript.add(ev.Observation(content=f"validation also scores {len(session.contrasts)} windows cut at a "
                                      f"peak word where the neuron stays silent: {shown}"))


def _score_drafts(session: Session, name: str | None, transcript: Transcript) -> None:
    """Score each composed candidate not scored yet."""
    done = {(c.text, tuple(c.triggers)) for c in session.candidates}
    for d in compose(session.findings, name):
        if (d.text, tuple(d.triggers)) in done:
            continue
        c = session.validate(d.text, d.triggers, d.rule)
        done.add((c.text, tuple(c.triggers)))
        transcript.add(ev.Score(split="validation", text=c.text, value=c.validation, source=c.source))


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
    transcript.add(ev.Score(split="validation", text=c.text, value=c.validation, source=c.source))
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
        transcript.add(ev.Score(step=steps, split="validation", text=c.text, value=c.validation, source=c.source))
    _score_drafts(session, name, transcript)  # the loop's own experiments may support new rules
    chosen = choose(session.candidates, f)
    near = [c for c in session.candidates if c.validation >= chosen.validation - TIE]
    transcript.add(ev.Observation(step=steps, content=f"chosen {chosen.source} ({chosen.validation:.3f}) among "
                                  f"{len(near)} within {TIE} of the best"))
    return chosen, steps, stop


class AgentExplainer:
    """The tool-using agent (see the module's docstring)."""

    name = "agent"
    needs_llm = True
    first_phase = "seeding: heuristic, category, one-shot"
    prompt_version = f"agent_v{PROMPT_VERSION}+category_v{CATEGORY_VERSION}"

    def explain(self, ctx: ExplainContext) -> Proposal:
        assert ctx.llm is not None
        session = ctx.session
        chosen, steps, stop = _agent(session, ctx.llm, ctx.transcript, ctx.config, ctx.store)
        text, kind = chosen.text, session.kind if chosen is session.submitted else "input"
        output = _output_side(session)
        if output and kind == "input":
            text, kind = f"{text.rstrip('.')}; it {output}", "both"
        return Proposal(chosen, steps, stop, text, kind)

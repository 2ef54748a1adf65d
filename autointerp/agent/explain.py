"""`explain`: one neuron, any registered explainer (`autointerp.agent.explainers`), one record whose
headline score comes from held-out windows no tool ever saw. Every caller runs explainers here: the
CLI, batch workers, evals and the web app."""

from __future__ import annotations

from collections.abc import Callable

from autointerp import events as ev
from autointerp.agent.confidence import confident, hedged
from autointerp.agent.explainers import get_explainer
from autointerp.agent.loop import AgentConfig
from autointerp.agent.protocol import ExplainContext, ExplanationFailed, Explainer, first_phase
from autointerp.agent.session import open_session
from autointerp.agent.transcript import Event, Transcript
from autointerp.errors import AutointerpError
from autointerp.llm import LLM, Usage, make_llm
from autointerp.records import Explanation, UnitId, SimulatorName
from autointerp.scoring.simulators import needs_llm as simulator_needs_llm
from autointerp.workbench import Workbench

__all__ = ["ExplanationFailed", "explain"]


def explain(wb: Workbench, neuron: UnitId | str, llm: LLM | str | None = None, method: str | Explainer = "agent",
            config: AgentConfig | None = None, simulator: SimulatorName = "embedding", store=None,
            usage: Usage | None = None, on_event: Callable[[Event], None] | None = None) -> Explanation:
    """Explain one neuron of the workbench's target and return the record (the caller stores it).
    The transcript is saved whatever happens; an explainer that yields nothing raises ExplanationFailed.
    `usage`, when given, is the caller's meter: this run's LLM calls are added to it as they happen,
    so what a failed run spent is known too. `on_event` sees every transcript event as it happens.
    `method`: a registered explainer's name, or an explainer; `llm` (an LLM or a spec, default the
    settings') is made only for an explainer that needs one."""
    config = config or AgentConfig()
    explainer = get_explainer(method)
    llm_obj = (llm if isinstance(llm, LLM) else make_llm(llm, wb.settings)) if explainer.needs_llm else None
    needs_sim_llm = simulator_needs_llm(simulator)
    if needs_sim_llm and llm_obj is None:
        raise AutointerpError(f"simulator {simulator!r} needs an LLM")
    session = open_session(wb, neuron, simulator, llm_obj if needs_sim_llm else None)
    if usage is not None:
        session.usage = usage
    transcript = Transcript(session.settings, session.target.name, session.neuron, explainer.name, on_event)
    transcript.add(ev.Start(neuron=str(session.neuron), model=session.target.name, method=explainer.name,
                            phase=first_phase(explainer),
                            explainer=llm_obj.name if llm_obj else None, simulator=simulator,
                            config=config.model_dump(), split=session.split.model_dump()))
    steps, stop, stage = 0, None, None
    try:
        proposal = explainer.explain(ExplainContext(session, llm_obj, transcript, config, store))
        chosen, steps, stop, stage = proposal.chosen, proposal.steps, proposal.stop, proposal.stage
        text = proposal.text or chosen.text
        kind = proposal.kind or (session.kind if chosen is session.submitted else "input")
        sure = confident(chosen.validation)
        score = session.test_score(chosen.text, chosen.triggers)
        transcript.add(ev.Score(step=steps, split="test", text=chosen.text, value=score.value, n_tokens=score.n_tokens))
    except Exception as e:
        transcript.add(ev.Error(step=steps, error=f"{type(e).__name__}: {e}"))
        transcript.save()
        raise
    spent = session.usage
    cost = None if spent.cost_usd is None else round(spent.cost_usd, 8)
    asked = llm_obj is not None and (stage is None or get_explainer(stage).needs_llm)  # a cascade's heuristic: none
    record = Explanation(
        neuron=str(session.neuron), model=session.target.name, text=text if sure else hedged(text), kind=kind,
        triggers=chosen.triggers, evidence=session.evidence, scores=[score], method=explainer.name,
        explainer=llm_obj.name if asked else "none", prompt_version=explainer.prompt_version, steps=steps,
        stage=stage, confident=sure, prompt_tokens=spent.prompt_tokens, completion_tokens=spent.completion_tokens,
        cost_usd=cost, transcript=str(transcript.path))
    transcript.add(ev.Final(step=steps, stop=stop, validation=chosen.validation, source=chosen.source, confident=sure,
                            record=record.model_dump(mode="json")))
    transcript.save()
    return record

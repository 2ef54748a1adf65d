"""The cascade explainer: the token-list heuristic first, and the agent only for the units where the
heuristic's explanation falls short on the validation windows. For overnight batches: the agent
takes ~4-5x the heuristic's time per unit (12-13 s against 2-3 s on layer 6), and where the peak
words already predict the unit well it mostly writes the heuristic's text again. Measured, the
heuristic's validation is a weak guide to where the agent gains (evals/README.md, "Cascade"). The record says which
stage it comes from (`Explanation.stage`), and the batch summary counts each."""

from __future__ import annotations

from autointerp.agent.agentic import AgentExplainer
from autointerp.agent.baselines import HeuristicExplainer
from autointerp.agent.protocol import ExplainContext, Proposal

# Validation score at or above which the heuristic's explanation is kept. Chosen on the 24 layer-6
# neurons of the evals' neurons-vs-latents sample (evals/README.md, "Cascade"); measured elsewhere.
THRESHOLD = 0.05


class CascadeExplainer:
    """Heuristic first; the agent where the heuristic validates under `threshold`."""

    name = "cascade"
    needs_llm = True  # for the units that reach the agent
    first_phase = "reading the top tokens"
    prompt_version = f"{HeuristicExplainer.prompt_version}+{AgentExplainer.prompt_version}"  # none of its own

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold

    def explain(self, ctx: ExplainContext) -> Proposal:
        cheap = HeuristicExplainer().explain(ctx)
        if cheap.chosen.validation >= self.threshold:
            cheap.stage = HeuristicExplainer.name
            return cheap
        # Validated before the agent's experiments add their windows to validation: a score on fewer
        # windows, not comparable with the agent's, so the agent starts as it would alone.
        ctx.session.candidates.remove(cheap.chosen)
        costly = AgentExplainer().explain(ctx)
        costly.stage = AgentExplainer.name
        return costly

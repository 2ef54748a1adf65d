"""Typed results of the evals: what ran, with which LLM and prompts, what it cost, what it found."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from autointerp.evals.judge import Calibration, Verdict
from autointerp.records import ExplainMethod, OmitNone, SimulatorName

EvalName = Literal["planted", "real", "output"]
PlantedUnits = Literal["neurons", "latents"]  # what the planted eval plants: MLP neurons, or a dictionary's latents


class ExplainerRun(BaseModel):
    """One explainer on one neuron. A run whose explainer produced nothing has `error` and no text."""

    neuron: str
    method: ExplainMethod
    text: str | None = None
    triggers: list[str] = Field(default_factory=list)
    score: float | None = Field(default=None, description="held-out simulation score of the record")
    llm_score: float | None = Field(default=None, description="the same held-out windows scored by the LLM simulator "
                                    "(real eval, when one is used)")
    explainer: str = "none"
    prompt_version: str = ""
    steps: int = 0
    confident: bool | None = Field(default=None, description="the record's validation score cleared the confidence "
                                   "floor (None: no explanation, or a result from before the flag)")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    promoted_tokens: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


class ExplainerTotals(BaseModel):
    method: ExplainMethod
    runs: int
    failures: int
    prompt_version: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    seconds: float


class RunInfo(BaseModel):
    """The header every eval result carries."""

    eval: EvalName
    command: str
    model: str
    llm: str | None = Field(description="explainer LLM (None when only the heuristic ran)")
    simulator: SimulatorName
    explainers: list[ExplainMethod]
    max_steps: int
    cache_tokens: dict[int, int] = Field(default_factory=dict, description="layer -> tokens behind its cache")
    seed: int
    started_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    seconds: float = Field(default=0.0, description="wall time of this invocation")
    resumed_runs: int = Field(default=0, description="runs taken from the journal of an interrupted invocation")
    totals: list[ExplainerTotals] = Field(default_factory=list)


class Interval(BaseModel):
    """A mean with its seeded bootstrap 95% confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    resamples: int


class PlantedRun(ExplainerRun):
    verdict: Verdict | None = None
    probe_score: float | None = Field(default=None, description="simulation score on concept vs non-concept probe texts")


class ConceptOutcome(BaseModel):
    concept: str
    description: str
    neuron: str = Field(description="the planted unit's id: a neuron (L3.N1536) or a latent (3-planted-<hash>/0)")
    kind: Literal["words", "context"] = "words"
    concept_activation: float = Field(description="mean activation on the concept's words in unseen contexts "
                                      "(contextual: on the marked tokens of the held-out positive sentences)")
    distractor_activation: float = Field(description="mean activation on other concepts' and ordinary words "
                                         "(contextual: on the marked tokens of the held-out negative sentences)")
    top_share: float = Field(description="share of the top 20 cached examples whose max token is a concept word")
    auroc: float | None = Field(default=None, description="contextual: held-out positives vs negatives")
    plantable: bool = Field(default=True, description="False: the layer cannot tell the contexts apart (AUROC below "
                                                      "the floor); left out of the recovery counts")
    runs: list[PlantedRun]


class PlantedSummary(BaseModel):
    method: ExplainMethod
    kind: Literal["all", "words", "context"] = "all"
    recovered: int
    concepts: int
    rate: float
    mean_probe_score: float | None
    mean_held_out_score: float | None
    undefined_probe: int = Field(default=0, description="explanations whose probe score is undefined (constant "
                                 "predictions), left out of its mean")
    undefined_held_out: int = Field(default=0, description="explanations whose held-out score is undefined, left out")
    mean_similarity: float | None = Field(default=None, description="mean judge similarity to the concept description")


class PlantedResult(OmitNone):
    _optional: ClassVar[tuple[str, ...]] = ("units", "dictionary")  # neurons' results dump as they did

    info: RunInfo
    planted_model: str = Field(description="the model explained: the planted copy (neurons) or the unmodified "
                               "model (latents)")
    units: PlantedUnits = "neurons"
    dictionary: str | None = Field(default=None, description="latents: the planted dictionary's registered name")
    layer: int
    calibration: Calibration
    summary: list[PlantedSummary]
    concepts: list[ConceptOutcome]


class RealSummary(BaseModel):
    method: ExplainMethod
    score: Interval
    failures: int
    undefined: int = Field(default=0, description="explanations whose held-out score is undefined, left out of the mean")
    llm_score: Interval | None = None
    confident: Interval | None = Field(default=None, description="held-out score of the records marked confident")
    unconfident: Interval | None = Field(default=None, description="held-out score of those marked unconfident")


class RealResult(OmitNone):
    _optional: ClassVar[tuple[str, ...]] = ("dictionary", "skipped_dead", "dead_latents")  # as above

    info: RunInfo
    neurons: list[str]
    summary: list[RealSummary]
    paired: dict[str, Interval] = Field(description="agent − other, per neuron, e.g. 'agent - one-shot'")
    llm_simulator: SimulatorName | None = Field(default=None, description="second simulator, scoring the same windows")
    llm_paired: dict[str, Interval] = Field(default_factory=dict, description="the paired differences under it")
    runs: list[ExplainerRun]
    dictionary: str | None = Field(default=None, description="latents of this registered dictionary were sampled "
                                   "(`neurons` holds their ids); None: MLP neurons")
    skipped_dead: int = Field(default=0, description="dead latents (cached max not above 0) the seeded walk skipped")
    dead_latents: int | None = Field(default=None, description="dead latents in the whole dictionary")


class CompareRow(BaseModel):
    """One explainer: held-out means on neurons and on latents of the same layer, and their difference."""

    method: ExplainMethod
    neurons: Interval
    latents: Interval
    difference: Interval = Field(description="latents − neurons: the two samples resampled independently")


class CompareResult(BaseModel):
    """`eval compare`: the same explainers on neurons and on a dictionary's latents of one layer."""

    layer: int
    dictionary: str
    rows: list[CompareRow]
    neurons: RealResult
    latents: RealResult


class OutputNeuron(BaseModel):
    neuron: str
    top_token: str
    second_token: str
    margin: float = Field(description="(top1 − top2) / std of the neuron's direct logit attribution over the vocabulary")


class OutputRun(ExplainerRun):
    named: bool = False


class OutputSummary(BaseModel):
    method: ExplainMethod
    named: int
    neurons: int
    rate: float


class OutputResult(BaseModel):
    info: RunInfo
    layers: list[int]
    candidates: list[OutputNeuron]
    summary: list[OutputSummary]
    runs: list[OutputRun]
    ranks: list[int] | None = Field(default=None, description="the margin ranks explained (from 1); None: the top N")

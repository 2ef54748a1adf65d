"""Typed records shared by every part of autointerp."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from autointerp.errors import InputError

# Jupyter's rich output of a record, by record class: the presentation layer, above this module,
# registers its renderers here (`autointerp.present.notebook`, imported by `autointerp` in IPython).
HTML_RENDERERS: dict[type, Callable[[Any], str]] = {}


class RichHTML:
    """A record that renders as HTML in a notebook, with the templates of the files and the web app."""

    def _repr_html_(self) -> str | None:
        render = HTML_RENDERERS.get(type(self))
        return render(self) if render is not None else None


_NEURON_RE = re.compile(r"^\s*(?:[Ll](\d+)\.[Nn](\d+)|(\d+)[./](\d+))\s*$")
_LATENT_RE = re.compile(r"^\s*(\d+)-([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)/(\d+)\s*$")
DICTIONARY_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
"""A dictionary's name: lowercase letters, digits and dashes (`res4k`), Neuronpedia's source-id style."""

UnitKind = Literal["neuron", "latent"]


class UnitId(BaseModel):
    """One unit: an MLP neuron (`L6.N74`; `6.74` and `6/74` are accepted) or a latent of a named
    dictionary read at a layer (`6-res4k/1764`: Neuronpedia's source id `6-res4k`, then the index,
    so ids and exports map one to one). Which activations a unit is, and where it writes, is its
    unit source's business (`autointerp.targets.units`)."""

    model_config = ConfigDict(frozen=True)

    layer: int = Field(ge=0)
    index: int = Field(ge=0)
    dictionary: str | None = Field(default=None, description="the dictionary's name; None for an MLP neuron")

    @model_validator(mode="after")
    def _named(self) -> UnitId:
        if self.dictionary is not None and not DICTIONARY_NAME.match(self.dictionary):
            raise ValueError(f"malformed dictionary name {self.dictionary!r}: lowercase letters, digits, dashes")
        return self

    @classmethod
    def parse(cls, text: str) -> UnitId:
        """Accept `L6.N74`, `6.74`, `6/74` (neurons) or `6-res4k/1764` (a latent)."""
        m = _NEURON_RE.match(text or "")
        if m:
            layer, index = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
            return cls(layer=int(layer), index=int(index))
        m = _LATENT_RE.match(text or "")
        if m:
            return cls(layer=int(m.group(1)), dictionary=m.group(2), index=int(m.group(3)))
        raise InputError(f"malformed unit id {text!r}: expected a neuron (L6.N74, 6.74 or 6/74) "
                         "or a dictionary latent (6-res4k/1764)")

    @property
    def kind(self) -> UnitKind:
        return "neuron" if self.dictionary is None else "latent"

    @property
    def source_id(self) -> str:
        """The unit source within the model: `L6` for layer 6's neurons, `6-res4k` for a dictionary."""
        return f"L{self.layer}" if self.dictionary is None else f"{self.layer}-{self.dictionary}"

    @property
    def neuronpedia_layer(self) -> str:
        """Neuronpedia's `layer` column: the bare layer number for a neuron (`6`), the source id for
        a dictionary's latent (`6-res4k`)."""
        return str(self.layer) if self.dictionary is None else self.source_id

    def sibling(self, index: int) -> UnitId:
        """Another unit of the same source."""
        return UnitId.model_construct(layer=self.layer, index=index, dictionary=self.dictionary)

    def __str__(self) -> str:
        if self.dictionary is None:
            return f"L{self.layer}.N{self.index}"
        return f"{self.layer}-{self.dictionary}/{self.index}"


NeuronId = UnitId
"""The name this id had while units were only neurons; kept so user code that imports it runs on."""

DictionaryLayout = Literal["sparsify", "saelens"]
DictionarySite = Literal["resid", "mlp-out", "transcoder"]
"""Where a dictionary reads and writes: the residual stream after a layer; the MLP's output; or the
MLP's input, predicting its output (a transcoder)."""
DictionaryActivation = Literal["relu", "topk", "jumprelu"]
DictionaryNorm = Literal["none", "constant_norm_rescale", "layer_norm"]


class DictionaryInfo(BaseModel):
    """A registered dictionary (`autointerp sae add`, `sae list`): what it is and, where known, how
    well it reconstructs (held-out FVU, mean L0, dead-latent fraction)."""

    name: str
    model: str
    layout: DictionaryLayout
    site: DictionarySite
    layer: int = Field(ge=0)
    hook: str = Field(description="the hook point as the dictionary's own files name it")
    n_latents: int = Field(gt=0)
    d_in: int = Field(gt=0)
    activation: DictionaryActivation
    k: int | None = None
    threshold: float | None = Field(default=None, description="mean JumpReLU threshold")
    fvu: float | None = None
    l0: float | None = None
    dead_fraction: float | None = None

    @property
    def source_id(self) -> str:
        return f"{self.layer}-{self.name}"

    @property
    def sparsity(self) -> str:
        """`k 32`, `θ 0.12` or `relu`: how the dictionary keeps latents sparse, as `sae list` and the
        web app show it."""
        return f"k {self.k}" if self.k is not None else f"θ {self.threshold:.3g}" if self.threshold is not None \
            else "relu"


class TrainSpec(BaseModel):
    """What `autointerp sae train` trains; a checkpoint resumes only under the same spec."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    site: DictionarySite
    layer: int = Field(ge=0)
    n_latents: int = Field(gt=0)
    k: int = Field(gt=0)
    tokens: int = Field(gt=0, description="training tokens (BOS excluded); past the corpus's end it goes round again")
    held_out_tokens: int = Field(gt=0, description="tokens at the corpus's end, never trained on, for the figures")
    batch_tokens: int = Field(gt=0)
    lr: float = Field(gt=0)
    auxk_alpha: float = Field(ge=0, description="weight of sparsify's AuxK loss, which revives dead latents")
    dead_tokens: int = Field(gt=0, description="a latent silent this many training tokens is dead for AuxK")
    seed: int = 0
    corpus_hash: str
    window: int


class TrainReport(BaseModel):
    """How a training run went: saved beside the weights as `train.json`."""

    spec: TrainSpec
    tokens_trained: int
    steps: int
    seconds: float = Field(description="training wall time, summed over resumed runs")
    tokens_per_second: float
    train_fvu: float = Field(description="mean FVU of the last 5% of steps")
    train_dead_fraction: float = Field(description="latents silent for dead_tokens training tokens at the end")
    fvu: float
    l0: float
    dead_fraction: float = Field(description="latents that never fired on the held-out tokens")


UnitActivity = Literal["live", "rare", "dead"]
SkipReason = Literal["dead", "rare"]

RARE_WINDOWS = 23
"""A unit firing (> 0) in fewer windows than this is rare: it cannot fill the windows an explanation
needs: 5 held-out top windows (`scoring.split.held_out`), then 6 validation top windows, which take at
most a third of the explainer's share (`agent.session.N_VALIDATION`), so 18 more. delphi's
`min_examples` (200 activating examples) plays this part there, for its larger example counts."""


class Firing(BaseModel):
    """How often a unit fires over its cache: dead never (npos == 0), rare in fewer than
    `min_windows` windows, else live. `windows_firing` comes from the cache's uniform sample of
    firing windows, so it is exact below that sample's size (100 by default) and a floor above it."""

    tokens: int = Field(description="tokens seen (BOS excluded)")
    tokens_firing: int = Field(description="tokens where the unit is > 0")
    frequency: float = Field(description="tokens_firing / tokens")
    windows_firing: int
    min_windows: int
    activity: UnitActivity


def unit_activity(tokens_firing: int, windows_firing: int, min_windows: int = RARE_WINDOWS) -> UnitActivity:
    """Dead, rare or live: the one definition `show`, `triage`, `batch` and `report` use."""
    if tokens_firing == 0:
        return "dead"
    return "rare" if windows_firing < min_windows else "live"


class SkippedUnit(BaseModel):
    """A unit a batch did not explain because it is dead or rare (kept with its figures, so `batch`
    and `report` can say how many and why; delphi drops them silently)."""

    unit: str
    reason: SkipReason
    frequency: float
    windows_firing: int
    min_windows: int


class OmitNone(BaseModel):
    """Leaves the `_optional` fields out of dumps when all of them hold their defaults (None, or a
    neuron's value), so a record that gained fields for latents dumps byte-identical JSON for
    neurons (and a latent's unknown value stays null)."""

    _optional: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict:
        data = handler(self)
        fields = type(self).model_fields
        if all(data.get(name) == fields[name].default for name in self._optional):
            for name in self._optional:
                data.pop(name, None)
        return data


class ActivationRecord(BaseModel):
    """One window of text with one neuron's activation on every token."""

    window: int = Field(description="index of the window in the corpus' deterministic order")
    tokens: list[str]
    token_ids: list[int]
    activations: list[float]
    max_index: int
    max_token: str
    max_activation: float
    has_bos: bool = Field(description="position 0 is the BOS token, excluded from statistics")


class Histogram(BaseModel):
    edges: list[float]
    counts: list[int]


class NeuronStats(BaseModel):
    """Token-level statistics over the whole cached corpus (BOS positions excluded)."""

    max: float
    min: float
    mean: float
    std: float
    frac_positive: float
    n_tokens: int
    histogram: Histogram


class QuantileBin(BaseModel):
    """Windows whose max activation falls in one quantile of the neuron's activating windows."""

    bin: int
    low: float
    high: float
    examples: list[ActivationRecord]


class TopToken(BaseModel):
    token: str
    count: int
    max_activation: float


class NeuronExamples(RichHTML, OmitNone):
    """Everything the cache knows about one unit; a latent's also how often it fires and its
    dictionary's held-out FVU (left out of a neuron's JSON, which stays as it was)."""

    _optional: ClassVar[tuple[str, ...]] = ("firing", "dictionary_fvu")

    neuron: str
    model: str
    corpus: str
    corpus_hash: str
    window: int
    n_tokens: int
    max_activation: float
    stats: NeuronStats
    top: list[ActivationRecord]
    random: list[ActivationRecord]
    quantiles: list[QuantileBin]
    unique_top_tokens: list[TopToken]
    firing: Firing | None = None
    dictionary_fvu: float | None = None


CacheStatus = Literal["partial", "complete"]


class CacheManifest(BaseModel):
    """What a unit cache (a layer's neurons, a dictionary's latents) holds and how to check it;
    written atomically after its data."""

    format: int
    model: str
    corpus: str
    corpus_hash: str
    window: int
    layer: int
    d_mlp: int = Field(description="how many units the cache holds: the layer's d_mlp for its neurons (the "
                                   "name predates other units; kept so existing caches stay valid)")
    dictionary: str | None = Field(default=None, description="the dictionary whose latents it holds; None: neurons")
    n_windows_target: int
    windows_done: int
    status: CacheStatus
    seed: int
    top_k: int
    n_random: int
    quantile_sample: int
    checkpoint: str
    files: dict[str, str] = Field(description="file name -> sha256")


SimulatorName = Literal["embedding", "embedding-v1", "lexical", "llm", "llm-logprob"]
# The built-in scorers (`score --method`); a Score's method may also name one a user registered.
ScoreMethod = Literal["simulation", "detection", "fuzzing", "counterfactual"]
# What a simulation is correlated with: "raw" activations, negatives included (OpenAI's
# automated-interpretability, explanations/scoring.py), or "discretised" min(10, floor(10*relu(x)/max))
# (this project's rule before issue 16; records without a rule were scored with it).
ScoreRule = Literal["raw", "discretised"]
SplitKind = Literal["top-and-random", "random-only"]


class HeldOutSplit(BaseModel):
    """Which cached windows an explainer may see and which score it: never the same window."""

    kind: SplitKind
    seed: int
    explain_windows: list[int]
    score_top_windows: list[int]
    score_random_windows: list[int]


class ScoredWindow(BaseModel):
    """One window of a simulation score with exactly what was correlated, so anyone can recompute it."""

    window: int
    tokens: list[str] = Field(description="the scored tokens (BOS excluded)")
    true: list[float] = Field(description="the real activations under the score's rule")
    predicted: list[float] = Field(description="the simulator's predictions (0-10)")
    correlation: float | None = Field(description="Pearson within the window; None where either side is constant")


class ClassifiedExample(BaseModel):
    """One example of a detection or fuzzing score: what the LLM was shown and what it answered."""

    window: int
    start: int = Field(description="index in the window of the example's first token")
    text: str = Field(description="as shown to the LLM (fuzzing: with its << >> highlights)")
    activating: bool = Field(description="truth: the example holds a firing token (fuzzing: correctly highlighted)")
    quantile: int | None = Field(description="decile of the activating windows, 0 = strongest; None for negatives")
    max_activation: float
    prediction: bool | None = Field(description="the LLM's answer; None when it never gave one")


class ScoreOptions(BaseModel):
    """What a score was asked for (`autointerp score`'s options); each scorer reads the ones it uses."""

    simulator: SimulatorName = "embedding"
    rule: ScoreRule = "raw"
    triggers: list[str] = Field(default_factory=list, description="simulation: words/phrases the lexical "
                                "simulator matches")
    top: int = Field(default=5, description="simulation: held-out top windows")
    random: int = Field(default=5, description="simulation: random windows")
    split: SplitKind = "top-and-random"
    n: int | None = Field(default=None, description="examples or texts per side; None: the scorer's default")
    quantiles: int = Field(default=10, description="detection, fuzzing: quantiles the positives spread over")
    example_len: int = Field(default=32, description="detection, fuzzing: tokens per example")
    fire_threshold: float | None = Field(default=None, description="detection, fuzzing: a token fires above "
                                         "this fraction of the unit's max; None: its source's rule (0.1 for "
                                         "neurons, above 0 for dictionary latents, as delphi)")


class SimulationDetails(BaseModel):
    """Simulation has no figures of its own: its rule, simulator and windows are the Score's fields."""

    model_config = ConfigDict(extra="forbid")


class ClassifierDetails(BaseModel):
    """Detection and fuzzing: delphi's metrics (log/result_analysis.py) and the sample behind them."""

    model_config = ConfigDict(extra="forbid")

    f1: float
    precision: float
    recall: float
    true_positive_rate: float
    true_negative_rate: float
    balanced_accuracy: float
    true_positives: int
    true_negatives: int
    false_positives: int
    false_negatives: int
    positives: int = Field(description="answered positive examples")
    negatives: int = Field(description="answered negative examples")
    failed: int = Field(description="examples the LLM never answered yes or no, left out")
    fire_threshold: float = Field(description="fraction of the neuron's max above which a token fires")
    threshold: float = Field(description="the activation above which a token fires")
    example_len: int
    quantiles: int
    activating_pool: int = Field(description="activating windows the positives were drawn from")
    negative_pool: int = Field(description="windows without a firing token the negatives were drawn from")


class DetectionDetails(ClassifierDetails):
    """delphi's detection: does the example match the explanation?"""


class FuzzingDetails(ClassifierDetails):
    """delphi's fuzzing: are the highlighted tokens the ones the explanation describes?"""

    n_incorrect: int = Field(description="tokens highlighted in each negative")


class CounterfactualDetails(BaseModel):
    """Texts the LLM wrote to (not) activate the neuron, run on the real model."""

    model_config = ConfigDict(extra="forbid")

    precision: float
    recall: float
    f1: float
    mean_activation_gap: float = Field(description="mean max activation on the texts meant to activate it, "
                                       "minus the same on the others")
    threshold: float = Field(description="a text activates the neuron at this max activation (half its max)")


class Figures(RootModel[dict[str, float]]):
    """Named numbers: the details of a scorer without a model of its own, and of records stored
    before details were typed that fit none (they load, and dump as they were stored)."""


ScoreDetails = SimulationDetails | DetectionDetails | FuzzingDetails | CounterfactualDetails | Figures
# Which model a built-in method's stored details dict is read as; any other method's is Figures.
_DETAILS: dict[str, type[BaseModel]] = {"simulation": SimulationDetails, "detection": DetectionDetails,
                                        "fuzzing": FuzzingDetails, "counterfactual": CounterfactualDetails}


def score_details(method: object, data: dict) -> BaseModel:
    """A stored details dict as its method's model, or as Figures when it does not fit (older shapes)."""
    model = _DETAILS.get(method) if isinstance(method, str) else None
    if model is not None:
        try:
            return model.model_validate(data)
        except ValidationError:
            pass
    return Figures.model_validate(data)


class Score(BaseModel):
    """How well an explanation predicts a neuron, on held-out windows."""

    neuron: str
    model: str
    explanation: str
    method: str = Field(min_length=1, description="the scorer's name (autointerp.scoring.registry): simulation, "
                        "detection, fuzzing, counterfactual or one a user registered")
    simulator: SimulatorName | None
    rule: ScoreRule | None = Field(default=None, description="simulation: what predictions were correlated with")
    value: float | None = Field(description="simulation: pooled Pearson over all scored tokens; detection, fuzzing: "
                                "balanced accuracy; counterfactual: F1. None when undefined (a constant side)")
    per_example: list[float | None] = Field(description="correlation per window; None where either side is constant")
    n_tokens: int
    n_examples: int
    split: HeldOutSplit
    llm: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    details: ScoreDetails = Field(default_factory=SimulationDetails, description="the method's own figures")
    notes: list[str] = Field(default_factory=list, description="what a reader must know, e.g. a short sample")
    windows: list[ScoredWindow] | None = Field(default=None, description="simulation: every scored window (returned "
                                               "by `score`, not kept in stored explanations)")
    examples: list[ClassifiedExample] | None = Field(default=None, description="detection, fuzzing: every example")

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: object) -> object:
        """Simulation records stored before rules existed were scored with the discretised rule;
        details, a plain dict before they were typed, are read as the method's model."""
        if not isinstance(data, dict):
            return data
        if data.get("method") == "simulation" and "rule" not in data:
            data = {**data, "rule": "discretised"}
        details = data.get("details", {})
        if isinstance(details, dict):
            data = {**data, "details": score_details(data.get("method"), details)}
        return data


ExplanationKind = Literal["input", "output", "both"]
# An explainer's name (`autointerp.agent.explainers`): any registered one, so records of an explainer a
# user registered load too; where a name comes in (CLI, batch, web) the registry checks it.
ExplainMethod = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
SynonymSource = Literal["both", "minilm", "w_e"]
ContextMode = Literal["delete", "replace"]
ExportFormat = Literal["jsonl", "neuronpedia"]


class Evidence(BaseModel):
    """What the explainer saw and found; kept with the explanation so a reader can check it."""

    top_tokens: list[TopToken] = Field(default_factory=list, description="most frequent max tokens of top windows")
    substitutions: list[str] = Field(default_factory=list, description="findings of substitution tests")
    context: list[str] = Field(default_factory=list, description="findings of context edits")
    probes: list[str] = Field(default_factory=list, description="texts the explainer ran, with their max activation")
    promoted_tokens: list[str] = Field(default_factory=list, description="top tokens by direct logit attribution")
    suppressed_tokens: list[str] = Field(default_factory=list)


class Explanation(RichHTML, BaseModel):
    """One explanation of one neuron by one explainer, with the evidence and held-out scores behind it."""

    neuron: str = Field(description="canonical id, e.g. L6.N74")
    model: str
    text: str = Field(min_length=1)
    kind: ExplanationKind = "input"
    triggers: list[str] = Field(default_factory=list, description="exact words/phrases, for the lexical simulator")
    evidence: Evidence = Field(default_factory=Evidence)
    scores: list[Score] = Field(default_factory=list, description="held-out scores; the first is the headline")
    method: ExplainMethod
    explainer: str = Field(description="the explaining LLM, e.g. local or openai:gpt-4o-mini")
    prompt_version: str = Field(description="e.g. agent_v1; ids derive from it")
    steps: int = 0
    stage: ExplainMethod | None = Field(default=None, description="a composite explainer's (the cascade's): the "
                                        "explainer whose answer this is, e.g. heuristic or agent")
    confident: bool = Field(default=False, description="the chosen explanation's validation evidence clears the "
                            "calibrated floor; an unconfident record holds the best guess and says so")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    transcript: str | None = Field(default=None, description="path of the JSONL transcript")

    @property
    def score(self) -> float | None:
        return self.scores[0].value if self.scores else None

    @property
    def layer(self) -> int:
        return UnitId.parse(self.neuron).layer

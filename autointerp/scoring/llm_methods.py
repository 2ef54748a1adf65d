"""Scoring by detection and fuzzing (EleutherAI's delphi) and by counterfactual texts run on the real
model (Huang et al.).

Detection and fuzzing follow delphi/scorers/classifier/ (detection.py, fuzz.py, classifier.py,
sample.py) on examples drawn as delphi draws them (scoring/sample.py): the LLM answers, one example
at a time (delphi's `n_examples_shown` default), whether an example matches the explanation
(detection) or whether its highlighted tokens are the ones the explanation describes (fuzzing).
Metrics as delphi/log/result_analysis.py: balanced accuracy (the value), with F1, precision and
recall; an example the LLM never answered is left out and counted as `failed`.
"""

from __future__ import annotations

import json
import math
import re
from itertools import groupby
from typing import ClassVar

import numpy as np
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from autointerp.errors import InputError
from autointerp.llm import LLM, LLMError, Usage
from autointerp.prompts import render
from autointerp.records import (
    ClassifiedExample,
    ClassifierDetails,
    CounterfactualDetails,
    DetectionDetails,
    FuzzingDetails,
    Score,
    ScoreOptions,
    UnitId,
)
from autointerp.scoring.sample import Example, Sample, SampleConfig, sample_examples
from autointerp.scoring.split import held_out
from autointerp.tools.probe import probe
from autointerp.workbench import Workbench

PROMPT_VERSION = 1
# delphi's markers (scorers/classifier/sample.py L, R) and its highlight threshold (fuzz.py: 0.3 of the
# example's max).
L, R = "<<", ">>"
HIGHLIGHT = 0.3


class DetectionFailed(LLMError):
    """The LLM never answered yes or no."""


def parse_yes_no(text: str) -> bool | None:
    words = re.findall(r"[a-z]+", text.lower())[:20]
    first = next((w for w in words if w in ("yes", "no")), None)
    return None if first is None else first == "yes"


def _classify(llm: LLM, prompt: str, usage: Usage, attempts: int = 3) -> bool | None:
    """The LLM's yes/no; None when it gave neither in `attempts` replies."""
    for _ in range(attempts):
        reply = llm.invoke([HumanMessage(prompt)], max_tokens=8)
        usage.add(reply.usage)
        answer = parse_yes_no(reply.text)
        if answer is not None:
            return answer
    return None


def highlight(tokens: list[str], marked: set[int]) -> str:
    """delphi's `_highlight`: each run of marked tokens between << and >>."""
    out = []
    for on, run in groupby(enumerate(tokens), key=lambda item: item[0] in marked):
        text = "".join(t for _, t in run)
        out.append(f"{L}{text}{R}" if on else text)
    return "".join(out)


def fuzz_marks(ex: Example, threshold: float, n_incorrect: int, rng: np.random.Generator) -> set[int]:
    """Tokens to highlight. A positive: those at >= 0.3 x its max that fire (delphi's correct
    highlight). A negative: `n_incorrect` tokens, the one at delphi's peak place (len - len // 4)
    first, the others at random (delphi's false highlight)."""
    if ex.quantile is not None:
        cut = max(HIGHLIGHT * ex.max_activation, threshold)
        return {i for i, a in enumerate(ex.activations) if a >= cut and a > threshold}
    n = len(ex.tokens)
    k = min(max(1, n_incorrect), n)
    place = n - n // 4
    first = [place] if place < n else []
    rest = [i for i in range(n) if i not in first]
    return set(first + [rest[i] for i in rng.choice(len(rest), k - len(first), replace=False)])


def metrics(truth: list[bool], predicted: list[bool | None]) -> dict[str, float]:
    """delphi's compute_confusion + compute_classification_metrics, unanswered examples left out."""
    valid = [(t, p) for t, p in zip(truth, predicted) if p is not None]
    pos = sum(t for t, _ in valid)
    neg = len(valid) - pos
    tp = sum(t and p for t, p in valid)
    tn = sum(not t and not p for t, p in valid)
    fp = neg - tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / pos if pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    tnr = tn / neg if neg else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "true_positive_rate": recall,
            "true_negative_rate": tnr, "balanced_accuracy": (recall + tnr) / 2, "true_positives": tp,
            "true_negatives": tn, "false_positives": fp, "false_negatives": pos - tp, "positives": pos,
            "negatives": neg, "failed": len(truth) - len(valid)}


def _score(neuron: UnitId, target_name: str, explanation: str, method: str, value: float | None,
           n_examples: int, split, llm: LLM, details: BaseModel, usage: Usage, notes: list[str] = (),
           examples: list[ClassifiedExample] | None = None) -> Score:
    return Score(neuron=str(neuron), model=target_name, explanation=explanation, method=method, simulator=None,
                 value=None if value is None else round(value, 5), per_example=[], n_tokens=0,
                 n_examples=n_examples, split=split, llm=llm.name, prompt_tokens=usage.prompt_tokens,
                 completion_tokens=usage.completion_tokens, details=details, notes=list(notes), examples=examples)


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 5) for k, v in figures.items()}


def _given(llm: LLM | None, method: str) -> LLM:
    """The LLM a scorer that asks one was given."""
    if llm is None:
        raise InputError(f"{method} scoring needs an LLM (local, openai:..., openai-compatible:...)")
    return llm


class ClassifierScorer:
    """delphi's classifiers: balanced accuracy of the LLM on positives from the quantiles of the
    neuron's activating windows and negatives where it never fires, none shown to an explainer.
    A subclass names its prompt and says what text each example is shown as."""

    name: ClassVar[str]
    prompt: ClassVar[str]
    details: ClassVar[type[ClassifierDetails]]
    default_n: ClassVar[int] = 50  # delphi's examples a side

    def needs_llm(self, options: ScoreOptions) -> bool:
        return True

    def config(self, options: ScoreOptions, fire_fraction: float = 0.1) -> SampleConfig:
        """`fire_fraction`: the unit source's rule, where the options leave it to the source."""
        n = self.default_n if options.n is None else options.n
        return SampleConfig(n_positive=n, n_quantiles=options.quantiles, n_negative=n,
                            example_len=options.example_len,
                            fire_threshold=fire_fraction if options.fire_threshold is None else options.fire_threshold)

    def check(self, options: ScoreOptions) -> None:
        self.config(options).check()

    def score(self, wb: Workbench, neuron: UnitId | str, explanation: str, options: ScoreOptions,
              llm: LLM | None) -> Score:
        cfg = self.config(options, wb.source(neuron).fire_fraction)
        return self.classify(wb, neuron, explanation, _given(llm, self.name), cfg)

    def shown(self, neuron: UnitId, s: Sample, seed: int) -> tuple[list[str], dict[str, float]]:
        """The text each example is shown as, and figures the showing adds to the details."""
        return ["".join(e.tokens) for e in s.positives + s.negatives], {}

    def classify(self, wb: Workbench, neuron: UnitId | str, explanation: str, llm: LLM,
                 cfg: SampleConfig = SampleConfig()) -> Score:
        if not explanation.strip():
            raise InputError("the explanation is empty")
        neuron, target = wb.unit(neuron), wb.target
        layer = wb.cache(neuron)
        _, _, split = held_out(layer, neuron.index, 5, 5, "top-and-random", wb.settings.seed)
        s = sample_examples(layer, neuron.index, cfg, frozenset(split.explain_windows), wb.settings.seed)
        split = split.model_copy(update={"score_top_windows": [e.window for e in s.positives],
                                         "score_random_windows": [e.window for e in s.negatives]})
        examples = s.positives + s.negatives
        texts, extra = self.shown(neuron, s, wb.settings.seed)
        order = np.random.default_rng([wb.settings.seed, neuron.layer, neuron.index, 18]).permutation(len(examples))
        usage, answers = Usage(), [None] * len(examples)
        for i in order:  # shuffled, as delphi's Classifier.__call__ does
            answers[i] = _classify(llm, render(self.prompt, PROMPT_VERSION, explanation=explanation, text=texts[i]),
                                   usage)
        truth = [e.quantile is not None for e in examples]
        m = metrics(truth, answers)
        if m["failed"] == len(examples):
            raise DetectionFailed(f"{llm.name} answered neither yes nor no for any of the {len(examples)} examples")
        notes = list(s.notes)
        value: float | None = m["balanced_accuracy"]
        if not m["positives"] or not m["negatives"]:
            value = None
            notes.append("undefined: no answered " + ("positive" if not m["positives"] else "negative") + " example")
        if m["failed"]:
            notes.append(f"{m['failed']} of {len(examples)} examples got no yes/no answer and are left out")
        details = self.details.model_validate(_rounded({
            **m, "fire_threshold": cfg.fire_threshold, "threshold": s.threshold, "example_len": cfg.example_len,
            "quantiles": cfg.n_quantiles, "activating_pool": s.activating_pool, "negative_pool": s.negative_pool,
            **extra}))
        shown = [ClassifiedExample(window=e.window, start=e.start, text=t, activating=e.quantile is not None,
                                   quantile=e.quantile, max_activation=round(e.max_activation, 5), prediction=a)
                 for e, t, a in zip(examples, texts, answers)]
        return _score(neuron, target.name, explanation, self.name, value, len(examples), split, llm, details, usage,
                      notes, shown)


class DetectionScorer(ClassifierScorer):
    """delphi's detection: does the example match the explanation?"""

    name = "detection"
    prompt = "detect"
    details = DetectionDetails


class FuzzingScorer(ClassifierScorer):
    """delphi's fuzzing: are the highlighted tokens the ones the explanation describes?"""

    name = "fuzzing"
    prompt = "fuzz"
    details = FuzzingDetails

    def shown(self, neuron: UnitId, s: Sample, seed: int) -> tuple[list[str], dict[str, float]]:
        # delphi fuzz.py: as many false highlights as the positives fire on tokens, on average (ceil).
        n_incorrect = math.ceil(np.mean([sum(a > s.threshold for a in e.activations) for e in s.positives]))
        rng = np.random.default_rng([seed, neuron.layer, neuron.index, 17])
        texts = [highlight(e.tokens, fuzz_marks(e, s.threshold, n_incorrect, rng)) for e in s.positives + s.negatives]
        return texts, {"n_incorrect": n_incorrect}


def detection_score(wb: Workbench, neuron: UnitId | str, explanation: str, llm: LLM,
                    cfg: SampleConfig = SampleConfig()) -> Score:
    """delphi's detection: does the example match the explanation?"""
    return DetectionScorer().classify(wb, neuron, explanation, llm, cfg)


def fuzzing_score(wb: Workbench, neuron: UnitId | str, explanation: str, llm: LLM,
                  cfg: SampleConfig = SampleConfig()) -> Score:
    """delphi's fuzzing: are the highlighted tokens the ones the explanation describes?"""
    return FuzzingScorer().classify(wb, neuron, explanation, llm, cfg)


def parse_texts(reply: str) -> list[str]:
    """Sentences from a JSON list of strings, else one per non-empty line (bullets and numbers stripped)."""
    for chunk in [reply] + re.findall(r"\[.*?\]", reply, re.S):
        try:
            obj = json.loads(chunk)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, list) and obj and all(isinstance(x, str) for x in obj):
            return [x.strip() for x in obj if x.strip()]
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", ln).strip().strip('"') for ln in reply.splitlines()]
    return [ln for ln in lines if len(ln.split()) >= 2]


def counterfactual_score(wb: Workbench, neuron: UnitId | str, explanation: str, llm: LLM, n: int = 5) -> Score:
    """The LLM writes n texts that should activate the neuron and n that should not; the real model
    decides. A text "activates" when its max activation reaches half the neuron's cached max."""
    if not explanation.strip():
        raise InputError("the explanation is empty")
    neuron, target = wb.unit(neuron), wb.target
    layer = wb.cache(neuron)
    max_act = layer.max_activation(neuron.index)
    _, _, split = held_out(layer, neuron.index, 0, 0, "random-only", wb.settings.seed)
    texts, usage = {}, Usage()
    for want, phrase in ((True, "should"), (False, "should not")):
        reply = llm.invoke([HumanMessage(render("counterfactual", PROMPT_VERSION, explanation=explanation, n=n,
                                                want=phrase))], max_tokens=60 * n)
        usage.add(reply.usage)
        texts[want] = [t for t in parse_texts(reply.text) if len(target.encode(t)) < target.n_ctx][:n]
    if not texts[True] or not texts[False]:
        raise LLMError(f"{llm.name} wrote no usable texts ({len(texts[True])} positive, {len(texts[False])} negative)")
    acts = {w: [r.max_activation for r in probe(wb, neuron, ts).records] for w, ts in texts.items()}
    thr = 0.5 * max_act
    tp = sum(a >= thr for a in acts[True])
    fp = sum(a >= thr for a in acts[False])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(acts[True])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    gap = sum(acts[True]) / len(acts[True]) - sum(acts[False]) / len(acts[False])
    details = CounterfactualDetails.model_validate(_rounded(
        {"precision": precision, "recall": recall, "f1": f1, "mean_activation_gap": gap, "threshold": thr}))
    return _score(neuron, target.name, explanation, CounterfactualScorer.name, f1,
                  len(acts[True]) + len(acts[False]), split, llm, details, usage)


class CounterfactualScorer:
    """Huang et al.: texts the LLM writes to (not) activate the neuron, run on the real model (F1)."""

    name: ClassVar[str] = "counterfactual"
    default_n: ClassVar[int] = 5  # texts a side

    def needs_llm(self, options: ScoreOptions) -> bool:
        return True

    def check(self, options: ScoreOptions) -> None:
        """Nothing to check before the model loads."""

    def score(self, wb: Workbench, neuron: UnitId | str, explanation: str, options: ScoreOptions,
              llm: LLM | None) -> Score:
        n = self.default_n if options.n is None else options.n
        return counterfactual_score(wb, neuron, explanation, _given(llm, self.name), n)

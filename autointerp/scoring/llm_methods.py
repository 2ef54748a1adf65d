"""Scoring by detection (delphi) and by counterfactual texts run on the real model (Huang et al.)."""

from __future__ import annotations

import json
import re

from langchain_core.messages import HumanMessage

from autointerp.errors import InputError
from autointerp.llm import LLM, LLMError, Usage
from autointerp.prompts import render
from autointerp.records import NeuronId, Score
from autointerp.scoring.split import held_out
from autointerp.tools.probe import probe
from autointerp.workbench import Workbench

PROMPT_VERSION = 1


class DetectionFailed(LLMError):
    """The LLM never answered yes or no."""


def parse_yes_no(text: str) -> bool | None:
    words = re.findall(r"[a-z]+", text.lower())[:20]
    first = next((w for w in words if w in ("yes", "no")), None)
    return None if first is None else first == "yes"


def _classify(llm: LLM, explanation: str, text: str, usage: Usage, attempts: int = 3) -> bool:
    prompt = render("detect", PROMPT_VERSION, explanation=explanation, text=text)
    for _ in range(attempts):
        reply = llm.invoke([HumanMessage(prompt)], max_tokens=8)
        usage.add(reply.usage)
        answer = parse_yes_no(reply.text)
        if answer is not None:
            return answer
    raise DetectionFailed(f"{llm.name} answered neither yes nor no in {attempts} attempts")


def _score(neuron: NeuronId, target_name: str, explanation: str, method, value: float, n_examples: int, split,
           llm: LLM, details: dict[str, float], usage: Usage) -> Score:
    return Score(neuron=str(neuron), model=target_name, explanation=explanation, method=method, simulator=None,
                 value=round(value, 5), per_example=[], n_tokens=0, n_examples=n_examples, split=split, llm=llm.name,
                 prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                 details={k: round(v, 5) for k, v in details.items()})


def detection_score(wb: Workbench, neuron: NeuronId | str, explanation: str, llm: LLM, n: int = 5) -> Score:
    """Balanced accuracy of the LLM telling held-out activating windows from non-activating ones."""
    if not explanation.strip():
        raise InputError("the explanation is empty")
    neuron, target = wb.neuron(neuron), wb.target
    layer = wb.layer(neuron.layer)
    _, scored, split = held_out(layer, neuron.index, n, 0, "top-and-random", wb.settings.seed)
    max_act = layer.max_activation(neuron.index)
    quiet = [r for r in layer.random(neuron.index) if r.max_activation < 0.2 * max_act][:n]
    split = split.model_copy(update={"score_random_windows": [r.window for r in quiet]})
    text = lambda r: "".join(r.tokens[int(r.has_bos):])  # noqa: E731
    usage = Usage()
    hits = [_classify(llm, explanation, text(r), usage) for r in scored]
    false = [_classify(llm, explanation, text(r), usage) for r in quiet]
    tpr = sum(hits) / max(1, len(hits))
    tnr = sum(not f for f in false) / max(1, len(false))
    return _score(neuron, target.name, explanation, "detection", (tpr + tnr) / 2, len(hits) + len(false), split, llm,
                  {"true_positive_rate": tpr, "true_negative_rate": tnr}, usage)


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


def counterfactual_score(wb: Workbench, neuron: NeuronId | str, explanation: str, llm: LLM, n: int = 5) -> Score:
    """The LLM writes n texts that should activate the neuron and n that should not; the real model
    decides. A text "activates" when its max activation reaches half the neuron's cached max."""
    if not explanation.strip():
        raise InputError("the explanation is empty")
    neuron, target = wb.neuron(neuron), wb.target
    layer = wb.layer(neuron.layer)
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
    return _score(neuron, target.name, explanation, "counterfactual", f1, len(acts[True]) + len(acts[False]), split,
                  llm, {"precision": precision, "recall": recall, "f1": f1, "mean_activation_gap": gap,
                        "threshold": thr}, usage)

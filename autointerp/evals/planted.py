"""Eval 1: planted neurons. Each concept gets a neuron in a copy of the embedded model; an explainer
recovers it when the concept judge says its explanation names that concept (and no other)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console

from autointerp.agent import AgentConfig
from autointerp.config import Settings
from autointerp.evals import report
from autointerp.evals.concepts import Concept, load_concepts
from autointerp.evals.judge import Judge
from autointerp.evals.planting import BASELINE_WORDS, PROBE_TEMPLATES, plant, word_activations
from autointerp.evals.records import (
    ConceptOutcome,
    PlantedResult,
    PlantedRun,
    PlantedSummary,
)
from autointerp.evals.runner import ensure_caches, finish, open_journal, open_llm, run_all, run_info
from autointerp.records import ActivationRecord, ExplainMethod, SimulatorName
from autointerp.scoring.simulation import score_records
from autointerp.targets import Target
from autointerp.tools.probe import make_record, run_ids
from autointerp.workbench import Workbench

PROBE_TEXTS = 12  # texts with a concept word, and as many with a distractor in the same contexts


def distractors(concepts: list[Concept], i: int, k: int, seed: int) -> list[str]:
    """k words from outside concept i: half from the other concepts, half ordinary words."""
    rng = np.random.default_rng([seed, i, 2])
    others = [w for j, c in enumerate(concepts) if j != i for w in c.words]
    mine = {w.lower() for w in concepts[i].words}
    plain = [w for w in BASELINE_WORDS if w.lower() not in mine and w.lower() not in {o.lower() for o in others}]
    return ([others[j] for j in rng.choice(len(others), size=k - k // 2, replace=False)]
            + [plain[j] for j in rng.choice(len(plain), size=k // 2, replace=False)])


def probe_records(target: Target, layer: int, index: int, words: list[str]) -> list[ActivationRecord]:
    """One probe sentence per word (templates in turn): the neuron's real activations on each token."""
    texts = [PROBE_TEMPLATES[k % len(PROBE_TEMPLATES)].replace("{w}", w) for k, w in enumerate(words)]
    seqs = [([target.bos_id] if target.prepend_bos else []) + target.encode(t) for t in texts]
    acts = run_ids(target, seqs, layer)
    return [make_record(target, s, a[:, index].tolist()) for s, a in zip(seqs, acts)]


def _is_concept_token(token: str, concept: Concept) -> bool:
    t = token.strip().lower()
    return any(t == w.lower() or t == w.lower() + "s" for w in concept.words)


def run_planted(concepts_path: Path | None, llm: str | None, methods: list[ExplainMethod], settings: Settings,
                layer: int = 3, max_steps: int = 8, simulator: SimulatorName = "embedding", command: str = "",
                console: Console | None = None, out: Path | None = None) -> tuple[PlantedResult, str]:
    """Plant, cache, explain every planted neuron with each explainer, judge; (result, Markdown),
    written to `out` when given (with a journal there, so a killed run resumes)."""
    t0 = time.perf_counter()
    concepts = load_concepts(concepts_path)
    judge = Judge(concepts)
    chat = open_llm(llm, methods, simulator, settings)
    planted = plant(concepts, layer, settings)
    wb = Workbench.open(planted.name, settings=settings, console=console, progress=console is not None)
    target = wb.target
    cache_tokens = ensure_caches(wb, [layer], console)
    cache = wb.layer(layer, build=False)
    config = AgentConfig(max_steps=max_steps)
    journal = None if out is None else open_journal(
        out, "planted", model=planted.name, llm=chat.name if chat else None, methods=methods, max_steps=max_steps,
        simulator=simulator, cache=cache_tokens)
    outcomes = []
    for i, (concept, pn) in enumerate(zip(concepts, planted.neurons)):
        neuron = f"L{layer}.N{pn.index}"
        if console is not None:
            console.print(f"[bold]{concept.name}[/] → {neuron}")
        distract = distractors(concepts, i, PROBE_TEXTS, settings.seed)
        rng = np.random.default_rng([settings.seed, i, 3])
        shown = [concept.words[j] for j in rng.choice(len(concept.words), size=min(PROBE_TEXTS, len(concept.words)),
                                                      replace=False)]
        records = probe_records(target, layer, pn.index, shown) + probe_records(target, layer, pn.index, distract)
        max_act = max([cache.max_activation(pn.index)] + [r.max_activation for r in records])
        top = cache.top(pn.index, 20)
        runs = []
        for r in run_all(wb, neuron, methods, chat, config, simulator, console, journal):
            run = PlantedRun(**r.model_dump())
            if r.text is not None:
                run.verdict = judge.judge(r.text, concept.name)
                run.probe_score = round(score_records(r.text, r.triggers, records, max_act, simulator, chat)[0], 4)
            runs.append(run)
        outcomes.append(ConceptOutcome(
            concept=concept.name, description=concept.description, neuron=neuron,
            concept_activation=round(float(np.mean(word_activations(target, layer, pn.index, concept.words))), 4),
            distractor_activation=round(float(np.mean(word_activations(target, layer, pn.index, distract))), 4),
            top_share=round(sum(_is_concept_token(r.max_token, concept) for r in top) / max(1, len(top)), 3),
            runs=runs))
    all_runs = [r for o in outcomes for r in o.runs]
    info = run_info("planted", command, planted.name, chat, simulator, methods, max_steps, cache_tokens, settings, t0,
                    journal, all_runs)
    result = PlantedResult(info=info, planted_model=planted.name, layer=layer, calibration=judge.calibration,
                           summary=[_summary(m, outcomes) for m in methods], concepts=outcomes)
    return finish(result, render(result), "planted", out, journal)


def _mean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def _summary(method: ExplainMethod, outcomes: list[ConceptOutcome]) -> PlantedSummary:
    runs = [r for o in outcomes for r in o.runs if r.method == method]
    won = sum(bool(r.verdict and r.verdict.recovered) for r in runs)
    return PlantedSummary(method=method, recovered=won, concepts=len(outcomes), rate=round(won / max(1, len(outcomes)), 4),
                          mean_probe_score=_mean([r.probe_score for r in runs]),
                          mean_held_out_score=_mean([r.score for r in runs]),
                          mean_similarity=_mean([r.verdict.similarity if r.verdict else None for r in runs]))


def render(result: PlantedResult) -> str:
    fmt = report.fmt
    c = result.calibration
    md = report.header(f"Planted neurons ({len(result.concepts)} concepts, layer {result.layer})", result.info)
    md += report.table(["explainer", "recovered", "rate", "mean similarity to the concept", "mean probe score",
                        "mean held-out score"],
                       [[s.method, f"{s.recovered}/{s.concepts}", f"{s.rate:.0%}", fmt(s.mean_similarity, 3, False),
                         fmt(s.mean_probe_score), fmt(s.mean_held_out_score)] for s in result.summary])
    md += (f"\nJudge: MiniLM cosine to the concept description ≥ {c.threshold:.3f} (the {c.quantile:.0%} quantile of "
           f"{c.n_mismatched} mismatched text/description pairs, mean {c.mismatched_mean:.3f}; matched mean "
           f"{c.matched_mean:.3f}) and above every other concept. On the calibration texts: recall {c.recall:.0%}, "
           f"false positives {c.false_positive_rate:.1%}.\n\n")
    md += report.table(["concept", "neuron", "act. on concept words", "act. on others", "top-20 share"],
                       [[o.concept, o.neuron, fmt(o.concept_activation, 2, False), fmt(o.distractor_activation, 2, False),
                         f"{o.top_share:.0%}"] for o in result.concepts])
    md += "\n"
    rows = []
    for o in result.concepts:
        for r in o.runs:
            v = r.verdict
            rows.append([o.concept, r.method, "✓" if v and v.recovered else "✗",
                         "—" if v is None else f"{v.similarity:.2f} ({v.best_other} {v.best_other_similarity:.2f})",
                         fmt(r.probe_score), fmt(r.score), report.short(r.text if r.text else r.error)])
    md += report.table(["concept", "explainer", "named", "similarity (best other)", "probe score", "held-out",
                        "explanation"], rows)
    md += "\n" + report.cost_table(result.info.totals)
    return md

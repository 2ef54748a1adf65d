"""Eval 1: planted neurons (or latents). Each concept gets a neuron in a copy of the embedded model (or
`model`), or a latent of a planted dictionary on the unmodified model (`latent_planting.py`); an
explainer recovers it when the concept judge says its explanation names that concept (and no other).
A contextual concept whose held-out AUROC is under the floor cannot be planted at the layer: it is
reported, not explained, and left out of the recovery counts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console

from autointerp.agent import AgentConfig
from autointerp.config import EMBEDDED_MODEL, Settings
from autointerp.evals import report
from autointerp.evals.concepts import AnyConcept, Concept, ContextConcept, load_concepts
from autointerp.evals.judge import Judge
from autointerp.evals.latent_planting import plant_latents
from autointerp.evals.planting import (
    BASELINE_WORDS,
    PROBE_TEMPLATES,
    PlantedNeuron,
    marked_activations,
    marked_positions,
    plant,
    word_activations,
)
from autointerp.evals.records import (
    ConceptOutcome,
    PlantedResult,
    PlantedRun,
    PlantedSummary,
    PlantedUnits,
)
from autointerp.evals.runner import ensure_caches, finish, open_journal, open_llm, run_all, run_info
from autointerp.records import ActivationRecord, ExplainMethod, SimulatorName
from autointerp.scoring.simulation import defined, rounded, score_records
from autointerp.targets import Target, UnitSource
from autointerp.tools.probe import make_record, run_ids
from autointerp.workbench import Workbench

PROBE_TEXTS = 12  # texts with a concept word, and as many with a distractor in the same contexts


def distractors(concepts: list[AnyConcept], i: int, k: int, seed: int) -> list[str]:
    """k words from outside word-list concept i: half from the other word lists, half ordinary words."""
    rng = np.random.default_rng([seed, i, 2])
    others = [w for j, c in enumerate(concepts) if j != i and isinstance(c, Concept) for w in c.words]
    mine = {w.lower() for w in concepts[i].words}
    plain = [w for w in BASELINE_WORDS if w.lower() not in mine and w.lower() not in {o.lower() for o in others}]
    return ([others[j] for j in rng.choice(len(others), size=k - k // 2, replace=False)]
            + [plain[j] for j in rng.choice(len(plain), size=k // 2, replace=False)])


def probe_records(target: Target, layer: UnitSource | int, index: int, words: list[str]) -> list[ActivationRecord]:
    """One probe sentence per word (templates in turn): the unit's real activations on each token."""
    texts = [PROBE_TEMPLATES[k % len(PROBE_TEMPLATES)].replace("{w}", w) for k, w in enumerate(words)]
    seqs = [([target.bos_id] if target.prepend_bos else []) + target.encode(t) for t in texts]
    acts = run_ids(target, seqs, layer)
    return [make_record(target, s, a[:, index].tolist()) for s, a in zip(seqs, acts)]


def sentence_records(target: Target, layer: UnitSource | int, index: int,
                     concept: ContextConcept) -> list[ActivationRecord]:
    """The held-out positive and negative sentences, unmarked: the unit's real activations on each token."""
    sentences = concept.sentences("positive", held_out=True) + concept.sentences("negative", held_out=True)
    seqs = [marked_positions(target, s)[0] for s in sentences]
    acts = run_ids(target, seqs, layer)
    return [make_record(target, s, a[:, index].tolist()) for s, a in zip(seqs, acts)]


def _is_concept_token(token: str, concept: AnyConcept) -> bool:
    t = token.strip().lower()
    return any(t == w or t == w + "s" for w in concept.marked_words)


def _probe(target: Target, layer: UnitSource | int, pn: PlantedNeuron, concepts: list[AnyConcept], i: int,
           seed: int) -> tuple[list[ActivationRecord], float, float]:
    """(probe records, mean activation on the concept, on the rest): word lists in the probe templates,
    contextual concepts on the marked tokens of their held-out sentences."""
    concept = concepts[i]
    if isinstance(concept, ContextConcept):
        on = marked_activations(target, layer, pn.index, concept.sentences("positive", held_out=True))
        off = marked_activations(target, layer, pn.index, concept.sentences("negative", held_out=True))
        return sentence_records(target, layer, pn.index, concept), float(np.mean(on)), float(np.mean(off))
    distract = distractors(concepts, i, PROBE_TEXTS, seed)
    rng = np.random.default_rng([seed, i, 3])
    shown = [concept.words[j] for j in rng.choice(len(concept.words), size=min(PROBE_TEXTS, len(concept.words)),
                                                  replace=False)]
    records = probe_records(target, layer, pn.index, shown) + probe_records(target, layer, pn.index, distract)
    return (records, float(np.mean(word_activations(target, layer, pn.index, concept.words))),
            float(np.mean(word_activations(target, layer, pn.index, distract))))


def run_planted(concepts_path: Path | None, llm: str | None, methods: list[ExplainMethod], settings: Settings,
                layer: int = 3, max_steps: int = 8, simulator: SimulatorName = "embedding", command: str = "",
                console: Console | None = None, out: Path | None = None,
                model: str | None = None, units: PlantedUnits = "neurons") -> tuple[PlantedResult, str]:
    """Plant (neurons in a copy of `model`, default the embedded one; or latents of a dictionary on the
    model itself), cache, explain every planted unit with each explainer, judge; (result, Markdown),
    written to `out` when given (with a journal there, so a killed run resumes)."""
    t0 = time.perf_counter()
    concepts = load_concepts(concepts_path)
    judge = Judge(concepts)
    chat = open_llm(llm, methods, simulator, settings)
    if units == "latents":
        pd = plant_latents(concepts, layer, settings, model)
        wb = Workbench.open(model or EMBEDDED_MODEL, settings=settings, console=console, progress=console is not None)
        placed, ids, dictionary = pd.latents, [pd.unit(i) for i in range(len(pd.latents))], pd.name
        source, min_auroc = wb.source(ids[0]), pd.min_auroc
    else:
        planted = plant(concepts, layer, settings, model)
        wb = Workbench.open(planted.name, settings=settings, console=console, progress=console is not None)
        placed, ids, dictionary = planted.neurons, [f"L{layer}.N{pn.index}" for pn in planted.neurons], None
        source, min_auroc = wb.target.neurons(layer), planted.min_auroc
    target = wb.target
    cache_tokens = ensure_caches(wb, [source], console)
    cache = wb.cache(source, build=False)
    config = AgentConfig(max_steps=max_steps)
    name = "planted" if units == "neurons" else "planted-latents"
    journal = None if out is None else open_journal(
        out, name, model=target.name, llm=chat.name if chat else None, methods=methods, max_steps=max_steps,
        simulator=simulator, cache=cache_tokens, corpus=settings.corpus,
        **({"dictionary": dictionary} if dictionary else {}))
    outcomes = []
    for i, (concept, pn, neuron) in enumerate(zip(concepts, placed, ids)):
        if console is not None:
            console.print(f"[bold]{concept.name}[/] → {neuron}")
        records, on, off = _probe(target, source, pn, concepts, i, settings.seed)
        max_act = max([cache.max_activation(pn.index)] + [r.max_activation for r in records])
        top = cache.top(pn.index, 20)
        runs = []
        if not pn.plantable and console is not None:
            console.print(f"  cannot be planted at layer {layer}: held-out AUROC {pn.auroc:.2f} < "
                          f"{min_auroc}; not explained, left out of the counts")
        for r in run_all(wb, neuron, methods, chat, config, simulator, console, journal) if pn.plantable else []:
            run = PlantedRun(**r.model_dump())
            if r.text is not None:
                run.verdict = judge.judge(r.text, concept.name)
                run.probe_score = rounded(score_records(r.text, r.triggers, records, max_act, simulator, chat).value, 4)
            runs.append(run)
        outcomes.append(ConceptOutcome(
            concept=concept.name, description=concept.description, neuron=neuron, kind=pn.kind,
            concept_activation=round(on, 4), distractor_activation=round(off, 4),
            top_share=round(sum(_is_concept_token(r.max_token, concept) for r in top) / max(1, len(top)), 3),
            auroc=pn.auroc, plantable=pn.plantable, runs=runs))
    all_runs = [r for o in outcomes for r in o.runs]
    info = run_info("planted", command, target.name, chat, simulator, methods, max_steps, cache_tokens, settings, t0,
                    journal, all_runs)
    result = PlantedResult(info=info, planted_model=target.name, units=units, dictionary=dictionary, layer=layer,
                           calibration=judge.calibration,
                           summary=[_summary(m, outcomes, kind) for kind in _kinds(outcomes) for m in methods],
                           concepts=outcomes)
    return finish(result, render(result), name, out, journal)


def _mean(xs: list[float | None]) -> float | None:
    vals = defined(xs)
    return round(float(np.mean(vals)), 4) if vals else None


def _kinds(outcomes: list[ConceptOutcome]) -> list[str]:
    """Summary rows: all concepts, then word lists and contextual concepts apart when a file mixes them."""
    kinds = sorted({o.kind for o in outcomes}, key=["words", "context"].index)
    return ["all"] + kinds if len(kinds) > 1 else ["all"]


def _summary(method: ExplainMethod, outcomes: list[ConceptOutcome], kind: str = "all") -> PlantedSummary:
    """Recovery among the plantable concepts of a kind (those the layer cannot separate are left out)."""
    counted = [o for o in outcomes if o.plantable and kind in ("all", o.kind)]
    runs = [r for o in counted for r in o.runs if r.method == method]
    won = sum(bool(r.verdict and r.verdict.recovered) for r in runs)
    return PlantedSummary(method=method, kind=kind, recovered=won, concepts=len(counted),
                          rate=round(won / max(1, len(counted)), 4),
                          mean_probe_score=_mean([r.probe_score for r in runs]),
                          mean_held_out_score=_mean([r.score for r in runs]),
                          undefined_probe=sum(r.text is not None and r.probe_score is None for r in runs),
                          undefined_held_out=sum(r.text is not None and r.score is None for r in runs),
                          mean_similarity=_mean([r.verdict.similarity if r.verdict else None for r in runs]))


def _left_out(n: int) -> str:
    return f" ({n} undefined, left out)" if n else ""


def render(result: PlantedResult) -> str:
    fmt = report.fmt
    c = result.calibration
    what = "neurons" if result.units == "neurons" else f"latents of `{result.dictionary}`"
    md = report.header(f"Planted {what} ({len(result.concepts)} concepts, layer {result.layer})", result.info)
    kinds = {"all": "all", "words": "word lists", "context": "contextual"}
    md += report.table(["explainer", "concepts", "recovered", "rate", "mean similarity to the concept",
                        "mean probe score", "mean held-out score"],
                       [[s.method, kinds[s.kind], f"{s.recovered}/{s.concepts}", f"{s.rate:.0%}",
                         fmt(s.mean_similarity, 3, False),
                         fmt(s.mean_probe_score) + _left_out(s.undefined_probe),
                         fmt(s.mean_held_out_score) + _left_out(s.undefined_held_out)]
                        for s in result.summary])
    md += (f"\nJudge: MiniLM cosine to the concept description ≥ {c.threshold:.3f} (the {c.quantile:.0%} quantile of "
           f"{c.n_mismatched} mismatched text/description pairs, mean {c.mismatched_mean:.3f}; matched mean "
           f"{c.matched_mean:.3f}) and above every other concept. On the calibration texts: recall {c.recall:.0%}, "
           f"false positives {c.false_positive_rate:.1%}. Concepts sharing their marked words (contextual pairs): "
           "an explanation must also say which context, beyond the shared words, closer to its own description "
           "than to the sibling's.\n\n")
    skipped = [o for o in result.concepts if not o.plantable]
    if skipped:
        md += (f"Cannot be planted at layer {result.layer} (held-out AUROC under the floor; not explained, left out "
               f"of the counts): {', '.join(f'{o.concept} ({o.auroc:.2f})' for o in skipped)}.\n\n")
    md += report.table(["concept", result.units[:-1], "act. on concept", "act. on others",
                        "held-out AUROC", "top-20 share"],
                       [[o.concept, o.neuron, fmt(o.concept_activation, 2, False),
                         fmt(o.distractor_activation, 2, False), "—" if o.auroc is None else f"{o.auroc:.3f}",
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

"""Eval 3: output neurons. Neurons whose direct logit attribution is dominated by one token (as
L29.N720 promotes " an"): does the explanation say what the neuron predicts?

Selection: for every neuron of the chosen layers, DLA = W_out[n] ⊙ γ_final @ W_U over the whole
vocabulary; margin = (top1 − top2) / std. Only neurons whose top token is a nameable word (letters,
two or more) are kept, and the N largest margins are explained.

Judge: the top token, stripped and lower-cased, appears in the explanation quoted ("an", 'an', `an`),
or as a whole word when it is not a function word (so "an" in "fires on an article" does not count).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import torch
from rich.console import Console

from autointerp.agent import AgentConfig
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.evals import report
from autointerp.evals.records import OutputNeuron, OutputResult, OutputRun, OutputSummary
from autointerp.evals.runner import ensure_caches, finish, open_journal, open_llm, run_all, run_info
from autointerp.records import ExplainMethod, SimulatorName
from autointerp.targets import Target
from autointerp.workbench import Workbench

FUNCTION_WORDS = frozenset("""a an the of to in and or is it on for at by as with be that this from are was were
not but he she they we you his her its their our your i me him them us my who which what when where how all any
some no so if then than there here do does did has have had will would can could should may might must""".split())


def scan(target: Target, layers: list[int], n: int) -> list[OutputNeuron]:
    """The n neurons of `layers` whose nameable top DLA token stands out most."""
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    found: list[OutputNeuron] = []
    for layer in layers:
        target.check_layer(layer)
        dla = target.weight_dla(target.neurons(layer))  # [d_mlp, vocab], through every norm's gain and centring
        top = dla.topk(2, dim=1)
        margin = (top.values[:, 0] - top.values[:, 1]) / dla.std(dim=1)
        del dla
        for idx in torch.argsort(margin, descending=True).tolist():
            first = target.tokenizer.decode([int(top.indices[idx, 0])])
            if nameable(first):
                second = target.tokenizer.decode([int(top.indices[idx, 1])])
                found.append(OutputNeuron(neuron=f"L{layer}.N{idx}", top_token=first, second_token=second,
                                          margin=round(float(margin[idx]), 4)))
            if sum(o.neuron.startswith(f"L{layer}.") for o in found) >= n:
                break
    return sorted(found, key=lambda o: -o.margin)[:n]


def select(target: Target, layers: list[int], n: int, ranks: list[int] | None = None) -> list[OutputNeuron]:
    """The top n of `scan`, or the neurons at `ranks` (from 1) of its order."""
    if ranks is None:
        return scan(target, layers, n)
    keep = set(ranks)
    return [c for i, c in enumerate(scan(target, layers, max(ranks)), 1) if i in keep]


def nameable(token: str) -> bool:
    t = token.strip()
    return len(t) >= 2 and t.isalpha()


def names_token(text: str | None, token: str) -> bool:
    """Whether the explanation names the token the neuron predicts."""
    if not text:
        return False
    t = re.escape(token.strip().lower())
    low = text.lower()
    if re.search(rf"[\"'`‘“]\s*{t}\s*[\"'`’”]", low):
        return True
    return token.strip().lower() not in FUNCTION_WORDS and re.search(rf"\b{t}\b", low) is not None


def run_output(n: int, layers: list[int], llm: str | None, methods: list[ExplainMethod], settings: Settings,
               max_steps: int = 8, simulator: SimulatorName = "embedding", model: str | None = None,
               command: str = "", console: Console | None = None, out: Path | None = None,
               ranks: list[int] | None = None) -> tuple[OutputResult, str]:
    """Scan, cache, explain, judge; (result, Markdown), written to `out` when given (with a resume journal).
    `ranks` (from 1, by margin) explains those instead of the first n: a sample to develop a rule on
    apart from the one it is measured on."""
    t0 = time.perf_counter()
    if ranks is not None and (not ranks or min(ranks) < 1):
        raise InputError(f"--ranks count from 1, got {ranks[0] if ranks else 'none'}")
    wb = Workbench.open(model, settings=settings, console=console, progress=console is not None)
    target = wb.target
    candidates = select(target, layers, n, ranks)
    chat = open_llm(llm, methods, simulator, settings)
    cache_tokens = ensure_caches(wb, [int(c.neuron[1:].split(".")[0]) for c in candidates], console)
    config = AgentConfig(max_steps=max_steps)
    journal = None if out is None else open_journal(
        out, "output", model=target.name, llm=chat.name if chat else None, methods=methods, max_steps=max_steps,
        simulator=simulator, neurons=[c.neuron for c in candidates], cache=cache_tokens, corpus=settings.corpus)
    runs: list[OutputRun] = []
    for c in candidates:
        if console is not None:
            console.print(f"[bold]{c.neuron}[/] promotes {c.top_token!r} (margin {c.margin:.1f})", highlight=False)
        for r in run_all(wb, c.neuron, methods, chat, config, simulator, console, journal):
            runs.append(OutputRun(**r.model_dump(), named=names_token(r.text, c.top_token)))
    summary = []
    for m in methods:
        hits = sum(r.named for r in runs if r.method == m)
        summary.append(OutputSummary(method=m, named=hits, neurons=len(candidates),
                                     rate=round(hits / max(1, len(candidates)), 4)))
    info = run_info("output", command, target.name, chat, simulator, methods, max_steps, cache_tokens, settings, t0,
                    journal, runs)
    result = OutputResult(info=info, layers=layers, candidates=candidates, summary=summary, runs=runs,
                          ranks=ranks)
    return finish(result, render(result), "output", out, journal)


def render(result: OutputResult) -> str:
    which = f"top {len(result.candidates)}" if result.ranks is None else f"ranks {_span(result.ranks)}"
    md = report.header(f"Output neurons ({which} by DLA margin, layers "
                       f"{result.layers[0]}-{result.layers[-1]})", result.info)
    md += report.table(["explainer", "names the predicted token", "rate"],
                       [[s.method, f"{s.named}/{s.neurons}", f"{s.rate:.0%}"] for s in result.summary])
    md += "\n"
    rows = []
    for c in result.candidates:
        for r in (r for r in result.runs if r.neuron == c.neuron):
            rows.append([c.neuron, repr(c.top_token), f"{c.margin:.1f}", r.method, "✓" if r.named else "✗",
                         report.fmt(r.score), report.short(r.text if r.text else r.error)])
    md += report.table(["neuron", "top token", "margin", "explainer", "named", "held-out", "explanation"], rows)
    md += "\n" + report.cost_table(result.info.totals)
    return md


def _span(ranks: list[int]) -> str:
    return f"{ranks[0]}-{ranks[-1]}" if ranks == list(range(ranks[0], ranks[-1] + 1)) else ",".join(map(str, ranks))

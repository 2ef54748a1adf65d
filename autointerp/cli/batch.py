"""`autointerp batch | report`: overnight labelling (threads or Ray) and the layer report."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autointerp.cli.options import (
    RANGE_HELP,
    CorpusOpt,
    ExplainerOpt,
    HeuristicOpt,
    LlmOpt,
    ModelOpt,
    NeuronsOpt,
    check_llm,
    dictionary_name,
    explain_method,
    indices,
    needs_llm,
    precheck,
    workbench,
)
from autointerp.cli.output import err, lit, note
from autointerp.errors import InputError


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} neurons/h"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), TextColumn("{task.fields[tokens]:,} tokens {task.fields[cost]}"),
                    TextColumn("{task.fields[failed]} failed"), console=err)


def batch(
    layers: Annotated[Optional[str], typer.Option("--layers", "-l", help=f"layers whose neurons to explain: "
                                                                         f"{RANGE_HELP}")] = None,
    dictionary: Annotated[Optional[str], typer.Option("--dictionary", "-d", help="instead, a registered dictionary's "
                                                      "latents; dead and rare ones are skipped and recorded")] = None,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    neurons: NeuronsOpt = None,
    llm: LlmOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="neurons explained concurrently")] = 1,
    budget_tokens: Annotated[Optional[int], typer.Option("--budget-tokens", help="stop once spent")] = None,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", help="stop once spent")] = None,
    one_shot: Annotated[bool, typer.Option("--one-shot", help="the one-shot baseline instead of the agent")] = False,
    heuristic: HeuristicOpt = False,
    explainer: ExplainerOpt = None,
    triage_first: Annotated[bool, typer.Option("--triage-first", help="most related neurons first")] = False,
    top: Annotated[Optional[int], typer.Option("--top", help="with --triage-first: only the N most related")] = None,
    redo: Annotated[bool, typer.Option("--redo", help="explain again what is already stored")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="retry neurons that failed before")] = False,
    max_steps: Annotated[int, typer.Option("--max-steps", help="agent steps per neuron")] = 8,
    ray: Annotated[Optional[str], typer.Option("--ray", help="shard over Ray: 'local' or a cluster address")] = None,
) -> None:
    """Explain every selected neuron, resumably: stored neurons are skipped, a rerun continues."""
    from pydantic import ValidationError

    method = explain_method(one_shot, heuristic, explainer)
    if top is not None and not triage_first:
        raise InputError("--top needs --triage-first")
    if layers is None and dictionary is None:
        raise InputError("give --layers (their neurons) or --dictionary (a dictionary's latents)")
    if dictionary is not None:
        dictionary_name(dictionary)
    layer_list = indices(layers, "--layers") if layers is not None else []  # malformed: one error before loading
    precheck(model, layers=layer_list, neurons=indices(neurons, "--neurons") if neurons is not None else ())
    # BatchOptions' bounds, checked before the batch machinery (torch) loads; it checks them again
    for flag, value, ok, bounds in (("--workers", workers, 1 <= workers <= 64, "between 1 and 64"),
                                    ("--max-steps", max_steps, max_steps >= 1, ">= 1"),
                                    ("--budget-tokens", budget_tokens, budget_tokens is None or budget_tokens >= 1, ">= 1"),
                                    ("--budget-usd", budget_usd, budget_usd is None or budget_usd > 0, "> 0"),
                                    ("--top", top, top is None or top >= 1, ">= 1")):
        if not ok:
            raise InputError(f"bad {flag}: must be {bounds}, got {value}")
    if needs_llm(method):
        check_llm(llm)
    from autointerp.batch import BatchOptions, RayExecutor, ThreadExecutor, check, check_free, run_batch
    try:
        opts = BatchOptions(model=model, corpus=corpus, layers=layer_list, dictionary=dictionary, neurons=neurons, llm=llm,
                            workers=workers, budget_tokens=budget_tokens, budget_usd=budget_usd,
                            method=method,
                            triage_first=triage_first, top=top, redo=redo, retry_failed=retry_failed,
                            max_steps=max_steps)
    except ValidationError as e:
        first = e.errors()[0]
        raise InputError(f"bad --{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    wb = workbench(model, corpus)
    check(opts, wb)  # bad layers or neuron indices: one error before the progress bar
    check_free(opts, wb)  # another batch on these layers: likewise
    executor = (RayExecutor(ray, notify=lambda m: err.print(f"[yellow]{lit(m)}[/]", highlight=False, soft_wrap=True))
                if ray is not None else ThreadExecutor())
    stop = threading.Event()

    def on_sigint(*_) -> None:
        stop.set()
        err.print("stopping after the running neurons…")

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _progress() as progress:
        task = progress.add_task("batch", total=None, rate="—", tokens=0, cost="", failed=0)
        last = {"tokens": 0, "failed": 0}

        def update(p: dict) -> None:  # after each neuron: one line for it above the bar, and the bar
            what = "[red]failed[/]" if p["failed"] > last["failed"] else "stored"
            progress.console.print(f"{lit(p['neuron'])} {what} · {p['tokens'] - last['tokens']:,} tokens · "
                                   f"{p['done'] + p['failed']}/{p['total']}", highlight=False)
            last.update(tokens=p["tokens"], failed=p["failed"])
            elapsed = progress.tasks[0].elapsed or 1e-9
            cost = "" if p["cost_usd"] is None else f"${p['cost_usd']:.4f}"
            progress.update(task, total=p["total"], completed=p["done"] + p["failed"], tokens=p["tokens"],
                            rate=f"{3600 * p['done'] / elapsed:.0f}", cost=cost, failed=p["failed"])

        summary = run_batch(opts, on_progress=update, stop=stop, executor=executor, wb=wb)
    cost = "unknown cost" if summary.cost_usd is None else f"${summary.cost_usd:.4f}"
    waited = f"; waiting on the LLM {summary.llm_seconds:.0f} s of {summary.seconds:.0f} s" if summary.llm_seconds else ""
    idle = (f"{summary.skipped_dead} skipped as dead, {summary.skipped_rare} skipped as rare, "
            if opts.dictionary is not None else "")
    note(f"{summary.stopped}: {summary.done} explained, {summary.failed} failed, {summary.already_done} "
         f"already stored, {idle}{summary.skipped_failed} failed before (--retry-failed) of {summary.planned}; "
         f"{summary.neurons_per_hour:.0f} neurons/h, {summary.prompt_tokens + summary.completion_tokens:,} "
         f"tokens, {cost}{waited}")
    if summary.stages:  # a cascade: which units got which explainer, and what each stage cost
        note(f"{opts.method}: " + ", ".join(f"{n} by {stage} ({summary.stage_seconds.get(stage, 0):.0f} s)"
                                          for stage, n in summary.stages.items()))
    if summary.skipped_dead or summary.skipped_rare:
        note(f"dead and rare latents are not explained; each is recorded with its firing frequency under "
             f"{wb.settings.layout.batch_skipped_dir(summary.model)} (`autointerp report` counts them)")
    if summary.failed:  # a batch with failures is not a success, whatever else it did
        from autointerp.batch.failures import Failures

        failures = Failures(wb.settings, summary.model, summary.explainer, summary.prompt_version).dir
        err.print(f"[red]error:[/] {summary.failed} of {summary.done + summary.failed} neurons failed; their reasons "
                  f"are kept under {lit(failures)} (rerun with --retry-failed)", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def report(
    layer: Annotated[Optional[int], typer.Option("--layer", "-l", help="layer to report")] = None,
    dictionary: Annotated[Optional[str], typer.Option("--dictionary", "-d", help="instead, a dictionary's latents "
                                                      "(with how many batches skipped as dead and as rare)")] = None,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="directory (default $AUTOINTERP_HOME/reports/...)")] = None,
) -> None:
    """Write the layer's table (CSV, Markdown), plots (PNG) and an HTML index with a page per neuron."""
    from autointerp.fileio import check_writable

    if layer is None and dictionary is None:
        raise InputError("give --layer (its neurons) or --dictionary (a dictionary's latents)")
    if dictionary is not None:
        dictionary_name(dictionary)
    if out is not None:
        check_writable(out, directory=True)  # before the model loads
    precheck(model, layers=[] if layer is None else [layer])
    from autointerp.batch.report import skipped_of, write_report
    from autointerp.tools.triage import source_of

    wb = workbench(model, corpus)
    source = source_of(wb, layer, dictionary)
    out = out or wb.settings.data_dir / "reports" / wb.model / source.cache_name
    rows = write_report(wb, layer, out, dictionary=dictionary)
    sure = sum(r.confident for r in rows)
    what = "neurons" if dictionary is None else "latents"
    idle = ""
    if dictionary is not None:
        skipped = skipped_of(wb, source.id)
        idle = f"; skipped by batch: {skipped.dead} dead, {skipped.rare} rare"
    note(f"{len(rows)} {what} ({sure} confident, {len(rows) - sure} unconfident){idle}: {out / 'index.html'}")


def register(app: typer.Typer) -> None:
    app.command()(batch)
    app.command()(report)

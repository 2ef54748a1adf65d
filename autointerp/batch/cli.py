"""`autointerp batch` and `autointerp report`: thin over `autointerp.batch`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autointerp.errors import InputError

err = Console(stderr=True)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} neurons/h"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), TextColumn("{task.fields[tokens]:,} tokens {task.fields[cost]}"),
                    TextColumn("{task.fields[failed]} failed"), console=err)


def register(app: typer.Typer) -> None:
    @app.command()
    def batch(
        layers: Annotated[str, typer.Option("--layers", "-l", help="layers: 6 | 6,7 | 0-3")],
        model: Annotated[Optional[str], typer.Option("--model", "-m", help="target model")] = None,
        neurons: Annotated[Optional[str], typer.Option("--neurons", help="range per layer, e.g. 0:1536")] = None,
        llm: Annotated[Optional[str], typer.Option("--llm", help="local | openai:<m> | openai-compatible:<m>@<url>")] = None,
        workers: Annotated[int, typer.Option("--workers", help="neurons explained concurrently")] = 1,
        budget_tokens: Annotated[Optional[int], typer.Option("--budget-tokens", help="stop once spent")] = None,
        budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", help="stop once spent")] = None,
        one_shot: Annotated[bool, typer.Option("--one-shot", help="the one-shot baseline instead of the agent")] = False,
        heuristic: Annotated[bool, typer.Option("--heuristic", help="the seed's top-token explanations (no LLM)")] = False,
        triage_first: Annotated[bool, typer.Option("--triage-first", help="most related neurons first")] = False,
        top: Annotated[Optional[int], typer.Option("--top", help="with --triage-first: only the N most related")] = None,
        redo: Annotated[bool, typer.Option("--redo", help="explain again what is already stored")] = False,
        retry_failed: Annotated[bool, typer.Option("--retry-failed", help="retry neurons that failed before")] = False,
        max_steps: Annotated[int, typer.Option("--max-steps", help="agent steps per neuron")] = 8,
        ray: Annotated[Optional[str], typer.Option("--ray", help="shard over Ray: 'local' or a cluster address")] = None,
    ) -> None:
        """Explain every selected neuron, resumably: stored neurons are skipped, a rerun continues."""
        from autointerp.batch import BatchOptions, run_batch
        from autointerp.cli import parse_layers

        if one_shot and heuristic:
            raise InputError("choose one of --one-shot and --heuristic")
        if top is not None and not triage_first:
            raise InputError("--top needs --triage-first")
        try:
            opts = BatchOptions(model=model, layers=parse_layers(layers), neurons=neurons, llm=llm, workers=workers,
                                budget_tokens=budget_tokens, budget_usd=budget_usd,
                                method="one-shot" if one_shot else "heuristic" if heuristic else "agent",
                                triage_first=triage_first, top=top, redo=redo, retry_failed=retry_failed,
                                max_steps=max_steps)
        except ValueError as e:
            first = e.errors()[0]  # type: ignore[attr-defined]
            raise InputError(f"bad --{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
        from autointerp.batch.run import check
        from autointerp.config import get_settings

        check(opts, get_settings())
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: (stop.set(), err.print("stopping after the running neurons…")))
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with _progress() as progress:
            task = progress.add_task("batch", total=None, rate="—", tokens=0, cost="", failed=0)

            def update(p: dict) -> None:
                elapsed = progress.tasks[0].elapsed or 1e-9
                cost = "" if p["cost_usd"] is None else f"${p['cost_usd']:.4f}"
                progress.update(task, total=p["total"], completed=p["done"] + p["failed"], tokens=p["tokens"],
                                rate=f"{3600 * p['done'] / elapsed:.0f}", cost=cost, failed=p["failed"])

            if ray is not None:
                from autointerp.batch.ray_runner import run_batch_ray

                summary = run_batch_ray(opts, None if ray == "local" else ray, on_progress=update)
            else:
                summary = run_batch(opts, on_progress=update, stop=stop)
        cost = "unknown cost" if summary.cost_usd is None else f"${summary.cost_usd:.4f}"
        err.print(f"{summary.stopped}: {summary.done} explained, {summary.failed} failed, {summary.already_done} "
                  f"already stored, {summary.skipped_failed} failed before (--retry-failed) of {summary.planned}; "
                  f"{summary.neurons_per_hour:.0f} neurons/h, {summary.prompt_tokens + summary.completion_tokens:,} "
                  f"tokens, {cost}")
        if summary.failed and summary.done == 0:
            raise typer.Exit(1)

    @app.command()
    def report(
        layer: Annotated[int, typer.Option("--layer", "-l", help="layer to report")],
        model: Annotated[Optional[str], typer.Option("--model", "-m", help="target model")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="directory (default $AUTOINTERP_HOME/reports/...)")] = None,
    ) -> None:
        """Write the layer's table (CSV, Markdown), plots (PNG) and an HTML index with a page per neuron."""
        from autointerp.batch.report import write_report
        from autointerp.config import get_settings

        settings = get_settings()
        name = model or settings.model
        out = out or settings.data_dir / "reports" / name / f"layer{layer:02d}"
        rows = write_report(layer, out, model, settings)
        err.print(f"{len(rows)} neurons: {out / 'index.html'}")

"""Where eval results go: `<name>.json` (the pydantic record) and `<name>.md` (the table), written
atomically to `--out` (default `$AUTOINTERP_HOME/evals/`). Tables are the presentation layer's
(`report.table` is `present.markdown.table`)."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel

from autointerp.config import Settings
from autointerp.evals.records import ExplainerTotals
from autointerp.fileio import atomic_write_text
from autointerp.present.markdown import table


def out_dir(out: Path | None, settings: Settings) -> Path:
    return out if out is not None else settings.data_dir / "evals"


def write(result: BaseModel, markdown: str, name: str, out: Path) -> tuple[Path, Path]:
    """Both files, atomically; returns their paths."""
    js, md = out / f"{name}.json", out / f"{name}.md"
    atomic_write_text(js, result.model_dump_json(indent=2) + "\n")
    atomic_write_text(md, markdown)
    return js, md


def fmt(x: float | None, digits: int = 3, sign: bool = True) -> str:
    if x is None or math.isnan(x):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def short(text: str | None, n: int = 70) -> str:
    if text is None:
        return "(no explanation)"
    return text if len(text) <= n else text[: n - 1] + "…"


def cost_table(totals: list[ExplainerTotals]) -> str:
    rows = [[t.method, str(t.runs), str(t.failures), t.prompt_version, f"{t.prompt_tokens:,}",
             f"{t.completion_tokens:,}", "unknown" if t.cost_usd is None else f"${t.cost_usd:.4f}", f"{t.seconds:.0f}"]
            for t in totals]
    return table(["explainer", "runs", "failures", "prompt", "prompt tokens", "completion tokens", "cost", "seconds"], rows)


def header(title: str, info) -> str:
    """The lines every table starts with: the command, the LLM, the cache, the wall time."""
    budgets = " / ".join(f"{t:,}" for t in sorted(set(info.cache_tokens.values()))) or "no"
    return (f"## {title}\n\n`{info.command}`\n\n"
            f"Model `{info.model}`, explainer LLM `{info.llm or 'none'}`, simulator `{info.simulator}`, "
            f"agent max steps {info.max_steps}, caches of {budgets} tokens, seed {info.seed}; "
            f"{info.seconds / 60:.1f} min wall time ({info.started_at:%Y-%m-%d %H:%M} UTC)"
            + (f"; {info.resumed_runs} runs resumed from an interrupted invocation (their seconds are in the "
               "cost table)" if info.resumed_runs else "") + ".\n\n")

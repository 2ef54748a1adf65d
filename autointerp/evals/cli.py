"""`autointerp eval planted | real | output`: run an eval, write its JSON and Markdown, print the table."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from autointerp.errors import InputError

out = Console()
err = Console(stderr=True)

LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="explainer LLM: local | openai:<m> | openai-compatible:<m>@<url>")]
ExplainersOpt = Annotated[str, typer.Option("--explainers", help="comma-separated: heuristic, one-shot, agent")]
# 4, not the agent's 8: with the local LLM (~15 s a step on 2 cores) each eval then fits in 30 minutes.
StepsOpt = Annotated[int, typer.Option("--max-steps", help="agent steps at most")]
SimOpt = Annotated[str, typer.Option("--simulator", help="embedding (offline) or llm (the --llm model simulates)")]
TokensOpt = Annotated[Optional[int], typer.Option("--tokens", "-t", help="token budget for caches that must be built "
                                                  "(default AUTOINTERP_TOKENS); complete caches are reused")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="seed (default AUTOINTERP_SEED)")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="result folder (default $AUTOINTERP_HOME/evals/)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as one JSON object instead of the table")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="target model (default smollm2-135m)")]

ALL = "heuristic,one-shot,agent"


def _settings(tokens: int | None, seed: int | None):
    from autointerp.config import get_settings

    if tokens is not None and tokens < 1:
        raise InputError(f"--tokens must be a positive number of tokens, got {tokens}")
    update = {k: v for k, v in (("tokens", tokens), ("seed", seed)) if v is not None}
    return get_settings().model_copy(update=update)


def _check(max_steps: int, simulator: str) -> None:
    if max_steps < 1:
        raise InputError(f"--max-steps must be >= 1, got {max_steps}")
    if simulator not in ("embedding", "llm"):
        raise InputError(f"--simulator must be embedding or llm, got {simulator!r}")


def _prepare(max_steps: int, simulator: str, explainers: str, tokens: int | None, seed: int | None,
             out_dir: Path | None):
    """What every eval command checks and resolves first: (explainers, settings, result folder)."""
    from autointerp.evals import report
    from autointerp.evals.runner import parse_explainers

    _check(max_steps, simulator)
    methods = parse_explainers(explainers)
    settings = _settings(tokens, seed)
    return methods, settings, report.out_dir(out_dir, settings)


def _show(result, markdown: str, name: str, folder: Path, json_: bool) -> None:
    if json_:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        out.print(markdown, markup=False, highlight=False)
    err.print(f"wrote {folder / name}.json and {folder / name}.md", highlight=False)


def _command() -> str:
    return "autointerp " + shlex.join(sys.argv[1:])


def register(app: typer.Typer) -> None:
    evals = typer.Typer(no_args_is_help=True, help="Evals of the explainers: planted, real and output neurons.")
    app.add_typer(evals, name="eval")

    @evals.command()
    def planted(
        concepts: Annotated[Optional[Path], typer.Option("--concepts", help="JSON list of {name, description, words} "
                                                          "(default evals/concepts.json)")] = None,
        layer: Annotated[int, typer.Option("--layer", help="layer whose neurons are rewired")] = 3,
        llm: LlmOpt = None, explainers: ExplainersOpt = ALL, max_steps: StepsOpt = 4, simulator: SimOpt = "embedding",
        tokens: TokensOpt = None, seed: SeedOpt = None, out_dir: OutOpt = None, json_: JsonOpt = False,
    ) -> None:
        """Plant one neuron per concept in a copy of the embedded model; does each explainer name the concept?"""
        from autointerp.evals.planted import run_planted

        methods, settings, folder = _prepare(max_steps, simulator, explainers, tokens, seed, out_dir)
        result, md = run_planted(concepts, llm, methods, settings, layer, max_steps, simulator,  # type: ignore[arg-type]
                                 _command(), err, folder)
        _show(result, md, "planted", folder, json_)

    @evals.command()
    def real(
        n: Annotated[int, typer.Option("--n", "-n", help="neurons to sample")] = 16,
        layers: Annotated[str, typer.Option("--layers", "-l", help="layers to sample from: 0-29 | 3,6 | 6")] = "0-29",
        llm: LlmOpt = None, explainers: ExplainersOpt = ALL, max_steps: StepsOpt = 4, simulator: SimOpt = "embedding",
        llm_simulator: Annotated[str, typer.Option(
            "--llm-simulator", help="also score the same windows with llm-logprob | llm | none; auto = llm-logprob "
            "when the LLM is local (exact and cheap), none for an API (it bills per call)")] = "auto",
        model: ModelOpt = None, tokens: TokensOpt = None, seed: SeedOpt = None, out_dir: OutOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Mean held-out simulation score of each explainer on a seeded sample of neurons, with bootstrap CIs."""
        from autointerp.cli import parse_layers
        from autointerp.evals.real import run_real

        methods, settings, folder = _prepare(max_steps, simulator, explainers, tokens, seed, out_dir)
        if llm_simulator not in ("auto", "llm-logprob", "llm", "none"):
            raise InputError(f"--llm-simulator must be auto, llm-logprob, llm or none, got {llm_simulator!r}")
        if llm_simulator == "auto":
            llm_simulator = "llm-logprob" if (llm or settings.llm) == "local" else "none"
        result, md = run_real(n, parse_layers(layers), llm, methods, settings, max_steps, simulator,  # type: ignore[arg-type]
                              model, _command(), err, folder,
                              None if llm_simulator == "none" else llm_simulator)  # type: ignore[arg-type]
        _show(result, md, "real", folder, json_)

    @evals.command()
    def output(
        n: Annotated[int, typer.Option("--n", "-n", help="neurons to explain")] = 10,
        layers: Annotated[str, typer.Option("--layers", "-l", help="layers to scan")] = "20-29",
        llm: LlmOpt = None, explainers: ExplainersOpt = ALL, max_steps: StepsOpt = 4, simulator: SimOpt = "embedding",
        model: ModelOpt = None, tokens: TokensOpt = None, seed: SeedOpt = None, out_dir: OutOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Neurons whose top promoted token dominates: does the explanation name what the neuron predicts?"""
        from autointerp.cli import parse_layers
        from autointerp.evals.output import run_output

        methods, settings, folder = _prepare(max_steps, simulator, explainers, tokens, seed, out_dir)
        result, md = run_output(n, parse_layers(layers), llm, methods, settings, max_steps, simulator,  # type: ignore[arg-type]
                                model, _command(), err, folder)
        _show(result, md, "output", folder, json_)

"""`autointerp eval planted | real | output | compare`: run an eval, write its JSON and Markdown, print the table."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autointerp.cli.options import (
    RANGE_HELP,
    CorpusOpt,
    EvalSimulator,
    ExplainersOpt,
    LlmOpt,
    LlmSimulator,
    MaxStepsOpt,
    ModelOpt,
    explainers,
    indices,
)
from autointerp.cli.output import err, note, out
from autointerp.errors import InputError

EvalSimulatorOpt = Annotated[EvalSimulator, typer.Option("--simulator", help="embedding (offline), "
                                                         "embedding-v1 (offline, as before it read conditions) or llm "
                                                         "(the --llm model simulates)")]
EvalTokensOpt = Annotated[Optional[int], typer.Option("--tokens", "-t", help="token budget for caches that must be "
                                                      "built (default AUTOINTERP_TOKENS); complete caches are reused")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="seed (default AUTOINTERP_SEED)")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="result folder (default $AUTOINTERP_HOME/evals/)")]
EvalJsonOpt = Annotated[bool, typer.Option("--json", help="print the result as one JSON object instead of the table")]

LlmSimulatorOpt = Annotated[LlmSimulator, typer.Option(
    "--llm-simulator", help="also score the same windows with llm-logprob | llm | embedding-v1 (the offline "
    "simulator before it read conditions) | none; auto = llm-logprob when the LLM is local (exact and cheap), none "
    "for an API (it bills per call)")]
DictionaryOpt = Annotated[Optional[str], typer.Option("--dictionary", "-d", help="sample the live latents of this "
                                                      "registered dictionary instead of neurons (--layers is then "
                                                      "its layer)")]

ALL = "heuristic,one-shot,agent"
# 4, not the agent's 8: with the local LLM (~15 s a step on 2 cores) each eval then fits in 30 minutes.
STEPS = 4


def _prepare(max_steps: int, tokens: int | None, seed: int | None, out_dir: Path | None, corpus: str | None = None):
    """What every eval command checks and resolves first: (settings, result folder). `corpus` becomes the
    settings' corpus, so every workbench and cache the eval opens reads it."""
    from autointerp.config import get_settings

    if max_steps < 1:
        raise InputError(f"--max-steps must be >= 1, got {max_steps}")
    if tokens is not None and tokens < 1:
        raise InputError(f"--tokens must be a positive number of tokens, got {tokens}")
    if out_dir is not None:
        from autointerp.fileio import check_writable

        check_writable(out_dir, directory=True)
    if corpus is not None:
        from autointerp.corpus import resolve_corpus

        resolve_corpus(corpus)  # a missing corpus file: one error before anything heavy loads
    update = {k: v for k, v in (("tokens", tokens), ("seed", seed), ("corpus", corpus)) if v is not None}
    settings = get_settings().model_copy(update=update)
    return settings, out_dir if out_dir is not None else settings.data_dir / "evals"  # evals.report.out_dir, unloaded


def _show(result, markdown: str, name: str, folder: Path, json_: bool) -> None:
    if json_:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        out.print(markdown, markup=False, highlight=False)
    note(f"wrote {folder / name}.json and {folder / name}.md")


def _progress(json_: bool):
    """Where an eval shows its progress (cache builds, a live line per explainer run, a line per result):
    stderr, and nowhere with --json."""
    return None if json_ else err


def _command() -> str:
    return "autointerp " + shlex.join(sys.argv[1:])


def planted(
    concepts: Annotated[Optional[Path], typer.Option("--concepts", help="JSON list of {name, description, words} and "
                                                      "{name, description, positive, negative} concepts "
                                                      "(default evals/concepts.json)")] = None,
    layer: Annotated[int, typer.Option("--layer", help="layer whose neurons are rewired")] = 3,
    latents: Annotated[bool, typer.Option("--latents", help="plant one latent per concept in a dictionary (SAELens "
                                          "layout, registered under planted-<hash>) on the unmodified model, "
                                          "instead of neurons in a copy")] = False,
    llm: LlmOpt = None, explainers_: ExplainersOpt = ALL, max_steps: MaxStepsOpt = STEPS,
    simulator: EvalSimulatorOpt = EvalSimulator.embedding, tokens: EvalTokensOpt = None, seed: SeedOpt = None,
    model: ModelOpt = None, corpus: CorpusOpt = None, out_dir: OutOpt = None, json_: EvalJsonOpt = False,
) -> None:
    """Plant one neuron per concept in a copy of the embedded model (or --model, a Hugging Face directory;
    --latents: one latent per concept in a dictionary); does each explainer name the concept?"""
    from autointerp.evals.concepts import load_concepts

    settings, folder = _prepare(max_steps, tokens, seed, out_dir, corpus)
    load_concepts(concepts)  # a bad concepts file: one error before anything heavy loads
    from autointerp.evals.planted import run_planted

    result, md = run_planted(concepts, llm, explainers(explainers_), settings, layer,  # type: ignore[arg-type]
                             max_steps, simulator.value, _command(), _progress(json_), folder,  # type: ignore[arg-type]
                             model=model, units="latents" if latents else "neurons")
    _show(result, md, "planted-latents" if latents else "planted", folder, json_)


def real(
    n: Annotated[int, typer.Option("--n", "-n", help="neurons to sample (48 covers every layer of a 30-layer "
                                   "model)")] = 48,
    layers: Annotated[str, typer.Option("--layers", "-l", help=f"layers to sample from: {RANGE_HELP}")] = "0-29",
    llm: LlmOpt = None, explainers_: ExplainersOpt = ALL, max_steps: MaxStepsOpt = STEPS,
    simulator: EvalSimulatorOpt = EvalSimulator.embedding,
    llm_simulator: LlmSimulatorOpt = LlmSimulator.auto,
    dictionary: DictionaryOpt = None,
    model: ModelOpt = None, corpus: CorpusOpt = None, tokens: EvalTokensOpt = None, seed: SeedOpt = None,
    out_dir: OutOpt = None, json_: EvalJsonOpt = False,
) -> None:
    """Mean held-out simulation score of each explainer on seeded neurons (or live latents), with bootstrap CIs."""
    from functools import partial

    from autointerp.evals.real import run_real

    if dictionary is not None:
        _check_dictionary(dictionary)
    _sampled("real", partial(run_real, dictionary=dictionary), n, layers, llm, explainers_, max_steps, simulator,
             model, corpus, tokens, seed, out_dir, json_, _second(llm_simulator, llm))


def _second(llm_simulator: LlmSimulator, llm: str | None) -> str | None:
    """The second simulator of the real eval: auto = llm-logprob for the local LLM, none for an API."""
    if llm_simulator == LlmSimulator.auto:
        from autointerp.llm import is_local

        return "llm-logprob" if is_local(llm) else None
    return None if llm_simulator == LlmSimulator.none else llm_simulator.value


def _check_dictionary(name: str) -> None:
    from autointerp.dictionaries.registry import check_name

    check_name(name)  # a malformed name: one error before the model loads


def compare(
    dictionary: Annotated[str, typer.Option("--dictionary", "-d", help="registered dictionary whose latents are "
                                            "compared with the neurons of its layer")],
    layer: Annotated[Optional[int], typer.Option("--layer", help="the layer (must be the dictionary's; default: "
                                                 "its own)")] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="neurons, and live latents, to sample")] = 48,
    llm: LlmOpt = None, explainers_: ExplainersOpt = ALL, max_steps: MaxStepsOpt = STEPS,
    simulator: EvalSimulatorOpt = EvalSimulator.embedding, llm_simulator: LlmSimulatorOpt = LlmSimulator.none,
    model: ModelOpt = None, corpus: CorpusOpt = None, tokens: EvalTokensOpt = None, seed: SeedOpt = None,
    out_dir: OutOpt = None, json_: EvalJsonOpt = False,
) -> None:
    """Neurons vs latents of one layer: the real eval on both, one table of held-out means and CIs."""
    _check_dictionary(dictionary)
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    settings, folder = _prepare(max_steps, tokens, seed, out_dir, corpus)
    from autointerp.evals.compare import run_compare

    result, md = run_compare(dictionary, layer, n, llm, explainers(explainers_), settings,  # type: ignore[arg-type]
                             max_steps, simulator.value, model, _command(), _progress(json_), folder,  # type: ignore[arg-type]
                             _second(llm_simulator, llm))  # type: ignore[arg-type]
    _show(result, md, "compare", folder, json_)


def output(
    n: Annotated[int, typer.Option("--n", "-n", help="neurons to explain")] = 10,
    layers: Annotated[str, typer.Option("--layers", "-l", help=f"layers to scan: {RANGE_HELP}")] = "20-29",
    llm: LlmOpt = None, explainers_: ExplainersOpt = ALL, max_steps: MaxStepsOpt = STEPS,
    simulator: EvalSimulatorOpt = EvalSimulator.embedding,
    model: ModelOpt = None, corpus: CorpusOpt = None, tokens: EvalTokensOpt = None, seed: SeedOpt = None,
    out_dir: OutOpt = None, json_: EvalJsonOpt = False,
    ranks: Annotated[str | None, typer.Option(
        "--ranks", help=f"explain these margin ranks (from 1) instead of the top --n: {RANGE_HELP}; "
                        "e.g. 11-20, a sample apart from the top 10")] = None,
) -> None:
    """Neurons whose top promoted token dominates: does the explanation name what the neuron predicts?"""
    from autointerp.evals.output import run_output

    _sampled("output", run_output, n, layers, llm, explainers_, max_steps, simulator, model, corpus, tokens, seed,
             out_dir, json_, None if ranks is None else indices(ranks, "--ranks"))


def _sampled(name: str, run, n, layers, llm, explainers_, max_steps, simulator, model, corpus, tokens, seed, out_dir,
             json_, *extra) -> None:
    """`real` and `output`: neurons drawn from a layer range, explained by each explainer."""
    layer_list = indices(layers, "--layers")
    settings, folder = _prepare(max_steps, tokens, seed, out_dir, corpus)
    result, md = run(n, layer_list, llm, explainers(explainers_), settings, max_steps, simulator.value, model,
                     _command(), _progress(json_), folder, *extra)
    _show(result, md, name, folder, json_)


def register(app: typer.Typer) -> None:
    evals = typer.Typer(no_args_is_help=True, help="Evals of the explainers: planted, real and output neurons; "
                        "planted and real latents; neurons vs latents.")
    for command in (planted, real, output, compare):
        evals.command()(command)
    app.add_typer(evals, name="eval")

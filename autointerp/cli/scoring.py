"""`autointerp score`: score an explanation of a neuron (simulation, detection or counterfactual)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autointerp.cli.options import (
    CorpusOpt,
    JsonOpt,
    LlmOpt,
    Method,
    ModelOpt,
    NeuronArg,
    Simulator,
    SimulatorOpt,
    Split,
    at_least,
    neuron_id,
    precheck,
    workbench,
)
from autointerp.cli.output import emit_json, lit, out


def score(
    neuron: NeuronArg,
    explanation: Annotated[str, typer.Argument(help="the explanation to score")],
    method: Annotated[Method, typer.Option("--method", help="simulation, detection or counterfactual")] = Method.simulation,
    n: Annotated[int, typer.Option("-n", help="texts per side for detection / counterfactual")] = 5,
    simulator: SimulatorOpt = Simulator.embedding,
    llm: LlmOpt = None,
    triggers: Annotated[Optional[str], typer.Option("--triggers", help="comma-separated trigger words/phrases")] = None,
    top: Annotated[int, typer.Option("--top", help="held-out top windows to score on")] = 5,
    random_: Annotated[int, typer.Option("--random", help="random windows to score on")] = 5,
    split: Annotated[Split, typer.Option("--split", help="top-and-random or random-only")] = Split.top_and_random,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score an explanation: simulate activations on held-out windows and correlate with the real ones."""
    from autointerp.errors import InputError

    precheck(model, neuron_id(neuron))  # malformed input: one error before anything loads
    if not explanation.strip():
        raise InputError("the explanation is empty")
    at_least(n, 1, "-n")
    at_least(top, 0, "--top")
    at_least(random_, 0, "--random")
    if top == random_ == 0:
        raise InputError("--top and --random are both 0: nothing to score on")
    trig = [t for t in (triggers or "").split(",") if t.strip()]
    chat = None
    if simulator in (Simulator.llm, Simulator.llm_logprob) or method != Method.simulation:
        from autointerp.llm import make_llm

        chat = make_llm(llm)  # a bad --llm fails before the model loads
    from autointerp.scoring.simulation import simulation_score

    wb = workbench(model, corpus)
    if method == Method.simulation:
        res = simulation_score(wb, neuron, explanation, simulator.value, trig, top, random_, split.value,  # type: ignore[arg-type]
                               llm=chat)
    else:
        from autointerp.scoring.llm_methods import counterfactual_score, detection_score

        run = detection_score if method == Method.detection else counterfactual_score
        res = run(wb, neuron, explanation, chat, n)  # type: ignore[arg-type]
    if json_:
        return emit_json(res)
    windows = "held-out windows" if res.method != "counterfactual" else "generated texts"
    out.print(f"[bold]{lit(res.neuron)}[/] score [bold]{res.value:+.4f}[/] " + lit(
        f"({res.method}, simulator {res.simulator}, {res.n_examples} {windows}, {res.n_tokens} tokens, "
        f"split {res.split.kind}, LLM tokens {res.prompt_tokens} prompt + {res.completion_tokens} completion)"))
    if res.per_example:
        out.print("per example: " + ", ".join("—" if c is None else f"{c:+.2f}" for c in res.per_example))
    if res.details:
        out.print(lit("  ".join(f"{k} {v:.4f}" for k, v in res.details.items())))


def register(app: typer.Typer) -> None:
    app.command()(score)

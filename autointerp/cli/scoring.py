"""`autointerp score`: score an explanation of a neuron (simulation, detection, fuzzing or counterfactual)."""

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
    Rule,
    Simulator,
    SimulatorOpt,
    Split,
    at_least,
    neuron_id,
    precheck,
    workbench,
)
from autointerp.cli.output import emit_json, lit, note, out
from autointerp.errors import InputError
from autointerp.present.scores import describe, figures_text, per_example_text, value_text
from autointerp.records import ScoreOptions


def score(
    neuron: NeuronArg,
    explanation: Annotated[str, typer.Argument(help="the explanation to score")],
    method: Annotated[Method, typer.Option("--method", help="simulation, detection, fuzzing or counterfactual")] = Method.simulation,
    rule: Annotated[Rule, typer.Option("--rule", help="simulation: correlate with raw activations (OpenAI's "
                                       "convention) or the old relu-discretised 0-10 values")] = Rule.raw,
    n: Annotated[Optional[int], typer.Option("-n", help="examples per side: detection / fuzzing positives and "
                                             "negatives (default 50), counterfactual texts (default 5)")] = None,
    quantiles: Annotated[int, typer.Option("--quantiles", help="detection / fuzzing: quantiles of activating "
                                           "windows the positives are spread over")] = 10,
    example_len: Annotated[int, typer.Option("--example-len", help="detection / fuzzing: tokens per example")] = 32,
    fire_threshold: Annotated[Optional[float], typer.Option("--fire-threshold", help="detection / fuzzing: a "
                                                            "token fires above this fraction of the unit's max "
                                                            "(default 0.1 for neurons; above 0 for dictionary "
                                                            "latents, delphi's rule)")] = None,
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
    """Score an explanation: simulate activations on held-out windows and correlate with the real ones
    (`--json` lists every window with what was correlated), or classify held-out examples (detection,
    fuzzing), or run texts the LLM writes (counterfactual)."""
    precheck(model, neuron_id(neuron))  # malformed input: one error before anything loads
    if not explanation.strip():
        raise InputError("the explanation is empty")
    if n is not None:
        at_least(n, 1, "-n")
    at_least(top, 0, "--top")
    at_least(random_, 0, "--random")
    if top == random_ == 0:
        raise InputError("--top and --random are both 0: nothing to score on")
    trig = [t for t in (triggers or "").split(",") if t.strip()]
    opts = ScoreOptions(simulator=simulator.value, rule=rule.value, triggers=trig, top=top, random=random_,
                        split=split.value, n=n, quantiles=quantiles, example_len=example_len,
                        fire_threshold=fire_threshold)
    from autointerp.scoring.registry import get_scorer, run_scorer

    scorer = get_scorer(method.value)
    scorer.check(opts)
    chat = None
    if scorer.needs_llm(opts):
        from autointerp.llm import make_llm

        chat = make_llm(llm)  # a bad --llm fails before the model loads
    res = run_scorer(scorer, workbench(model, corpus), neuron, explanation, opts, chat)
    if json_:
        return emit_json(res)
    _print(res)


def _print(res) -> None:
    for line in res.notes:
        note(f"note: {line}")
    out.print(f"[bold]{lit(res.neuron)}[/] score [bold]{value_text(res.value)}[/] " + lit(
        f"({describe(res)}, LLM tokens {res.prompt_tokens} prompt + {res.completion_tokens} completion)"),
        soft_wrap=True)
    if res.per_example:
        out.print("per window: " + per_example_text(res), soft_wrap=True)
    if figures := figures_text(res):
        out.print(lit(figures), soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(score)

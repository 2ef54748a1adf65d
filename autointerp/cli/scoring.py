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

# -n defaults: delphi's 50 examples a side for detection and fuzzing; 5 texts a side for counterfactual.
N_DEFAULT = {"detection": 50, "fuzzing": 50, "counterfactual": 5}


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:+.4f}"


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
    fire_threshold: Annotated[float, typer.Option("--fire-threshold", help="detection / fuzzing: a token fires "
                                                  "above this fraction of the neuron's max")] = 0.1,
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
    from autointerp.errors import InputError

    precheck(model, neuron_id(neuron))  # malformed input: one error before anything loads
    if not explanation.strip():
        raise InputError("the explanation is empty")
    size = N_DEFAULT.get(method.value, 0) if n is None else at_least(n, 1, "-n")
    at_least(top, 0, "--top")
    at_least(random_, 0, "--random")
    if top == random_ == 0:
        raise InputError("--top and --random are both 0: nothing to score on")
    cfg = None
    if method in (Method.detection, Method.fuzzing):
        from autointerp.scoring.sample import SampleConfig

        cfg = SampleConfig(n_positive=size, n_quantiles=quantiles, n_negative=size, example_len=example_len,
                           fire_threshold=fire_threshold)
        cfg.check()
    trig = [t for t in (triggers or "").split(",") if t.strip()]
    chat = None
    if simulator in (Simulator.llm, Simulator.llm_logprob) or method != Method.simulation:
        from autointerp.llm import make_llm

        chat = make_llm(llm)  # a bad --llm fails before the model loads
    from autointerp.scoring.simulation import simulation_score

    wb = workbench(model, corpus)
    if method == Method.simulation:
        res = simulation_score(wb, neuron, explanation, simulator.value, trig, top, random_, split.value,  # type: ignore[arg-type]
                               llm=chat, rule=rule.value)  # type: ignore[arg-type]
    elif cfg is not None:
        from autointerp.scoring.llm_methods import classifier_score

        res = classifier_score(wb, neuron, explanation, chat, method.value, cfg)  # type: ignore[arg-type]
    else:
        from autointerp.scoring.llm_methods import counterfactual_score

        res = counterfactual_score(wb, neuron, explanation, chat, size)  # type: ignore[arg-type]
    if json_:
        return emit_json(res)
    _print(res)


def _print(res) -> None:
    for line in res.notes:
        note(f"note: {line}")
    if res.method == "simulation":
        what = (f"simulation, rule {res.rule}, simulator {res.simulator}, {res.n_examples} held-out windows, "
                f"{res.n_tokens} tokens, split {res.split.kind}")
    elif res.method == "counterfactual":
        what = f"counterfactual F1, {res.n_examples} generated texts"
    else:
        d = res.details
        what = (f"{res.method} balanced accuracy, {int(d['positives'])} positives + {int(d['negatives'])} negatives "
                f"of {d['example_len']:.0f} tokens")
    out.print(f"[bold]{lit(res.neuron)}[/] score [bold]{_fmt(res.value)}[/] " + lit(
        f"({what}, LLM tokens {res.prompt_tokens} prompt + {res.completion_tokens} completion)"), soft_wrap=True)
    if res.per_example:
        out.print("per window: " + ", ".join("—" if c is None else f"{c:+.2f}" for c in res.per_example),
                  soft_wrap=True)
    if res.method in ("detection", "fuzzing"):
        d = res.details
        out.print(lit(f"F1 {d['f1']:.4f}  precision {d['precision']:.4f}  recall {d['recall']:.4f}  "
                      f"true negative rate {d['true_negative_rate']:.4f}  failed {d['failed']:.0f}"), soft_wrap=True)
    elif res.details:
        out.print(lit("  ".join(f"{k} {v:.4f}" for k, v in res.details.items())), soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(score)

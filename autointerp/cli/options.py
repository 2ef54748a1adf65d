"""The options every command group shares, the Enums typer validates choices with, the one range
grammar for `--layers` / `--neurons`, and the workbench each command opens at the edge.

Kept light: nothing here imports torch, so `autointerp --help` and usage errors stay fast."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, get_args

import typer

from autointerp import records
from autointerp.cli.output import err
from autointerp.errors import InputError
from autointerp.ranges import parse_indices

if TYPE_CHECKING:
    from autointerp.workbench import Workbench

# ---- choices: Enums made from the library's Literals (records.py), so the two cannot drift ----


def _choices(name: str, literal, values: tuple[str, ...] | None = None) -> type[Enum]:
    """A str Enum typer validates against; member names are the values with '-' as '_'."""
    return Enum(name, {v.replace("-", "_"): v for v in (values or get_args(literal))}, type=str)  # type: ignore[return-value]


Source = _choices("Source", records.SynonymSource)
Mode = _choices("Mode", records.ContextMode)
Method = _choices("Method", records.ScoreMethod)
Rule = _choices("Rule", records.ScoreRule)
Split = _choices("Split", records.SplitKind)
Simulator = _choices("Simulator", records.SimulatorName)
EvalSimulator = _choices("EvalSimulator", records.SimulatorName, ("embedding", "embedding-v1", "llm"))
# `eval real --llm-simulator`: a second simulator on the same windows, `auto` or `none`.
LlmSimulator = _choices("LlmSimulator", None, ("auto", "llm-logprob", "llm", "embedding-v1", "none"))
ExportFormat = _choices("ExportFormat", records.ExportFormat)
Kind = _choices("Kind", records.UnitKind)


def dictionary_name(name: str) -> str:
    """A dictionary name checked before anything heavy loads (the same rule as `sae add`)."""
    if not records.DICTIONARY_NAME.match(name or ""):
        raise InputError(f"malformed dictionary name {name!r}: lowercase letters, digits and dashes, e.g. res4k")
    return name


# ---- the one range grammar ----

RANGE_HELP = "N, A-B (inclusive) or A:B (end exclusive), comma-separated: 6 | 6,7 | 0-3 | 0:100 | 0-3,10"


def indices(spec: str, flag: str) -> list[int]:
    """`--layers` / `--neurons` through `autointerp.ranges.parse_indices`; malformed: one InputError
    naming the flag (an `error:` line, exit 2)."""
    return parse_indices(spec, flag)


def explainers(spec: str) -> list[str]:
    """`--explainers heuristic,agent`: a comma-separated subset of the registered explainers, returned
    cheapest first. The registry loads the agent (torch): asked only once the command runs, never for --help."""
    from autointerp.agent.explainers import explainer_names, parse_explainers
    from autointerp.errors import InputError

    try:
        return parse_explainers(spec)
    except InputError:
        raise typer.BadParameter(f"takes a comma-separated subset of {', '.join(explainer_names())}; "
                                 f"got {spec!r}") from None


def _check_explainers(value: str) -> str:
    explainers(value)
    return value


def _check_explainer(value: str | None) -> str | None:
    """`--explainer NAME`: one registered explainer."""
    if value is not None and ("," in value or len(explainers(value)) != 1):
        raise typer.BadParameter(f"takes one explainer's name; got {value!r}")
    return value


# ---- shared options ----

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="target model (default smollm2-135m)")]
CorpusOpt = Annotated[Optional[str], typer.Option("--corpus", help="embedded, a .txt/.jsonl file, or a HF dataset")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]
LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="local | openai:<model> | openai-compatible:<model>@<url>")]
TokensOpt = Annotated[Optional[int], typer.Option("--tokens", "-t", help="token budget (default AUTOINTERP_TOKENS, "
                                                  "131072)")]
NeuronArg = Annotated[str, typer.Argument(help="neuron id: L6.N74, 6.74 or 6/74")]
LayersOpt = Annotated[str, typer.Option("--layers", "-l", help=f"layers: {RANGE_HELP}")]
NeuronsOpt = Annotated[Optional[str], typer.Option("--neurons", help=f"neuron indices per layer: {RANGE_HELP} "
                                                   "(default all)")]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", help="agent steps at most")]
OneShotOpt = Annotated[bool, typer.Option("--one-shot", help="OpenAI-style baseline: top examples once, no tools")]
HeuristicOpt = Annotated[bool, typer.Option("--heuristic", help="the seed paper's top-unique-tokens explanation, "
                                            "no LLM")]
SimulatorOpt = Annotated[Simulator, typer.Option("--simulator", help="embedding (offline default; reads the context "
                                                 "a condition names), embedding-v1 (the same without conditions), "
                                                 "lexical, llm, llm-logprob")]
HtmlOpt = Annotated[Optional[Path], typer.Option("--html", help="write a self-contained HTML page")]
ExplainersOpt = Annotated[str, typer.Option("--explainers", callback=_check_explainers,
                                            help="comma-separated subset of the explainers: heuristic, one-shot, "
                                            "agent, and any registered")]
ExplainerOpt = Annotated[Optional[str], typer.Option("--explainer", callback=_check_explainer,
                                                     help="a registered explainer by name (default agent; "
                                                     "--one-shot and --heuristic name the baselines)")]
ChromaUrlOpt = Annotated[Optional[str], typer.Option("--chroma-url", help="a Chroma server, e.g. http://localhost:8000 "
                                                     "(default: AUTOINTERP_CHROMA_URL, else the local store)")]
ConfidentOpt = Annotated[Optional[bool], typer.Option("--confident/--unconfident", help="only explanations marked "
                                                    "confident (--unconfident: only the others); default both")]


def at_least(value: int, low: int, flag: str) -> int:
    """A numeric option checked before anything loads: one error naming the flag and the value."""
    from autointerp.errors import InputError

    if value < low:
        raise InputError(f"{flag} must be >= {low}, got {value}")
    return value


def neuron_id(spec: str):
    """The neuron argument parsed before the model loads (malformed: one error naming it)."""
    from autointerp.records import UnitId

    return UnitId.parse(spec)


def precheck(model: str | None, neuron=None, layers: list[int] = (), neurons: list[int] = ()) -> None:  # type: ignore[assignment]
    """Out-of-range layers, neuron indices or neuron ids fail before the model loads, when its shape can
    be read from a config file (the embedded model, tiny-random, a local directory, the HF cache);
    otherwise the loaded target checks them (`Target.check`, same messages)."""
    from autointerp.config import get_settings
    from autointerp.errors import AutointerpError, InputError
    from autointerp.ranges import check_within
    from autointerp.store.shapes import model_shape

    settings = get_settings()
    name = model or settings.model
    try:
        n_layers, d_mlp = model_shape(name, settings)
    except AutointerpError:
        return
    for layer in [*layers, *([neuron.layer] if neuron is not None else [])]:
        if not 0 <= layer < n_layers:
            raise InputError(f"layer {layer} is out of range for {name}: layers are 0..{n_layers - 1}")
    if neuron is not None and neuron.dictionary is None and not 0 <= neuron.index < d_mlp:
        raise InputError(f"neuron {neuron} is out of range for {name}: neurons are 0..{d_mlp - 1} per layer")
    check_within(list(neurons), d_mlp, "neuron")


def check_llm(spec: str | None) -> None:
    """A malformed `--llm` (or AUTOINTERP_LLM) fails before the model loads; the backend checks its spec
    without loading anything (the local model is not loaded here)."""
    from autointerp.llm import check_llm as check

    check(spec)


def explain_method(one_shot: bool, heuristic: bool, explainer: str | None = None) -> str:
    """`--one-shot` / `--heuristic` / `--explainer NAME` / none of them: the explainer's name."""
    from autointerp.errors import InputError

    if one_shot and heuristic:
        raise InputError("choose one of --one-shot and --heuristic")
    if explainer is not None and (one_shot or heuristic):
        raise InputError("choose one of --explainer, --one-shot and --heuristic")
    return explainer or ("one-shot" if one_shot else "heuristic" if heuristic else "agent")


def needs_llm(method: str) -> bool:
    """Whether the named explainer needs an LLM (the registry loads torch: call it once the command runs)."""
    from autointerp.agent.explainers import get_explainer

    return get_explainer(method).needs_llm


def workbench(model: str | None, corpus: str | None = None) -> Workbench:
    """The command's one workbench: target loaded once, corpus bound, progress on stderr."""
    from autointerp.workbench import Workbench

    return Workbench.open(model, corpus, console=err)

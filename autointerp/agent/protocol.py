"""What an explainer is: a class with a name, whether it needs an LLM, the version of its prompts, and
`explain(ctx) -> Proposal`. It works on one neuron's `Session` (the explain windows it may read, the
experiments, validation scoring) and proposes a validated candidate; `autointerp.agent.explain.explain`
does the rest for every explainer alike (the LLM, the transcript, the held-out score, the record)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from autointerp.agent.loop import AgentConfig, StopReason
from autointerp.agent.session import Candidate, Session
from autointerp.agent.transcript import Transcript
from autointerp.llm import LLM, LLMError
from autointerp.records import ExplanationKind


class ExplanationFailed(LLMError):
    """The explainer produced nothing usable as an explanation."""


@dataclass
class ExplainContext:
    """What an explainer works with. `llm` is None for an explainer that needs none; `store` is the
    explanation store (the agent's search tool reads it), None when there is none."""

    session: Session
    llm: LLM | None
    transcript: Transcript
    config: AgentConfig
    store: object | None = None


@dataclass
class Proposal:
    """An explainer's answer: the chosen candidate (made by `session.validate`, so it carries its
    validation score) is what the held-out split scores. `text` and `kind`, when given, are what the
    record says instead (the agent appends what the neuron promotes); `steps` and `stop` describe a loop;
    `stage`: which of its explainers a composite one (the cascade) took this answer from."""

    chosen: Candidate
    steps: int = 0
    stop: StopReason | None = None
    text: str | None = None
    kind: ExplanationKind | None = None
    stage: str | None = None


@runtime_checkable
class Explainer(Protocol):
    name: str  # what records and the CLI call it: --explainers <name>
    needs_llm: bool  # False: the runner makes no LLM and ctx.llm is None
    prompt_version: str  # recorded with every explanation; a new version is a new batch key
    # Optional: `first_phase`, what the status line says the run does first (default: "asking the
    # LLM" when it needs one, else "explaining").

    def explain(self, ctx: ExplainContext) -> Proposal:
        """Propose the neuron's explanation; raise ExplanationFailed when there is none."""


def first_phase(explainer: Explainer) -> str:
    """What the status line says a run of `explainer` does first: its optional `first_phase`, else
    whether it asks an LLM."""
    return getattr(explainer, "first_phase", None) or ("asking the LLM" if explainer.needs_llm else "explaining")

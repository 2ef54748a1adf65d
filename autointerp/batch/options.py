"""What a batch is asked to do; the driver (`batch.run`) and the executors (`batch.executors`) both read it."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from autointerp.agent.explainers import get_explainer
from autointerp.records import ExplainMethod, SimulatorName


class BatchOptions(BaseModel):
    model: str | None = None
    corpus: str | None = Field(default=None, description="the corpus whose caches are read (default the settings')")
    layers: list[int]
    neurons: str | None = Field(default=None, description="indices per layer, e.g. 0:1536 or 0-9,20 (default all)")
    llm: str | None = None
    method: ExplainMethod = Field(default="agent", description="a registered explainer (Ray workers know the "
                                  "built-ins and those installed packages declare)")
    workers: int = Field(default=1, ge=1, le=64)
    budget_tokens: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, gt=0)
    triage_first: bool = False
    top: int | None = Field(default=None, ge=1, description="with triage_first: only the N most related")
    redo: bool = False
    retry_failed: bool = False
    max_steps: int = Field(default=8, ge=1)
    simulator: SimulatorName = "embedding"

    @field_validator("method")
    @classmethod
    def _registered(cls, name: str) -> str:
        get_explainer(name)  # an InputError is a ValueError: pydantic reports it, naming the registered ones
        return name

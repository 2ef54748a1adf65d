"""What a batch is asked to do; the driver (`batch.run`) and the executors (`batch.executors`) both read it."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

from autointerp.agent.explainers import get_explainer
from autointerp.records import DICTIONARY_NAME, ExplainMethod, SimulatorName


class BatchOptions(BaseModel):
    model: str | None = None
    corpus: str | None = Field(default=None, description="the corpus whose caches are read (default the settings')")
    layers: list[int] = Field(default_factory=list, description="layers whose neurons are explained")
    dictionary: str | None = Field(default=None, description="instead, a registered dictionary's latents (its "
                                   "layer; `layers` empty or that one); dead and rare latents are skipped")
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

    @model_validator(mode="after")
    def _units(self) -> BatchOptions:
        if not self.layers and self.dictionary is None:
            raise ValueError("give layers (their neurons) or a dictionary (its latents)")
        if self.dictionary is not None and not DICTIONARY_NAME.match(self.dictionary):
            raise ValueError(f"malformed dictionary name {self.dictionary!r}: lowercase letters, digits, dashes")
        return self

    @field_validator("method")
    @classmethod
    def _registered(cls, name: str) -> str:
        get_explainer(name)  # an InputError is a ValueError: pydantic reports it, naming the registered ones
        return name

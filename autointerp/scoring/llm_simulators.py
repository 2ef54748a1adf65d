"""Simulators that ask an LLM: `llm` (any chat model, JSON reply) and `llm-logprob` (expected value
over digit logprobs, one forward pass per text, for backends that expose prompt logprobs)."""

from __future__ import annotations

from typing import ClassVar

import torch
from langchain_core.messages import AIMessage, HumanMessage

from autointerp.errors import InputError
from autointerp.llm import LLM, LLMError
from autointerp.prompts import render
from autointerp.records import ActivationRecord, SimulatorName
from autointerp.scoring.parse import ParseError, parse_predictions

PROMPT_VERSION = 1


class SimulationFailed(LLMError):
    """The LLM's replies never lined up with the tokens, retries included."""


def _token_lines(tokens: list[str]) -> str:
    return "\n".join(f"{i + 1}\t{t!r}" for i, t in enumerate(tokens))


class LLMSimulator:
    name: ClassVar[SimulatorName] = "llm"

    def __init__(self, llm: LLM, attempts: int = 3) -> None:
        self.llm, self.attempts = llm, attempts

    def predict_one(self, explanation: str, tokens: list[str]) -> list[float]:
        n = len(tokens)
        messages = [HumanMessage(render("simulate", PROMPT_VERSION, explanation=explanation, n=n,
                                        tokens=_token_lines(tokens)))]
        problem = ""
        for _ in range(self.attempts):
            reply = self.llm.invoke(messages)
            try:
                return parse_predictions(reply, n)
            except ParseError as e:
                problem = str(e)
                messages = messages + [AIMessage(reply), HumanMessage(
                    render("simulate_retry", PROMPT_VERSION, problem=problem, n=n))]
        raise SimulationFailed(f"{self.llm.name} gave no usable predictions in {self.attempts} attempts ({problem})")

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        out = []
        for rec in records:
            start = int(rec.has_bos)
            out.append([0.0] * start + self.predict_one(explanation, rec.tokens[start:]))
        return out


class LogprobSimulator:
    """OpenAI's "all at once" simulator: a prompt of `token<TAB>?` lines; at each tab, the expected
    value of the next digit under the model (0-9, renormalised, scaled to 0-10)."""

    name: ClassVar[SimulatorName] = "llm-logprob"

    def __init__(self, llm: LLM) -> None:
        if llm.local is None:
            raise InputError(f"{llm.name} gives no prompt logprobs here; use --simulator llm "
                             "(llm-logprob runs on the local backend)")
        self.llm = llm

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        chat = self.llm.local
        tok = chat._tok
        digits = [tok.encode(str(d), add_special_tokens=False)[0] for d in range(10)]
        out = []
        for rec in records:
            start = int(rec.has_bos)
            ids = tok.encode(render("logprob", PROMPT_VERSION, explanation=explanation), add_special_tokens=False)
            positions = []
            for t in rec.tokens[start:]:
                ids += tok.encode(repr(t)[1:-1] + "\t", add_special_tokens=False)
                positions.append(len(ids) - 1)
                ids += tok.encode("0\n", add_special_tokens=False)  # a placeholder; later lines only
            lp = chat.next_token_logprobs(ids, positions, digits)
            p = torch.softmax(lp, dim=-1)
            ev = (p * torch.arange(10, dtype=p.dtype)).sum(-1) * (10 / 9)
            self.llm.usage.add(len(ids), 0, self.llm.price)
            out.append([0.0] * start + [round(float(v), 4) for v in ev])
        return out

"""Simulators that ask an LLM: `llm` (any chat model, JSON reply) and `llm-logprob` (expected value
over digit logprobs, one forward pass per text, for backends that expose prompt logprobs)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from langchain_core.messages import AIMessage, HumanMessage

from autointerp.errors import InputError
from autointerp.llm import LLM, LLMError
from autointerp.prompts import render
from autointerp.records import ActivationRecord, SimulatorName
from autointerp.scoring.parse import ParseError, parse_predictions

PROMPT_VERSION = 1
_DIGITS = {str(d) for d in range(10)}


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
    """OpenAI's "all at once" simulator: a prompt of `token<TAB>0` lines; at each placeholder digit,
    the expected value of that digit under the model (0-9, renormalised, scaled to 0-10). One pass
    per text: a forward pass on the local backend, an `echo` + `logprobs` completion on a server."""

    name: ClassVar[SimulatorName] = "llm-logprob"

    def __init__(self, llm: LLM, top: int = 20) -> None:
        if llm.local is None and llm.endpoint is None:
            raise InputError(f"{llm.name} gives no prompt logprobs; use --simulator llm (llm-logprob runs on "
                             "the local backend and OpenAI-compatible servers with echo + logprobs, e.g. vLLM)")
        self.llm, self.top = llm, top

    @staticmethod
    def prompt(explanation: str, tokens: list[str]) -> tuple[str, list[int]]:
        """The prompt text and the character offset of each token's placeholder digit."""
        text, where = render("logprob", PROMPT_VERSION, explanation=explanation), []
        for t in tokens:
            text += repr(t)[1:-1] + "\t"
            where.append(len(text))
            text += "0\n"
        return text, where

    def _local(self, text: str, where: list[int]) -> list[float]:
        chat = self.llm.local
        tok = chat._tok
        enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
        start_of = {s: i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s}
        idx = [start_of.get(c) for c in where]
        if any(i is None or i == 0 for i in idx):
            raise SimulationFailed(f"{self.llm.name}: a placeholder digit did not start a token")
        digits = [tok.encode(str(d), add_special_tokens=False)[0] for d in range(10)]
        lp = chat.next_token_logprobs(enc["input_ids"], [i - 1 for i in idx], digits)
        self.llm.usage.add(len(enc["input_ids"]), 0, self.llm.price)
        p = torch.softmax(lp, dim=-1)
        return [float(v) for v in (p * torch.arange(10, dtype=p.dtype)).sum(-1) * (10 / 9)]

    def _remote(self, text: str, where: list[int]) -> list[float]:
        got = self.llm.prompt_logprobs(text, self.top)
        at = {o: i for i, o in enumerate(got.offsets)}
        out = []
        for c in where:
            i = at.get(c)
            if i is None or got.tokens[i].strip() != "0":
                raise SimulationFailed(f"{self.llm.name}: a placeholder digit did not start a token")
            probs = {int(k.strip()): math.exp(v) for k, v in got.top[i].items() if k.strip() in _DIGITS}
            if not probs:
                raise SimulationFailed(f"{self.llm.name}: no digit among the top {self.top} logprobs at a token")
            total = sum(probs.values())
            out.append(sum(d * p for d, p in probs.items()) / total * (10 / 9))
        return out

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        out = []
        for rec in records:
            start = int(rec.has_bos)
            text, where = self.prompt(explanation, rec.tokens[start:])
            ev = self._local(text, where) if self.llm.local is not None else self._remote(text, where)
            out.append([0.0] * start + [round(v, 4) for v in ev])
        return out

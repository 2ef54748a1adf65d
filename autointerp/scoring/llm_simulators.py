"""Simulators that ask an LLM: `llm` (any chat model, JSON reply) and `llm-logprob` (expected value
over digit logprobs, one forward pass per text, for backends that expose prompt logprobs)."""

from __future__ import annotations

from typing import ClassVar

from langchain_core.messages import AIMessage, HumanMessage

from autointerp.errors import InputError
from autointerp.llm import LLM, LLMError, Usage
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
        self.usage = Usage()  # what this simulator's calls spent

    def predict_one(self, explanation: str, tokens: list[str]) -> list[float]:
        n = len(tokens)
        messages = [HumanMessage(render("simulate", PROMPT_VERSION, explanation=explanation, n=n,
                                        tokens=_token_lines(tokens)))]
        problem = ""
        for _ in range(self.attempts):
            reply = self.llm.invoke(messages)
            self.usage.add(reply.usage)
            try:
                return parse_predictions(reply.text, n)
            except ParseError as e:
                problem = str(e)
                messages = messages + [AIMessage(reply.text), HumanMessage(
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
    per text on any backend that declares `digit_logprobs` (the local model: a forward pass with the
    exact distribution; an OpenAI-compatible server: `echo` + `logprobs`)."""

    name: ClassVar[SimulatorName] = "llm-logprob"

    def __init__(self, llm: LLM, top: int = 20) -> None:
        if not llm.capabilities.digit_logprobs:
            raise InputError(f"{llm.name} gives no prompt logprobs; use the llm simulator (llm-logprob runs on "
                             "the local backend and OpenAI-compatible servers with echo + logprobs, e.g. vLLM)")
        self.llm, self.top = llm, top
        self.usage = Usage()

    @staticmethod
    def prompt(explanation: str, tokens: list[str]) -> tuple[str, list[int]]:
        """The prompt text and the character offset of each token's placeholder digit."""
        text, where = render("logprob", PROMPT_VERSION, explanation=explanation), []
        for t in tokens:
            text += repr(t)[1:-1] + "\t"
            where.append(len(text))
            text += "0\n"
        return text, where

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        out = []
        for rec in records:
            start = int(rec.has_bos)
            text, where = self.prompt(explanation, rec.tokens[start:])
            try:
                got = self.llm.digit_expectations(text, where, self.top)
            except LLMError as e:
                raise SimulationFailed(str(e)) from None
            self.usage.add(got.usage)
            out.append([0.0] * start + [round(v, 4) for v in got.values])
        return out

"""The API backends: `openai:<model>` (needs OPENAI_API_KEY) and `openai-compatible:<model>@<base_url>`
(a vLLM or llama.cpp server, say), and prompt logprobs from such a server's legacy completions
endpoint (`echo` + `logprobs`, as vLLM serves it): the llm-logprob simulator's remote path."""

from __future__ import annotations

import math
import os
from urllib.parse import urlparse

from langchain_core.language_models.chat_models import BaseChatModel

from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.llm.backends import LLM, Capabilities, Expectations, LLMError, Usage

# USD per million tokens (prompt, completion), for models with a known price.
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-mini": (0.40, 1.60),
          "gpt-4.1": (2.00, 8.00), "gpt-4.1-nano": (0.10, 0.40)}
_DIGITS = {str(d) for d in range(10)}


def remote_digit_expectations(llm: LLM, prompt: str, offsets: list[int], top: int) -> Expectations:
    """One completions call; at each offset, the expected digit over the digits among the top logprobs."""
    from openai import OpenAI

    assert llm.endpoint is not None
    model, url = llm.endpoint
    client = OpenAI(api_key=llm._key or "not-needed", base_url=url, max_retries=0, timeout=llm.timeout)
    resp = llm._call(lambda: client.completions.create(model=model, prompt=prompt, echo=True, logprobs=top,
                                                       max_tokens=1, temperature=0))
    lp = resp.choices[0].logprobs if resp.choices else None
    if lp is None or not lp.tokens or lp.text_offset is None or lp.top_logprobs is None:
        raise LLMError(f"{llm.name}: the server returned no prompt logprobs (it needs echo + logprobs "
                       "on /v1/completions, as vLLM serves)")
    at = {o: i for i, o in enumerate(lp.text_offset)}
    values = []
    for c in offsets:
        i = at.get(c)
        if i is None or lp.tokens[i].strip() != "0":
            raise LLMError(f"{llm.name}: a placeholder digit did not start a token")
        probs = {int(k.strip()): math.exp(v) for k, v in (lp.top_logprobs[i] or {}).items() if k.strip() in _DIGITS}
        if not probs:
            raise LLMError(f"{llm.name}: no digit among the top {top} logprobs at a token")
        total = sum(probs.values())
        values.append(sum(d * p for d, p in probs.items()) / total * (10 / 9))
    u = resp.usage
    return Expectations(values, Usage.of(u.prompt_tokens if u else 0, u.completion_tokens if u else 0, llm.price))


def _openai(model: str, key: str, base_url: str | None, timeout: float) -> BaseChatModel:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    # max_retries=0: tenacity decides what to retry, so auth errors are never retried.
    return ChatOpenAI(model=model, api_key=SecretStr(key), base_url=base_url, max_retries=0, timeout=timeout,
                      temperature=0)


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"malformed server URL {url!r} in the LLM spec: expected http(s)://host[:port]/v1")
    try:
        parsed.port
    except ValueError:
        raise InputError(f"malformed server URL {url!r} in the LLM spec: bad port") from None
    return url


class OpenAIBackend:
    """`openai:<model>`: OpenAI's API, with native tool calls; priced where the model's price is known."""

    prefix = "openai"
    usage = "openai:<model>"
    capabilities = Capabilities(tool_calls=True)
    local = False

    def _parse(self, spec: str) -> tuple[str, str]:
        model = spec.partition(":")[2]
        if not model:
            raise InputError(f"unknown LLM {spec!r}: use {self.usage}")
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise InputError("the LLM openai:... needs OPENAI_API_KEY in the environment")
        return model, key

    def check(self, spec: str, settings: Settings) -> None:
        self._parse(spec)

    def make(self, spec: str, settings: Settings) -> LLM:
        model, key = self._parse(spec)
        return LLM(spec, _openai(model, key, None, settings.llm_timeout), price=PRICES.get(model),
                   capabilities=self.capabilities, _key=key, max_attempts=settings.llm_attempts,
                   timeout=settings.llm_timeout)

    def record_name(self, spec: str) -> str:
        return spec


class OpenAICompatibleBackend:
    """`openai-compatible:<model>@<base_url>`: any server speaking OpenAI's protocol; OPENAI_API_KEY is
    sent when set. Digit logprobs come from its completions endpoint (vLLM serves them)."""

    prefix = "openai-compatible"
    usage = "openai-compatible:<model>@<base_url>"
    capabilities = Capabilities(tool_calls=True, digit_logprobs=True)
    local = False

    def _parse(self, spec: str) -> tuple[str, str]:
        rest = spec.partition(":")[2]
        if "@" not in rest:
            raise InputError(f"unknown LLM {spec!r}: use {self.usage}")
        model, _, url = rest.partition("@")
        if not model:
            raise InputError(f"LLM spec {spec!r} names no model: {self.usage}")
        return model, _check_url(url)

    def check(self, spec: str, settings: Settings) -> None:
        self._parse(spec)

    def make(self, spec: str, settings: Settings) -> LLM:
        model, url = self._parse(spec)
        key = os.environ.get("OPENAI_API_KEY") or "not-needed"
        return LLM(self.record_name(spec), _openai(model, key, url, settings.llm_timeout), price=PRICES.get(model),
                   capabilities=self.capabilities, endpoint=(model, url), _key=key,
                   expectations=remote_digit_expectations, max_attempts=settings.llm_attempts,
                   timeout=settings.llm_timeout)

    def record_name(self, spec: str) -> str:
        return spec.partition("@")[0]

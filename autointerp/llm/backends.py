"""Choose an LLM by name; retry transient failures only; count tokens and cost per call."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from autointerp.config import Settings, get_settings
from autointerp.errors import AutointerpError, InputError

# USD per million tokens (prompt, completion), for models with a known price.
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-mini": (0.40, 1.60),
          "gpt-4.1": (2.00, 8.00), "gpt-4.1-nano": (0.10, 0.40)}


class LLMError(AutointerpError):
    """An LLM call failed for good (auth, bad request, retries exhausted, unusable reply)."""


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0

    def add(self, prompt: int, completion: int, price: tuple[float, float] | None) -> None:
        self.calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        if price is None:
            self.cost_usd = None
        elif self.cost_usd is not None:
            self.cost_usd += (prompt * price[0] + completion * price[1]) / 1e6


def _transient(e: BaseException) -> bool:
    try:
        import openai
    except ImportError:
        return False
    return isinstance(e, (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError,
                          openai.InternalServerError))


def _api_error(e: BaseException) -> bool:
    try:
        import openai
    except ImportError:
        return False
    return isinstance(e, openai.APIError)


def _fatal_message(e: Exception) -> str:
    """A one-line reason that never repeats a key."""
    status = getattr(e, "status_code", None)
    kind = next((c.__name__ for c in type(e).__mro__ if c.__module__.startswith("openai")), type(e).__name__)
    body = getattr(e, "body", None)
    detail = body.get("message") if isinstance(body, dict) else None
    return f"{kind}{f' ({status})' if status else ''}: {detail or 'request refused'}"


@dataclass
class PromptLogprobs:
    """Per prompt token: its text, its character offset, and the top next-token logprobs before it."""

    tokens: list[str]
    offsets: list[int]
    top: list[dict[str, float]]


@dataclass
class LLM:
    """A chat model with its name, retry policy and running usage."""

    name: str
    chat: BaseChatModel
    price: tuple[float, float] | None
    usage: Usage = field(default_factory=Usage)
    max_attempts: int = 5
    endpoint: tuple[str, str, str] | None = None  # (model, base_url, key) of an OpenAI-compatible server

    def __repr__(self) -> str:  # never show a key
        return f"LLM({self.name!r})"

    @property
    def local(self):
        from autointerp.llm.local import LocalChatModel

        return self.chat if isinstance(self.chat, LocalChatModel) else None

    def _call(self, fn):
        """Run one API call under the retry policy; turn API failures into one-line LLMErrors."""

        @retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(self.max_attempts),
               wait=wait_exponential(multiplier=0.5, max=20), reraise=True)
        def call():
            return fn()

        try:
            return call()
        except Exception as e:
            if _transient(e):
                raise LLMError(f"{self.name}: gave up after {self.max_attempts} attempts: {_fatal_message(e)}") from e
            if _api_error(e):
                raise LLMError(f"{self.name}: {_fatal_message(e)}") from e
            raise

    def prompt_logprobs(self, prompt: str, top: int = 20) -> PromptLogprobs:
        """Top next-token logprobs at every prompt token, from a server's legacy completions endpoint
        (`echo` + `logprobs`, as vLLM serves it). Only OpenAI-compatible backends have it."""
        if self.endpoint is None:
            raise InputError(f"{self.name} has no completions endpoint for prompt logprobs")
        from openai import OpenAI

        model, url, key = self.endpoint
        client = OpenAI(api_key=key, base_url=url, max_retries=0, timeout=120)
        resp = self._call(lambda: client.completions.create(model=model, prompt=prompt, echo=True, logprobs=top,
                                                            max_tokens=1, temperature=0))
        lp = resp.choices[0].logprobs if resp.choices else None
        if lp is None or not lp.tokens or lp.text_offset is None or lp.top_logprobs is None:
            raise LLMError(f"{self.name}: the server returned no prompt logprobs (it needs echo + logprobs "
                           "on /v1/completions, as vLLM serves)")
        usage = resp.usage
        self.usage.add(usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0, self.price)
        return PromptLogprobs(tokens=list(lp.tokens), offsets=list(lp.text_offset),
                              top=[dict(t or {}) for t in lp.top_logprobs])

    def invoke_message(self, messages: list[BaseMessage], tools: list | None = None, **kw) -> AIMessage:
        """The reply message (with any tool calls), usage counted. `tools` binds langchain tools
        natively; a chat model without tool calling raises NotImplementedError (see `can_call_tools`)."""
        runnable = self.chat.bind_tools(tools) if tools else self.chat
        msg = self._call(lambda: runnable.invoke(messages, **kw))
        meta = getattr(msg, "usage_metadata", None) or {}
        self.usage.add(int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)), self.price)
        return msg

    def invoke(self, messages: list[BaseMessage], **kw) -> str:
        """The reply text. Transient errors (rate limit, timeout, connection, 5xx) are retried with
        exponential backoff; auth and bad-request errors fail at once with a clear LLMError."""
        return str(self.invoke_message(messages, **kw).content)

    @property
    def can_call_tools(self) -> bool:
        try:
            self.chat.bind_tools([])
        except NotImplementedError:
            return False
        return True


def llm_name(spec: str) -> str:
    """The name records carry for an --llm spec: the server URL is left out."""
    return spec.partition("@")[0] if spec.startswith("openai-compatible:") else spec


def make_llm(spec: str | None = None, settings: Settings | None = None) -> LLM:
    """`local`, `openai:<model>` (needs OPENAI_API_KEY) or `openai-compatible:<model>@<base_url>`."""
    settings = settings or get_settings()
    spec = spec or settings.llm
    if spec == "local":
        from autointerp.llm.local import LocalChatModel
        from autointerp.targets.embedded import load_chat_model

        return LLM("local", LocalChatModel(*load_chat_model(settings.data_dir)), price=(0.0, 0.0))
    kind, _, rest = spec.partition(":")
    if kind == "openai" and rest:
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise InputError("--llm openai:... needs OPENAI_API_KEY in the environment")
        return LLM(spec, _openai(rest, key, None), price=PRICES.get(rest))
    if kind == "openai-compatible" and "@" in rest:
        model, _, url = rest.partition("@")
        key = os.environ.get("OPENAI_API_KEY") or "not-needed"
        return LLM(llm_name(spec), _openai(model, key, url), price=PRICES.get(model),
                   endpoint=(model, url, key))
    raise InputError(f"unknown --llm {spec!r}: use local, openai:<model> or openai-compatible:<model>@<base_url>")


def _openai(model: str, key: str, base_url: str | None) -> BaseChatModel:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    # max_retries=0: tenacity decides what to retry, so auth errors are never retried.
    return ChatOpenAI(model=model, api_key=SecretStr(key), base_url=base_url, max_retries=0, timeout=60,
                      temperature=0)

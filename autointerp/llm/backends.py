"""What every backend makes: an `LLM` that retries transient failures only and returns each call's
own usage. The backends themselves (chosen by an --llm spec's prefix) are in `autointerp.llm.registry`.

Backends declare what they support (`Capabilities`): native tool calls, a begun ("prefilled")
reply with local decoding hints, and digit expectations from prompt logprobs. Call sites read the
declaration, never the backend's type. No configured key ever appears in an error message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from autointerp.errors import AutointerpError, InputError
from autointerp.secrets import redact

class LLMError(AutointerpError):
    """An LLM call failed for good (auth, bad request, retries exhausted, unusable reply)."""


@dataclass
class Usage:
    """Tokens and cost of one call, or the sum of several (`+`, `+=`). `computed_prompt_tokens`: the
    prompt tokens the model actually ran (the local model serves the rest from its prefix cache;
    every other backend reports all it was sent). `seconds`: wall time spent waiting on the model
    (retries included), so a run can tell the LLM's share of its time from the experiments'."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    computed_prompt_tokens: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, prompt: int, completion: int, price: tuple[float, float] | None, computed: int | None = None,
           seconds: float = 0.0) -> Usage:
        cost = None if price is None else (prompt * price[0] + completion * price[1]) / 1e6
        return cls(1, prompt, completion, cost, prompt if computed is None else computed, seconds)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> Usage:
        """Add another's figures in place (a run's meter); returns self."""
        total = self + other
        for f in fields(self):  # every figure `+` sums: a new one needs no edit here
            setattr(self, f.name, getattr(total, f.name))
        return self

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(self.calls + other.calls, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens, cost,
                     self.computed_prompt_tokens + other.computed_prompt_tokens, self.seconds + other.seconds)


@dataclass(frozen=True)
class Capabilities:
    """What a backend supports, declared when it is made."""

    tool_calls: bool = False  # native tool calling (bind_tools)
    prefill: bool = False  # a begun reply and local decoding hints (see LLM.invoke)
    digit_logprobs: bool = False  # expected 0-9 digits from prompt logprobs (the llm-logprob simulator)


@dataclass
class Reply:
    """One call's reply: its text, the message (with any tool calls) and this call's usage alone."""

    text: str
    message: AIMessage
    usage: Usage


@dataclass
class Expectations:
    """Expected digit values at the asked prompt offsets, with the call's usage."""

    values: list[float]
    usage: Usage


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


def _fatal_message(e: Exception, timeout: float) -> str:
    """A one-line reason (the server's own words are data and may echo the key: redacted)."""
    import openai

    if isinstance(e, openai.APITimeoutError):
        return f"timed out: no reply within {timeout:g} s (AUTOINTERP_LLM_TIMEOUT)"
    status = getattr(e, "status_code", None)
    kind = next((c.__name__ for c in type(e).__mro__ if c.__module__.startswith("openai")), type(e).__name__)
    body = getattr(e, "body", None)
    detail = body.get("message") if isinstance(body, dict) else None
    if detail is None and isinstance(e, openai.APIConnectionError):
        detail = "connection failed"
    first = str(detail or "request refused").splitlines()[0][:300]
    return f"{kind}{f' ({status})' if status else ''}: {first}"


@dataclass
class LLM:
    """A chat model with its name, declared capabilities and retry policy."""

    name: str
    chat: BaseChatModel
    price: tuple[float, float] | None
    capabilities: Capabilities = field(default_factory=Capabilities)
    max_attempts: int = 5
    timeout: float = 60.0
    endpoint: tuple[str, str] | None = None  # (model, base_url) of an OpenAI-compatible server
    # how the backend reads digit expectations (with digit_logprobs): (llm, prompt, offsets, top)
    expectations: Callable[[LLM, str, list[int], int], Expectations] | None = field(default=None, repr=False)
    prefix_reuse: bool = False  # the reply's cache_read counts as prompt tokens not run (the local model)
    _key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never show a key
        return f"LLM({self.name!r})"

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
                failure = f"{self.name}: gave up after {self.max_attempts} attempts: {_fatal_message(e, self.timeout)}"
            elif _api_error(e):
                failure = f"{self.name}: {_fatal_message(e, self.timeout)}"
            else:
                raise
        # Raised outside the handler: the server's exception (which may quote the key) is not kept as context.
        raise LLMError(redact(failure))

    def invoke(self, messages: list[BaseMessage], tools: list | None = None, **hints) -> Reply:
        """The reply with this call's usage. `tools` binds langchain tools natively (needs
        `capabilities.tool_calls`); `hints` (prefill, max_tokens, stop_strings, repetition_penalty,
        stop_on_repeat, stop_when) are passed only to backends that declare `prefill`, except
        max_tokens, which every backend takes."""
        if tools and not self.capabilities.tool_calls:
            raise LLMError(f"{self.name} has no native tool calls")
        if not self.capabilities.prefill:
            hints = {k: v for k, v in hints.items() if k == "max_tokens"}
        runnable = self.chat.bind_tools(tools) if tools else self.chat
        t0 = time.perf_counter()
        msg = self._call(lambda: runnable.invoke(messages, **hints))
        seconds = time.perf_counter() - t0
        meta = getattr(msg, "usage_metadata", None) or {}
        sent = int(meta.get("input_tokens", 0))
        reused = int((meta.get("input_token_details") or {}).get("cache_read", 0)) if self.prefix_reuse else 0
        usage = Usage.of(sent, int(meta.get("output_tokens", 0)), self.price, sent - reused, seconds)
        return Reply(str(msg.content), msg, usage)

    def digit_expectations(self, prompt: str, offsets: list[int], top: int = 20) -> Expectations:
        """At each character offset (where a placeholder digit starts a token), the expected digit 0-9
        under the model's next-token distribution there (renormalised over the digits). The local
        backend uses the exact distribution; a server its `echo` + `logprobs` top-`top`."""
        if not self.capabilities.digit_logprobs or self.expectations is None:
            raise InputError(f"{self.name} gives no prompt logprobs; use the llm simulator")
        t0 = time.perf_counter()
        got = self.expectations(self, prompt, offsets, top)
        got.usage.seconds = time.perf_counter() - t0
        return got

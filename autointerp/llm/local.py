"""The embedded chat LLM: SmolLM2-135M-Instruct from the bundled weights, generated on the CPU.

An agent's conversation only grows, so each call re-sends everything before it. The model keeps
the key/value cache of its last few calls (`PrefixCache`) and runs only the tokens after the longest
prefix a new call shares with one of them: a step costs its new tokens, not the whole conversation."""

from __future__ import annotations

import threading
from typing import Any

import torch
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.llm.backends import LLM, Capabilities, Expectations, LLMError, Usage
from autointerp.llm.decode import BatchDecoder, Request
from autointerp.targets.embedded import load_chat_model

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "user"}


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class PrefixCache:
    """The key/value caches of the last calls, each with the token ids it holds: at most `entries`
    of them and `max_tokens` tokens in all (SmolLM2-135M: 46 KB a token), least recently used
    dropped first. Thread-safe; a caller gets its own copy of a prefix, never a shared cache
    (generation extends the cache it is given)."""

    def __init__(self, config, entries: int = 4, max_tokens: int = 8192) -> None:
        self.config, self.entries, self.max_tokens = config, entries, max_tokens
        self._items: list[tuple[list[int], Any]] = []  # most recently used last
        self._lock = threading.Lock()

    def take(self, ids: list[int]):
        """(n, cache): a new cache holding the first n tokens of `ids` (the longest prefix shared with
        a kept entry, leaving at least one token to run), or (0, None)."""
        from transformers import DynamicCache

        with self._lock:
            best, n = None, 0
            for i, (kept, _) in enumerate(self._items):
                m = min(common_prefix(kept, ids), len(ids) - 1)
                if m > n:
                    best, n = i, m
            if best is None:
                return 0, None
            item = self._items.pop(best)
            self._items.append(item)  # most recently used
            layers = [(layer.keys[..., :n, :], layer.values[..., :n, :]) for layer in item[1].layers]
        # the new cache concatenates into fresh tensors: the kept entry is never written to
        return n, DynamicCache(ddp_cache_data=layers, config=self.config)

    def put(self, ids: list[int], cache) -> None:
        """Keep `cache` (holding `ids`). An entry sharing at least half of itself with it is dropped (the
        previous step of the same conversation); then the oldest, past the bounds."""
        if len(ids) > self.max_tokens:
            return
        with self._lock:
            self._items = [(k, c) for k, c in self._items if 2 * common_prefix(k, ids) < len(k)]
            self._items.append((ids, cache))
            while len(self._items) > self.entries or sum(len(k) for k, _ in self._items) > self.max_tokens:
                self._items.pop(0)

    def clear(self) -> None:
        with self._lock:
            self._items = []

    def __len__(self) -> int:
        return len(self._items)


def stop_strings(tokenizer, prompt: list[int], strings: list[str]):
    """Stops once a reply's newest token completes one of `strings`, as `generate`'s
    `stop_strings` do (a match may begin in the prompt or the begun reply)."""
    def stop(new: list[int]) -> bool:
        tail = (prompt + new)[-24:]
        before, now = tokenizer.decode(tail[:-1]), tokenizer.decode(tail)
        return any(now.find(s, max(0, len(before) - len(s) + 1)) >= 0 for s in strings)

    return stop


def looping(ids: list[int], period: int, times: int) -> bool:
    """Whether `ids` ends in one block of 1..period tokens repeated `times` times."""
    for p in range(1, period + 1):
        if len(ids) < p * times:
            break
        block = ids[-p:]
        if all(ids[-(k + 1) * p:len(ids) - k * p] == block for k in range(1, times)):
            return True
    return False


class LocalChatModel(BaseChatModel):
    """A langchain chat model over a local transformers causal LM (greedy decoding: reproducible)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    model_name: str = "smollm2-135m"
    max_new_tokens: int = 256
    prefix_cache: bool = True  # off: every call runs its whole prompt (the benchmarks' baseline)
    cache_entries: int = 4
    cache_tokens: int = 8192
    max_batch: int = 8  # conversations decoded together (threads calling at once)
    _hf: Any = PrivateAttr()
    _tok: Any = PrivateAttr()
    _cache: PrefixCache | None = PrivateAttr(default=None)
    _decoder: BatchDecoder = PrivateAttr()

    def __init__(self, hf_model, tokenizer, **kw) -> None:
        super().__init__(**kw)
        self._hf, self._tok = hf_model, tokenizer
        self._decoder = BatchDecoder(hf_model, tokenizer.eos_token_id, self.max_batch)
        if self.prefix_cache:
            self._cache = PrefixCache(hf_model.config, self.cache_entries, self.cache_tokens)

    @property
    def _llm_type(self) -> str:
        return "autointerp-local"

    def encode_chat(self, messages: list[BaseMessage]) -> list[int]:
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        return list(self._tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=False))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                  **kwargs: Any) -> ChatResult:
        """Greedy. `prefill` starts the assistant's reply (the reply includes it): a tiny model told
        to answer in JSON does far better when the reply already begins with `{"tool": "`.
        `stop_on_repeat` ends the reply once it loops (`looping`); off by default, since a
        simulator's digit lists repeat by design. `stop_when(text)` ends it once it holds."""
        prefill = kwargs.get("prefill", "")
        prompt = self.encode_chat(messages)
        full = prompt + (self._tok.encode(prefill, add_special_tokens=False) if prefill else [])
        reused, past = self._cache.take(full) if self._cache is not None else (0, None)
        stops: list = []
        if kwargs.get("stop_strings"):
            stops.append(stop_strings(self._tok, full, list(kwargs["stop_strings"])))
        if kwargs.get("stop_on_repeat"):
            stops.append(lambda new: looping(new, 16, 3))  # a greedy loop never ends (SmolLM2 echoing JSON)
        if kwargs.get("stop_when") is not None:
            when = kwargs["stop_when"]
            stops.append(lambda new: bool(when(prefill + self._tok.decode(new, skip_special_tokens=True))))
        req = self._decoder.decode(Request(full, kwargs.get("max_tokens", self.max_new_tokens), reused, past,
                                           kwargs.get("repetition_penalty", 1.0), stops))
        if self._cache is not None:
            self._cache.put(full + req.new[:-1], req.cache)
        new = req.new
        text = prefill + self._tok.decode(new, skip_special_tokens=True)
        for s in stop or []:
            text = text.split(s)[0]
        # cache_read: prompt tokens served from the prefix cache (the begun reply counts as completion)
        usage = {"input_tokens": len(prompt), "output_tokens": len(full) - len(prompt) + len(new),
                 "total_tokens": len(full) + len(new),
                 "input_token_details": {"cache_read": min(reused, len(prompt))}}
        msg = AIMessage(content=text, usage_metadata=usage, response_metadata={"generated_ids": new})
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def next_token_logprobs(self, ids: list[int], positions: list[int], candidates: list[int]) -> torch.Tensor:
        """log p(candidate | ids[:p+1]) for each position p: one forward pass over the whole prompt."""
        with torch.inference_mode():
            logits = self._hf(torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits[positions], dim=-1)[:, candidates]

    def digit_expectations(self, prompt: str, offsets: list[int]) -> tuple[list[float], int]:
        """At each character offset where a digit token starts, the expected digit 0-9 under the exact
        next-token distribution before it (renormalised over the digits, scaled to 0-10); and the
        number of prompt tokens run."""
        enc = self._tok(prompt, return_offsets_mapping=True, add_special_tokens=False)
        start_of = {s: i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s}
        idx = [start_of.get(c) for c in offsets]
        if any(i is None or i == 0 for i in idx):
            raise LLMError("local: a placeholder digit did not start a token")
        digits = [self._tok.encode(str(d), add_special_tokens=False)[0] for d in range(10)]
        p = torch.softmax(self.next_token_logprobs(enc["input_ids"], [i - 1 for i in idx], digits), dim=-1)
        values = (p * torch.arange(10, dtype=p.dtype)).sum(-1) * (10 / 9)
        return [float(v) for v in values], len(enc["input_ids"])


def _expectations(llm: LLM, prompt: str, offsets: list[int], top: int) -> Expectations:
    """The exact distribution at each offset (`top` is for servers, which return only their top logprobs)."""
    values, n_prompt = llm.chat.digit_expectations(prompt, offsets)  # type: ignore[attr-defined]
    return Expectations(values, Usage.of(n_prompt, 0, llm.price))


class LocalBackend:
    """`local`: the embedded SmolLM2 chat model, free, with begun replies and exact digit logprobs."""

    prefix = "local"
    usage = "local"
    capabilities = Capabilities(prefill=True, digit_logprobs=True)
    local = True

    def check(self, spec: str, settings: Settings) -> None:
        if spec != self.prefix:
            raise InputError(f"unknown LLM {spec!r}: the local model takes no arguments (use local)")

    def make(self, spec: str, settings: Settings) -> LLM:
        self.check(spec, settings)
        chat = LocalChatModel(*load_chat_model(settings.data_dir), prefix_cache=settings.prefix_cache)
        return LLM("local", chat, price=(0.0, 0.0), capabilities=self.capabilities, prefix_reuse=True,
                   expectations=_expectations)

    def record_name(self, spec: str) -> str:
        return spec

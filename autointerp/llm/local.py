"""The embedded chat LLM: SmolLM2-135M-Instruct from the bundled weights, generated on the CPU."""

from __future__ import annotations

from typing import Any

import torch
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "user"}


class LocalChatModel(BaseChatModel):
    """A langchain chat model over a local transformers causal LM (greedy decoding: reproducible)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    model_name: str = "smollm2-135m"
    max_new_tokens: int = 256
    _hf: Any = PrivateAttr()
    _tok: Any = PrivateAttr()

    def __init__(self, hf_model, tokenizer, **kw) -> None:
        super().__init__(**kw)
        self._hf, self._tok = hf_model, tokenizer

    @property
    def _llm_type(self) -> str:
        return "autointerp-local"

    def encode_chat(self, messages: list[BaseMessage]) -> list[int]:
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        return list(self._tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=False))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                  **kwargs: Any) -> ChatResult:
        """Greedy. `prefill` starts the assistant's reply (the reply includes it): a tiny model told
        to answer in JSON does far better when the reply already begins with `{"tool": "`."""
        prefill = kwargs.get("prefill", "")
        prompt = self.encode_chat(messages)
        ids = torch.tensor([prompt + (self._tok.encode(prefill, add_special_tokens=False) if prefill else [])])
        with torch.inference_mode():
            out = self._hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=kwargs.get("max_tokens", self.max_new_tokens),
                                    repetition_penalty=kwargs.get("repetition_penalty", 1.0),
                                    stop_strings=kwargs.get("stop_strings"), tokenizer=self._tok,
                                    pad_token_id=self._tok.eos_token_id)
        new = out[0, ids.shape[1]:]
        text = prefill + self._tok.decode(new, skip_special_tokens=True)
        for s in stop or []:
            text = text.split(s)[0]
        usage = {"input_tokens": len(prompt), "output_tokens": int(ids.shape[1] - len(prompt) + len(new)),
                 "total_tokens": int(ids.shape[1] + len(new))}
        msg = AIMessage(content=text, usage_metadata=usage)
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
        from autointerp.llm.backends import LLMError

        enc = self._tok(prompt, return_offsets_mapping=True, add_special_tokens=False)
        start_of = {s: i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s}
        idx = [start_of.get(c) for c in offsets]
        if any(i is None or i == 0 for i in idx):
            raise LLMError("local: a placeholder digit did not start a token")
        digits = [self._tok.encode(str(d), add_special_tokens=False)[0] for d in range(10)]
        p = torch.softmax(self.next_token_logprobs(enc["input_ids"], [i - 1 for i in idx], digits), dim=-1)
        values = (p * torch.arange(10, dtype=p.dtype)).sum(-1) * (10 / 9)
        return [float(v) for v in values], len(enc["input_ids"])

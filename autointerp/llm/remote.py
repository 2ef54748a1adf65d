"""Prompt logprobs from an OpenAI-compatible server's legacy completions endpoint (`echo` +
`logprobs`, as vLLM serves it): the llm-logprob simulator's remote path."""

from __future__ import annotations

import math

from autointerp.llm.backends import LLM, Expectations, LLMError, Usage

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

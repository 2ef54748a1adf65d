"""LLM backends against a real local HTTP server that speaks the OpenAI protocol, and the local model."""

import time

import pytest
from langchain_core.messages import HumanMessage

from autointerp.errors import InputError
from autointerp.llm import LLMError, make_llm
from autointerp.secrets import redact
from tests.llm.openai_server import GOOD_KEY


def test_openai_compatible_round_trip_returns_its_own_usage(openai_server, settings):
    llm = make_llm(f"openai-compatible:test-model@{openai_server.url}", settings)
    first = llm.invoke([HumanMessage("hello there")])
    second = llm.invoke([HumanMessage("one two three four")])
    assert first.text == "you said: hello there"
    assert openai_server.requests[0]["model"] == "test-model"
    assert (first.usage.calls, first.usage.prompt_tokens, first.usage.completion_tokens) == (1, 2, 4)
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (4, 6)  # its own, not a running total
    total = first.usage + second.usage
    assert (total.calls, total.tokens) == (2, 16)
    assert first.usage.cost_usd is None and total.cost_usd is None  # no known price for this model
    openai_server.delay = 0.3
    slow = llm.invoke([HumanMessage("x")]).usage.seconds
    assert slow >= 0.3 and first.usage.seconds > 0  # the wait on the server, per call


def test_capabilities_are_declared_per_backend(openai_server, settings):
    remote = make_llm(f"openai-compatible:m@{openai_server.url}", settings).capabilities
    assert remote.tool_calls and remote.digit_logprobs and not remote.prefill


def test_transient_errors_are_retried(openai_server, settings):
    openai_server.replies = [(500, "boom"), (429, "slow down"), (503, "busy"), (200, "finally")]
    llm = make_llm(f"openai-compatible:gpt-4o-mini@{openai_server.url}", settings)
    reply = llm.invoke([HumanMessage("x")])
    assert reply.text == "finally"
    assert len(openai_server.requests) == 4 and reply.usage.calls == 1
    assert reply.usage.cost_usd == pytest.approx((1 * 0.15 + 1 * 0.60) / 1e6)


def test_retries_give_up_with_a_typed_error(openai_server, settings):
    openai_server.replies = [(500, "boom")] * 10
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    llm.max_attempts = 3
    with pytest.raises(LLMError, match="gave up after 3 attempts"):
        llm.invoke([HumanMessage("x")])
    assert len(openai_server.requests) == 3


def test_auth_and_bad_request_fail_fast_without_leaking_the_key(openai_server, settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-456")
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    with pytest.raises(LLMError, match="AuthenticationError") as e:
        llm.invoke([HumanMessage("x")])
    assert len(openai_server.requests) == 1 and "sk-wrong-key-456" not in str(e.value)
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    openai_server.replies = [(400, "bad request: context too long")]
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    with pytest.raises(LLMError, match="BadRequestError"):
        llm.invoke([HumanMessage("x")])
    assert len(openai_server.requests) == 2


def test_a_server_echoing_the_key_never_gets_it_into_the_error(openai_server, settings, monkeypatch):
    canary = "sk-canary-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    openai_server.echo_key = True
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    with pytest.raises(LLMError) as e:
        llm.invoke([HumanMessage("x")])
    assert canary not in str(e.value) and "***" in str(e.value)
    assert e.value.__cause__ is None and e.value.__context__ is None or canary not in repr(e.value.__context__)
    assert canary not in repr(llm)
    assert redact(f"key {canary} here") == "key *** here"


def test_malformed_server_url_is_rejected_at_once(settings):
    t0 = time.perf_counter()
    for bad in ("openai-compatible:x@not-a-url", "openai-compatible:x@ftp://host/v1", "openai-compatible:@http://h/v1",
                "openai-compatible:x@http://host:99999999/v1"):
        with pytest.raises(InputError, match="LLM spec"):
            make_llm(bad, settings)
    assert time.perf_counter() - t0 < 5  # no retries against an address that cannot work


def test_a_hung_server_is_named_a_timeout(openai_server, settings):
    openai_server.delay = 3.0
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings.model_copy(
        update={"llm_timeout": 0.5, "llm_attempts": 2}))
    with pytest.raises(LLMError, match="timed out: no reply within 0.5 s"):
        llm.invoke([HumanMessage("x")])
    assert len(openai_server.requests) == 2


def test_bad_specs(settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="needs OPENAI_API_KEY"):
        make_llm("openai:gpt-4o-mini", settings)
    with pytest.raises(InputError, match="unknown LLM"):
        make_llm("claude", settings)


@pytest.mark.integration
def test_local_model_generates(smol, settings):
    llm = make_llm("local", settings)
    assert llm.capabilities.prefill and llm.capabilities.digit_logprobs and not llm.capabilities.tool_calls
    reply = llm.invoke([HumanMessage("What is the capital of France? Answer in one word.")], max_tokens=12)
    assert reply.text.strip() and reply.usage.calls == 1
    assert reply.usage.prompt_tokens > 10 and 0 < reply.usage.completion_tokens <= 12 and reply.usage.cost_usd == 0.0

"""LLM backends against a real local HTTP server that speaks the OpenAI protocol, and the local model."""

import pytest
from langchain_core.messages import HumanMessage

from autointerp.errors import InputError
from autointerp.llm import LLMError, make_llm
from tests.llm.openai_server import GOOD_KEY



def test_openai_compatible_round_trip_counts_tokens(openai_server, settings):
    llm = make_llm(f"openai-compatible:test-model@{openai_server.url}", settings)
    assert llm.invoke([HumanMessage("hello there")]) == "you said: hello there"
    assert openai_server.requests[0]["model"] == "test-model"
    assert llm.usage.calls == 1 and llm.usage.prompt_tokens == 2 and llm.usage.completion_tokens == 4
    assert llm.usage.cost_usd is None  # no known price for this model


def test_transient_errors_are_retried(openai_server, settings):
    openai_server.replies = [(500, "boom"), (429, "slow down"), (503, "busy"), (200, "finally")]
    llm = make_llm(f"openai-compatible:gpt-4o-mini@{openai_server.url}", settings)
    assert llm.invoke([HumanMessage("x")]) == "finally"
    assert len(openai_server.requests) == 4 and llm.usage.calls == 1
    assert llm.usage.cost_usd == pytest.approx((1 * 0.15 + 1 * 0.60) / 1e6)


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


def test_bad_specs(settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="needs OPENAI_API_KEY"):
        make_llm("openai:gpt-4o-mini", settings)
    with pytest.raises(InputError, match="unknown --llm"):
        make_llm("claude", settings)


@pytest.mark.integration
def test_local_model_generates(smol, settings):
    llm = make_llm("local", settings)
    reply = llm.invoke([HumanMessage("What is the capital of France? Answer in one word.")], max_tokens=12)
    assert reply.strip() and llm.usage.calls == 1
    assert llm.usage.prompt_tokens > 10 and 0 < llm.usage.completion_tokens <= 12 and llm.usage.cost_usd == 0.0

"""LLM simulators: a scripted OpenAI-protocol server for exact behaviour, the real local model end to end."""

import json

import pytest

from autointerp.llm import make_llm
from autointerp.records import ActivationRecord
from autointerp.scoring.llm_simulators import LLMSimulator, LogprobSimulator, SimulationFailed
from autointerp.scoring.simulation import score_records, simulation_score
from autointerp.errors import InputError

REC = ActivationRecord(window=0, tokens=["<s>", "The", " smooth", " road"], token_ids=[1, 2, 3, 4],
                       activations=[5.0, 0.0, 4.0, 0.5], max_index=2, max_token=" smooth", max_activation=4.0,
                       has_bos=True)



def test_llm_simulator_parses_and_retries(openai_server, settings):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    openai_server.replies = [(200, "I think [1, 9]"), (200, "Sorry: " + json.dumps([0, 9, 2]))]
    value, per, n = score_records("smoothness", [], [REC], 4.0, "llm", llm)
    assert n == 3 and value > 0.9 and len(openai_server.requests) == 2
    assert "2 predictions for 3 tokens" in openai_server.requests[1]["messages"][-1]["content"]
    assert llm.usage.calls == 2 and llm.usage.prompt_tokens > 0


def test_llm_simulator_typed_failure_never_zeros(openai_server, settings):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    openai_server.replies = [(200, "no idea"), (200, "[1, 2]"), (200, "[a, b, c]")]
    with pytest.raises(SimulationFailed, match="no usable predictions in 3 attempts"):
        LLMSimulator(llm).predict("smooth", [], [REC])
    assert len(openai_server.requests) == 3


def test_logprob_needs_a_backend_with_logprobs(openai_server, settings):
    with pytest.raises(InputError, match="no prompt logprobs"):
        LogprobSimulator(make_llm(f"openai-compatible:m@{openai_server.url}", settings))


@pytest.mark.integration
def test_local_llm_simulators_end_to_end(real_settings):
    """The weak embedded LLM: llm-logprob always yields a score; llm yields one or a typed failure."""
    llm = make_llm("local", real_settings)
    s = simulation_score("L3.N74", "numbers and years", "llm-logprob", n_top=1, n_random=1, settings=real_settings,
                         llm=llm)
    assert -1 <= s.value <= 1 and s.llm == "local" and s.prompt_tokens > 100 and s.n_examples == 2
    try:
        s = simulation_score("L3.N74", "numbers", "llm", n_top=1, n_random=0, settings=real_settings, llm=llm)
        assert -1 <= s.value <= 1 and s.completion_tokens > 0
    except SimulationFailed as e:
        assert "local gave no usable predictions" in str(e)

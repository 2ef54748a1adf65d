"""LLM simulators: a scripted OpenAI-protocol server for exact behaviour, the real local model end to end."""

import json

import numpy as np
import pytest
import torch

from autointerp.llm import LLMError, make_llm
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
    sim = score_records("smoothness", [], [REC], 4.0, "llm", llm)
    value, n, usage = sim.value, sim.n_tokens, sim.usage
    assert n == 3 and value > 0.9 and len(openai_server.requests) == 2
    assert "2 predictions for 3 tokens" in openai_server.requests[1]["messages"][-1]["content"]
    assert usage.calls == 2 and usage.prompt_tokens > 0  # both calls of this scoring, the retry included


def test_llm_simulator_typed_failure_never_zeros(openai_server, settings):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    openai_server.replies = [(200, "no idea"), (200, "[1, 2]"), (200, "[a, b, c]")]
    with pytest.raises(SimulationFailed, match="no usable predictions in 3 attempts"):
        LLMSimulator(llm).predict("smooth", [], [REC])
    assert len(openai_server.requests) == 3


def test_logprob_needs_a_backend_with_logprobs(openai_server, settings):
    with pytest.raises(InputError, match="no prompt logprobs"):
        LogprobSimulator(make_llm("openai:gpt-4o-mini", settings))
    sim = LogprobSimulator(make_llm(f"openai-compatible:m@{openai_server.url}", settings))
    with pytest.raises(LLMError, match="echo is not supported"):
        sim.predict("smooth", [], [REC])


def _real_scorer(target):
    """What vLLM returns for echo + logprobs, computed with the real SmolLM2."""

    def scorer(prompt: str, top: int):
        tok = target.tokenizer
        enc = tok(prompt, return_offsets_mapping=True, add_special_tokens=False)
        ids = enc["input_ids"]
        lp = torch.log_softmax(target.run(torch.tensor([ids]), logits=True).logits[0].float(), -1)
        tops = [{}]
        for row in lp[:-1]:
            v, i = row.topk(top)
            tops.append({tok.decode([int(k)]): float(x) for k, x in zip(i, v)})
        return [tok.decode([i]) for i in ids], [s for s, _ in enc["offset_mapping"]], tops

    return scorer


def test_logprob_simulator_on_an_openai_compatible_server(openai_server, settings, smol):
    """Given enough top logprobs, a server's prompt logprobs give the local model's exact expected values;
    vLLM's default cap of 20 truncates the digit distribution, so those only track them."""
    openai_server.scorer = _real_scorer(smol)
    rec = REC.model_copy(update=dict(tokens=["<s>", "The", " smooth", " road", " in", " 1990", "."],
                                     activations=[0, 0, 4, 0.5, 0, 0, 0]))
    remote_llm = make_llm(f"openai-compatible:m@{openai_server.url}", settings)
    local = LogprobSimulator(make_llm("local", settings)).predict("the word smooth", [], [rec])[0]
    wide = LogprobSimulator(remote_llm, top=500).predict("the word smooth", [], [rec])[0]
    capped_sim = LogprobSimulator(remote_llm)
    capped = capped_sim.predict("the word smooth", [], [rec])[0]
    print("local ", local, "\nwide  ", wide, "\ncapped", capped)
    assert wide[0] == 0.0 and len(wide) == len(rec.tokens)
    assert max(abs(a - b) for a, b in zip(wide, local)) < 0.01
    assert float(np.corrcoef(capped[1:], local[1:])[0, 1]) > 0.5
    body = openai_server.requests[-1]
    assert body["echo"] is True and body["logprobs"] == 20 and body["prompt"].count("\t0\n") == 6
    assert capped_sim.usage.calls == 1 and capped_sim.usage.prompt_tokens > 50  # its own call alone


@pytest.mark.integration
def test_local_llm_simulators_end_to_end(real_settings, real_wb):
    """The weak embedded LLM: llm-logprob always yields a score; llm yields one or a typed failure."""
    llm = make_llm("local", real_settings)
    s = simulation_score(real_wb, "L3.N74", "numbers and years", "llm-logprob", top=1, random=1, llm=llm)
    assert (s.value is None or -1 <= s.value <= 1) and s.llm == "local" and s.prompt_tokens > 100 and s.n_examples == 2
    try:
        s = simulation_score(real_wb, "L3.N74", "numbers", "llm", top=1, random=0, llm=llm)
        assert (s.value is None or -1 <= s.value <= 1) and s.completion_tokens > 0
    except SimulationFailed as e:
        assert "local gave no usable predictions" in str(e)

"""Batched greedy decoding: one reply alone is `generate`'s own tokens (the reference, computed by
transformers); replies decoded together, joining and leaving at different steps, get the tokens
each gets alone; a failing reply fails alone. A tiny random Llama checks the mechanics; the real
SmolLM2 checks agent-like replies (begun JSON, stop strings, repetition penalty)."""

import threading

import pytest
import torch

from autointerp.llm.decode import BatchDecoder, Request


@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, initializer_range=0.3,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    return LlamaForCausalLM(config).eval()


def _prompts(n: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(3, 97, (int(torch.randint(2, 30, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def _generate(model, ids: list[int], max_new: int, penalty: float = 1.0) -> list[int]:
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=max_new,
                             repetition_penalty=penalty, pad_token_id=2, eos_token_id=2)
    return out[0, len(ids):].tolist()


def _in_threads(calls: list, timeout: float = 120) -> list:
    """Each call on its own thread, all released at once: what each returned or raised."""
    got: list = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def go(i: int) -> None:
        start.wait()
        try:
            got[i] = calls[i]()
        except BaseException as e:  # noqa: BLE001 - the test reads what each caller got
            got[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return got


def _together(decoder: BatchDecoder, reqs: list[Request]) -> list[Request | BaseException]:
    return _in_threads([lambda r=r: decoder.decode(r) for r in reqs])


def test_one_reply_alone_is_generates_own_tokens(tiny):
    decoder = BatchDecoder(tiny, eos_id=2)
    for i, ids in enumerate(_prompts(6)):
        penalty = 1.3 if i % 2 else 1.0
        assert decoder.decode(Request(ids, 25, penalty=penalty)).new == _generate(tiny, ids, 25, penalty)


def test_replies_decoded_together_get_the_tokens_each_gets_alone(tiny):
    prompts = _prompts(8)
    lengths = [5, 40, 12, 60, 1, 33, 20, 48]  # some leave early, one is done at its first token
    alone = [_generate(tiny, ids, n) for ids, n in zip(prompts, lengths)]
    decoder = BatchDecoder(tiny, eos_id=2, max_batch=4)  # more callers than places: they wait, then join
    got = _together(decoder, [Request(ids, n) for ids, n in zip(prompts, lengths)])
    assert [r.new for r in got] == alone
    assert decoder.rows / decoder.steps > 1.5, (decoder.rows, decoder.steps)  # they did share forwards
    for r, ids in zip(got, prompts):  # each reply's cache holds its prompt and reply but the last token
        assert r.cache.get_seq_length() == len(ids) + len(r.new) - 1
    assert decoder._driver is None and not decoder._rows  # nobody is left driving


def test_a_failing_reply_fails_alone_and_the_decoder_goes_on(tiny):
    prompts = _prompts(4)
    alone = [_generate(tiny, ids, 30) for ids in prompts]

    def broken(new: list[int]) -> bool:
        if len(new) > 3:
            raise ValueError("the caller's stop test broke")
        return False

    reqs = [Request(ids, 30) for ids in prompts]
    reqs[1] = Request([5, 500, 7], 30)  # a token the model does not have: its prompt cannot be read
    reqs[2] = Request(prompts[2], 30, stops=[broken])
    got = _together(BatchDecoder(tiny, eos_id=2), reqs)
    assert isinstance(got[1], IndexError) and isinstance(got[2], ValueError)
    assert got[0].new == alone[0] and got[3].new == alone[3]


def _llm_cases():
    from langchain_core.messages import HumanMessage, SystemMessage

    system = SystemMessage('You explain one MLP neuron. Reply with one JSON object: {"tool": NAME, "args": {...}}.')
    cases = []
    for n, words in ((74, "' smooth', ' rough', ' soft'"), (269, "' 1998', ' 12', ' seven'")):
        cases += [([system, HumanMessage(f"Neuron L6.N{n}. Top tokens: {words}. First step?")],
                   {"prefill": '{"tool": "', "max_tokens": 30, "stop_strings": ["}}"]}),
                  ([HumanMessage(f"What does a neuron firing on {words} detect?")],
                   {"prefill": "The neuron fires on", "max_tokens": 20, "repetition_penalty": 1.3}),
                  ([HumanMessage(f"Write one line about {words}.")], {"max_tokens": 40})]
    return cases


@pytest.mark.integration
def test_the_local_model_batched_gives_generates_tokens(settings):
    from autointerp.llm.local import LocalChatModel
    from autointerp.targets.embedded import load_chat_model

    model, tok = load_chat_model(settings.data_dir)
    chat = LocalChatModel(model, tok, prefix_cache=False)
    cases = _llm_cases()
    reference = []
    for messages, hints in cases:
        full = chat.encode_chat(messages) + (tok.encode(hints["prefill"], add_special_tokens=False)
                                             if "prefill" in hints else [])
        x = torch.tensor([full])
        with torch.inference_mode():
            out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                 max_new_tokens=hints["max_tokens"], stop_strings=hints.get("stop_strings"),
                                 repetition_penalty=hints.get("repetition_penalty", 1.0), tokenizer=tok,
                                 pad_token_id=tok.eos_token_id)
        reference.append(out[0, len(full):].tolist())
    alone = [chat.invoke(m, **h).response_metadata["generated_ids"] for m, h in cases]
    assert alone == reference
    decoder = chat._decoder
    decoder.steps = decoder.rows = 0
    got = _in_threads([lambda m=m, h=h: chat.invoke(m, **h).response_metadata["generated_ids"] for m, h in cases],
                      timeout=300)
    assert decoder.rows / decoder.steps > 1.5, (decoder.rows, decoder.steps)
    same = sum(a == b for a, b in zip(got, reference))
    assert same >= len(cases) - 1, f"{same}/{len(cases)} batched replies are generate's tokens"


def test_an_interrupted_driver_leaves_nobody_waiting(tiny):
    """The caller driving the loop is interrupted mid-batch (here: a stop test raising
    KeyboardInterrupt on the driving thread): every caller returns, and the decoder goes on."""
    prompts = _prompts(4)

    def interrupt(new: list[int]) -> bool:
        if len(new) > 4:
            raise KeyboardInterrupt
        return False

    decoder = BatchDecoder(tiny, eos_id=2)
    got = _together(decoder, [Request(prompts[0], 30, stops=[interrupt])] + [Request(ids, 30) for ids in prompts[1:]])
    assert all(g is not None for g in got)  # every thread returned (`_together` joins with a timeout)
    assert any(isinstance(g, KeyboardInterrupt | RuntimeError) for g in got)
    assert decoder._driver is None and not decoder._rows
    assert decoder.decode(Request(prompts[1], 30)).new == _generate(tiny, prompts[1], 30)

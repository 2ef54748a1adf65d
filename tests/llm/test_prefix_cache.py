"""The local model's prefix cache: the same greedy tokens as running every prompt whole, for fewer
computed prompt tokens, on agent-like conversations (growing, begun replies, stop strings) with an
unrelated conversation and seed calls interleaved."""

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from autointerp.llm import LLM, Capabilities
from autointerp.llm.local import LocalChatModel, PrefixCache, common_prefix

SYSTEM = ("You explain one MLP neuron of a language model. Reply with one JSON object: "
          '{"tool": NAME, "args": {...}}. Tools: probe(texts), synonyms(word), score(explanation), submit(explanation).')
STEP = {"prefill": '{"tool": "', "max_tokens": 10, "stop_strings": ["}}"]}


def _llm(data_dir, prefix_cache: bool) -> LLM:
    from autointerp.targets.embedded import load_chat_model

    return LLM("local", LocalChatModel(*load_chat_model(data_dir), prefix_cache=prefix_cache), price=(0.0, 0.0),
               capabilities=Capabilities(prefill=True, digit_logprobs=True), prefix_reuse=True)


def _script(llm: LLM) -> tuple[list[list[int]], int, int]:
    """Two growing agent conversations stepped in turn, seed calls (category few-shot, one-shot)
    between them: (each call's generated token ids, prompt tokens sent, prompt tokens computed)."""
    chats = [[SystemMessage(SYSTEM), HumanMessage(f"Neuron L6.N{n}. Top tokens: {words}. First step?")]
             for n, words in ((74, "' smooth', ' rough', ' soft'"), (269, "' 1998', ' 12', ' seven'"))]
    seeds = [([HumanMessage("Name the category of each line.")],
              {"prefill": "red, blue, green: colours\ncat, dog, horse: animals\nsmooth, rough, soft:",
               "max_tokens": 6, "stop_strings": ["\n"]}),
             ([HumanMessage("Explain in one sentence what the neuron fires on: 'a smooth road', 'soft skin'.")],
              {"prefill": "The neuron fires on", "max_tokens": 10, "repetition_penalty": 1.3})]
    generated, sent, computed = [], 0, 0

    def call(messages, hints):
        nonlocal sent, computed
        reply = llm.invoke(messages, **hints)
        generated.append(reply.message.response_metadata["generated_ids"])
        sent += reply.usage.prompt_tokens
        computed += reply.usage.computed_prompt_tokens
        return reply

    for step in range(3):
        for i, chat in enumerate(chats):
            reply = call(chat, STEP)
            chat += [AIMessage(reply.text), HumanMessage(f"Result of step {step}: activation {i + step}.5. Next step.")]
        if step < len(seeds):
            call(*seeds[step])
    call(*seeds[1])  # a repeated prompt: all but its last token can come from the cache
    return generated, sent, computed


@pytest.mark.integration
def test_prefix_cache_gives_the_uncached_tokens_for_fewer_computed_tokens(settings):
    plain, sent, computed_plain = _script(_llm(settings.data_dir, prefix_cache=False))
    cached, sent_cached, computed = _script(_llm(settings.data_dir, prefix_cache=True))
    assert cached == plain  # token for token, every call
    assert sent_cached == sent == computed_plain
    assert computed < 0.5 * sent, (computed, sent)


def test_prefix_cache_bounds_and_picks_the_longest_shared_prefix():
    torch = pytest.importorskip("torch")
    from transformers import DynamicCache, LlamaConfig

    config = LlamaConfig(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, hidden_size=8)

    def cache_of(ids):  # keys hold each position's token id, so a returned prefix can be read back
        t = torch.tensor(ids, dtype=torch.float32).view(1, 1, -1, 1).expand(1, 1, -1, 4).contiguous()
        return DynamicCache(ddp_cache_data=[(t, t.clone()) for _ in range(2)], config=config)

    pc = PrefixCache(config, entries=2, max_tokens=12)
    assert pc.take([1, 2, 3]) == (0, None)
    pc.put([1, 2, 3, 4], cache_of([1, 2, 3, 4]))
    pc.put([9, 8, 7], cache_of([9, 8, 7]))
    n, got = pc.take([1, 2, 3, 5, 6])
    assert n == 3 and got.layers[0].keys[0, 0, :, 0].tolist() == [1, 2, 3]
    got.update(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4), 0)  # what generation does to it
    n, again = pc.take([1, 2, 3, 4])  # the kept entry is untouched; at least one token is left to run
    assert n == 3 and again.layers[1].values[0, 0, :, 0].tolist() == [1, 2, 3]
    pc.put([1, 2, 3, 4, 5, 6], cache_of([1, 2, 3, 4, 5, 6]))  # extends [1, 2, 3, 4]: that one goes
    assert len(pc) == 2 and pc.take([1, 2, 3, 4, 5, 6, 7])[0] == 6
    pc.put([5] * 8, cache_of([5] * 8))  # 6 + 8 > 12 tokens: the least recently used goes first
    assert len(pc) == 1 and pc.take([9, 8, 7, 1])[0] == 0
    pc.put(list(range(13)), cache_of(list(range(13))))  # larger than the bound: not kept
    assert pc.take(list(range(13)))[0] == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2 and common_prefix([], [1]) == 0


def test_usage_sums_computed_prompt_tokens_and_defaults_them_to_the_sent_ones():
    from autointerp.llm import Usage

    a, b = Usage.of(100, 5, (1.0, 2.0), seconds=0.5), Usage.of(300, 7, (1.0, 2.0), computed=40, seconds=1.25)
    assert (a.computed_prompt_tokens, b.computed_prompt_tokens) == (100, 40)  # a backend without reuse: all it was sent
    total = a + b
    assert (total.calls, total.prompt_tokens, total.computed_prompt_tokens, total.tokens) == (2, 400, 140, 412)
    assert total.seconds == 1.75
    meter = Usage()
    assert meter.add(a).add(b) == total and meter.cost_usd == pytest.approx(424e-6)

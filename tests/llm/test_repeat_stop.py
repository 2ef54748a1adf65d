"""A looping greedy reply is cut after three copies of its loop, and any reply once `stop_when` holds;
any other reply is unchanged."""

import pytest
from langchain_core.messages import HumanMessage

from autointerp.llm.local import looping


def test_looping_needs_three_copies_of_one_block():
    assert looping([5, 1, 2, 3, 1, 2, 3, 1, 2, 3], period=16, times=3)
    assert looping([9, 9, 9], period=16, times=3)
    assert not looping([1, 2, 3, 1, 2, 3], period=16, times=3)  # two copies
    assert not looping([1, 2, 3, 1, 2, 4, 1, 2, 3], period=16, times=3)
    assert not looping(list(range(17)) * 2 + list(range(17)), period=16, times=3)  # block longer than period
    assert not looping([], period=16, times=3)


@pytest.mark.integration
def test_the_local_model_stops_a_loop_and_leaves_other_replies_alone(settings):
    from autointerp.llm import LLM, Capabilities
    from autointerp.llm.local import LocalChatModel
    from autointerp.targets.embedded import load_chat_model

    llm = LLM("local", LocalChatModel(*load_chat_model(settings.data_dir), prefix_cache=False), price=(0.0, 0.0),
              capabilities=Capabilities(prefill=True))
    loop = [HumanMessage("Write the word 'windows' again and again.")]
    hints = {"prefill": "windows of the windows of the windows of the", "max_tokens": 120}
    long = llm.invoke(loop, **hints)
    cut = llm.invoke(loop, **hints, stop_on_repeat=True)
    full_ids, cut_ids = (r.message.response_metadata["generated_ids"] for r in (long, cut))
    assert len(full_ids) == 120 and looping(full_ids, 16, 3)
    assert len(cut_ids) < 40 and cut_ids == full_ids[:len(cut_ids)]  # the same tokens, stopped early
    seen: list[str] = []
    watched = llm.invoke(loop, **hints, stop_when=lambda text: seen.append(text) or len(text) > len(hints["prefill"]) + 12)
    early = watched.message.response_metadata["generated_ids"]
    assert seen[0].startswith(hints["prefill"]) and watched.text == seen[-1]  # it sees the whole reply so far
    assert 0 < len(early) < 12 and early == full_ids[:len(early)]
    plain = [HumanMessage("Name one colour.")]
    assert llm.invoke(plain, max_tokens=30, stop_on_repeat=True).text == llm.invoke(plain, max_tokens=30).text

import pytest
import torch

from autointerp.errors import InputError
from autointerp.tools.probe import probe

pytestmark = pytest.mark.integration

TEXTS = ["The smooth surface of the lake.", "Hi", "Andorra is a small country between France and Spain, "
         "in the Pyrenees mountains, with a long history of co-princes.", "An apple a day keeps the doctor away."]


def test_batched_equals_one_at_a_time(smol, wb):
    together = probe(wb, "L6.N74", TEXTS)
    for text, rec in zip(TEXTS, together.records):
        alone = probe(wb, "L6.N74", [text]).records[0]
        assert alone.tokens == rec.tokens
        assert max(abs(a - b) for a, b in zip(alone.activations, rec.activations)) < 1e-4
    assert [len(r.tokens) for r in together.records] == [len(smol.encode(t)) + 1 for t in TEXTS]


def test_probe_matches_direct_forward(smol, wb):
    rec = probe(wb, "L3.N10", [TEXTS[0]]).records[0]
    acts = smol.layer_activations(torch.tensor([rec.token_ids]), 3)[0, :, 10]
    assert torch.allclose(acts, torch.tensor(rec.activations), atol=1e-5)
    assert rec.tokens[0] == "<|im_start|>" and rec.has_bos
    assert rec.max_index >= 1 and rec.max_activation == pytest.approx(float(acts[1:].max()), abs=1e-5)


@pytest.mark.parametrize("texts, message", [
    ([], "no texts"), (["   "], "text 1 is empty"), (["ok", ""], "text 2 is empty"),
    (["word " * 9000], "more than the context window"),
])
def test_bad_texts(wb, texts, message):
    with pytest.raises(InputError, match=message):
        probe(wb, "L6.N74", texts)

"""`effects` on a random-weight Gemma 2 saved as a Hugging Face directory (`--model /path`): its
norms store `weight` as an offset from one, freshly initialised to zero, so reading `weight` gave
no promoted token at all. The DLA it reports must be the independent autograd reference's."""

from __future__ import annotations

import torch

from tests.conftest import linked_home
from tests.targets import families as F


def test_effects_on_a_random_gemma2_directory(home, tmp_path, small_corpus):
    from autointerp.cache.build import build_cache
    from autointerp.tools.effects import effects
    from autointerp.workbench import Workbench

    tok = F.make_tokenizer()
    path = F.save_family("gemma2", tmp_path, tok, perturb_norms=False)
    settings = linked_home(home, tmp_path / "home", tokens=512)
    build_cache([0], model=str(path), corpus=str(small_corpus), settings=settings, progress=False)
    wb = Workbench.open(str(path), corpus=str(small_corpus), settings=settings, progress=False)

    res = effects(wb, "L0.N3", k=5, contexts=4)
    assert len(res.promoted) == 5 and len(res.suppressed) == 5
    assert "1 + weight" in res.norm_handling and "softcap" in res.norm_handling

    hf = F.load_hf(path)
    top = wb.layer(0).top(3)[:4]
    ref = torch.stack([F.reference_dla(hf, "gemma2", 0, 3, torch.tensor([r.token_ids]), r.max_index)
                       for r in top]).mean(0)
    want = ref.topk(5)
    assert [e.token for e in res.promoted] == [tok.decode([int(i)]) for i in want.indices]
    assert max(abs(e.value - float(v)) for e, v in zip(res.promoted, want.values)) < 1e-4
    assert abs(res.suppressed[0].value - float(ref.min())) < 1e-4

"""Integration: the real embedded SmolLM2 on the real embedded corpus, small token budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autointerp.cache.build import build_cache, plan
from autointerp.records import UnitId
from autointerp.tools.show import neuron_examples, render_html, snippet
from autointerp.workbench import Workbench

pytestmark = pytest.mark.integration
LAYER = 3
TOKENS = 4096  # 66 windows of 63 text tokens + BOS


@pytest.fixture()
def real_cache(fresh_settings, smol):
    build_cache([LAYER], tokens=TOKENS, settings=fresh_settings, progress=False)
    return Workbench.open(settings=fresh_settings, progress=False).layer(LAYER, build=False)


def test_stored_windows_reproduce_on_rerun(real_cache, smol):
    """Truthfulness: re-running the model on stored windows gives the stored activations."""
    for index in (0, 74, 1535):
        ex = real_cache.unit(UnitId(layer=LAYER, index=index))
        for rec in ex.top[:5] + ex.random[:3]:
            ids = torch.tensor([rec.token_ids])
            fresh = smol.layer_activations(ids, LAYER)[0, :, index].numpy()
            stored = np.array(rec.activations)
            scale = max(1.0, float(np.abs(fresh).max()))
            assert np.allclose(stored, fresh, atol=2e-3 * scale), (index, rec.window)  # float16 storage
        top = ex.top[0]
        fresh = smol.layer_activations(torch.tensor([top.token_ids]), LAYER)[0, 1:, index]
        assert abs(float(fresh.max()) - top.max_activation) < 1e-4 * max(1.0, top.max_activation)


def test_summaries_match_brute_force(real_cache, smol, fresh_settings):
    """Every summary equals what the full activation tensor of the same windows says."""
    p = plan(smol, None, TOKENS, fresh_settings)
    tokens = torch.from_numpy(p.windows.tokens[: p.n_windows]).long()
    full = torch.cat([smol.layer_activations(tokens[i:i + 32], LAYER) for i in range(0, len(tokens), 32)])
    body = full[:, 1:, :]
    a = real_cache.arrays
    assert real_cache.n_tokens == body.shape[0] * body.shape[1]
    assert np.allclose(a["max"], body.amax((0, 1)).numpy(), atol=1e-5)
    assert np.allclose(a["sum"] / real_cache.n_tokens, body.mean((0, 1)).double().numpy(), atol=1e-5)
    assert np.array_equal(a["npos"], (body > 0).sum((0, 1)).numpy())
    wmax = body.amax(1)
    for n in (0, 74, 500):
        want = set(torch.argsort(-wmax[:, n])[:100].tolist())
        assert {int(w) for w in a["top_win"][n] if w >= 0} == want
        ex = real_cache.unit(UnitId(layer=LAYER, index=n))
        assert ex.max_activation == pytest.approx(float(wmax[:, n].max()), abs=1e-5)
        assert real_cache.max_activation(n) == ex.max_activation
        assert sum(ex.stats.histogram.counts) == real_cache.n_tokens
        # quantile bins: the sampled windows ordered by their max in the full tensor (float16
        # storage: ties within its precision may swap), each bin's low and high its first and last
        sampled = [int(w) for w in a["q_win"][n] if w >= 0]
        want = np.sort(wmax[sampled, n].numpy()).astype(float)
        bins = real_cache.quantiles(n)
        assert bins and sum(len(b.examples) for b in bins) <= len(sampled)
        edges = np.array([(b.low, b.high) for b in bins]).ravel()
        assert np.all(np.diff(edges) >= 0)
        assert edges[0] == pytest.approx(want[0], abs=2e-3 * max(1.0, float(want[-1])))
        assert edges[-1] == pytest.approx(want[-1], abs=2e-3 * max(1.0, float(want[-1])))
        for b in bins:
            for r in b.examples:
                assert b.low <= r.max_activation <= b.high
                assert r.max_activation == pytest.approx(max(r.activations[1:]), abs=1e-4)
        # a page's limited reads decode a prefix of the full ones, nothing else
        assert [b.examples for b in real_cache.quantiles(n, 2)] == [b.examples[:2] for b in bins]
        assert [(b.low, b.high) for b in real_cache.quantiles(n, 2)] == [(b.low, b.high) for b in bins]
        assert real_cache.random(n, 5) == real_cache.random(n)[:5]


def test_show_on_real_model(real_cache, fresh_settings):
    ex = neuron_examples(Workbench.open(settings=fresh_settings, progress=False), "L3.N74")
    assert ex.model == "smollm2-135m" and ex.n_tokens == real_cache.n_tokens
    assert ex.top[0].max_activation == ex.max_activation > 0
    assert all(a.max_activation >= b.max_activation for a, b in zip(ex.top, ex.top[1:]))
    sn = snippet(ex.top[0])
    assert sn.token == ex.top[0].max_token.replace("\n", "↵")
    assert len(sn.left.split()) <= 3 and len(sn.right.split()) <= 3
    assert sum(u.count for u in ex.unique_top_tokens) == len(ex.top)
    page = render_html(ex)
    assert "<script" not in page.replace("&lt;script", "")  # corpus text is escaped, never markup

"""The streaming summaries equal brute-force answers computed on the whole activation tensor."""

import math

import numpy as np
import torch

from autointerp.cache.stream import BottomK, Histogram, LayerState, RandomWindows


def _batches(n_windows=300, t=9, n=7, bs=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(n_windows, t, n, generator=g) * torch.linspace(0.1, 5, n)
    for i in range(0, n_windows, bs):
        yield i, acts[i: i + bs]
    return acts


def test_bottomk_equals_full_sort():
    g = torch.Generator().manual_seed(1)
    acts = torch.randn(500, 6, 5, generator=g)
    keys = torch.randn(500, 5, generator=g)
    keys[keys > 1.5] = math.inf  # +inf means "never keep"
    buf = BottomK(20, 5, 6)
    for i in range(0, 500, 37):
        buf.update(keys[i:i + 37], torch.arange(i, min(i + 37, 500)), acts[i:i + 37])
    for n in range(5):
        finite = torch.isfinite(keys[:, n])
        want = set(torch.argsort(keys[:, n])[: min(20, int(finite.sum()))].tolist())
        got = {int(w) for w in buf.win[n] if w >= 0}
        assert got == want
        for slot in range(20):
            w = int(buf.win[n, slot])
            if w >= 0:
                assert buf.keys[n, slot] == keys[w, n]
                assert torch.allclose(buf.acts[n, slot].float(), acts[w, :, n], atol=2e-3)


def test_bottomk_fewer_candidates_than_k():
    buf = BottomK(10, 3, 4)
    buf.update(torch.tensor([[0.5, math.inf, 0.1]]), torch.tensor([7]), torch.ones(1, 4, 3))
    assert sorted(buf.win[0].tolist()).count(7) == 1
    assert (buf.win[1] == -1).all()


def test_random_windows_is_bottom_k_of_window_keys():
    g = torch.Generator().manual_seed(2)
    acts = torch.randn(400, 5, 3, generator=g)
    keys = torch.rand(400, generator=g)
    rw = RandomWindows(25, 3, 5)
    for i in range(0, 400, 32):
        rw.update(keys[i:i + 32], torch.arange(i, min(i + 32, 400)), acts[i:i + 32])
    assert set(rw.win.tolist()) == set(torch.argsort(keys)[:25].tolist())
    for slot, w in enumerate(rw.win.tolist()):
        assert torch.allclose(rw.acts[slot].float(), acts[w], atol=2e-3)


def test_histogram_doubling_is_exact():
    g = torch.Generator().manual_seed(3)
    h = Histogram(4, 16)
    chunks = [torch.randn(2, 8, 4, generator=g) * s for s in (0.01, 0.3, 1.0, 7.0, 40.0)]
    for c in chunks:
        h.update(c, c.abs().amax((0, 1)))
    data = torch.cat([c.reshape(-1, 4) for c in chunks]).numpy()
    edges = h.edges()
    for n in range(4):
        want, _ = np.histogram(data[:, n], bins=edges[n])
        assert want.tolist() == h.counts[n].tolist()
        assert h.counts[n].sum() == len(data)


def test_layer_state_stats_match_brute_force():
    g = torch.Generator().manual_seed(4)
    acts = torch.randn(130, 9, 6, generator=g) * 2 + 0.3
    st = LayerState(6, 9, top_k=10, n_random=8, quantile_sample=12, hist_bins=32, layer=0, has_bos=True)
    u = torch.rand(130, generator=g, dtype=torch.float64)
    u2 = torch.rand(130, generator=g, dtype=torch.float64)
    for i in range(0, 130, 16):
        j = min(i + 16, 130)
        st.update(acts[i:j], torch.arange(i, j), u[i:j], u2[i:j])
    body = acts[:, 1:, :]  # BOS position excluded
    flat = body.reshape(-1, 6).double()
    assert st.ntok == flat.shape[0] and st.windows_done == 130
    assert torch.allclose(st.sum / st.ntok, flat.mean(0), atol=1e-9)
    assert torch.allclose(st.sumsq, (flat ** 2).sum(0), rtol=1e-5)
    assert torch.equal(st.npos, (flat > 0).sum(0))
    assert torch.equal(st.max, body.amax((0, 1)))
    wmax = body.amax(1)
    for n in range(6):
        top = set(torch.argsort(-wmax[:, n])[:10].tolist())
        assert {int(w) for w in st.top.win[n]} == top
        # quantile sample: only windows that activate the neuron
        q = [int(w) for w in st.quant.win[n] if w >= 0]
        assert q and all(wmax[w, n] > 0 for w in q)


def test_state_round_trips_through_arrays():
    g = torch.Generator().manual_seed(5)
    acts = torch.randn(40, 5, 4, generator=g)
    u = torch.rand(40, dtype=torch.float64, generator=g)
    a = LayerState(4, 5, 6, 6, 6, 16, layer=2, has_bos=False)
    a.update(acts, torch.arange(40), u, u)
    b = LayerState(4, 5, 6, 6, 6, 16, layer=2, has_bos=False)
    b.load_arrays(a.to_arrays())
    for k, v in a.to_arrays().items():
        assert np.array_equal(v, b.to_arrays()[k]), k


def test_a_sparse_state_round_trips_through_its_files(tmp_path):
    """Latent-like activations (mostly exactly 0, some negative): the checkpoint keeps only nonzeros,
    and a state resumed from the files written to disk holds the dense buffers of the one written."""
    from autointerp.cache import store
    from autointerp.records import CacheManifest

    g = torch.Generator().manual_seed(6)
    acts = torch.randn(60, 7, 5, generator=g) * (torch.rand(60, 7, 5, generator=g) < 0.15)
    u = torch.rand(60, dtype=torch.float64, generator=g)
    a = LayerState(5, 7, 8, 8, 8, 16, layer=1, has_bos=False, sparse=True)
    a.update(acts, torch.arange(60), u, u)
    arrays = a.to_arrays()
    assert "top_acts" not in arrays and "r_acts.val" in arrays
    assert arrays["q_acts.val"].size == int((a.quant.acts != 0).sum()) < a.quant.acts.numel()
    m = CacheManifest(format=store.SPARSE_FORMAT, model="m", corpus="c", corpus_hash="h", window=7, layer=1,
                      d_mlp=5, n_windows_target=60, windows_done=60, status="complete", seed=0, top_k=8,
                      n_random=8, quantile_sample=8, checkpoint="", files={})
    m = store.write_checkpoint(tmp_path, m, arrays)
    read = store.load_arrays(tmp_path, m)
    for n in range(5):  # one unit's rows, as the dense buffers index them
        assert np.array_equal(read["top_acts"][n], a.top.acts[n].numpy())
        assert np.array_equal(read["r_acts"][n], a.random.acts[:, :, n].numpy())
    b = LayerState(5, 7, 8, 8, 8, 16, layer=1, has_bos=False, sparse=True)
    b.load_arrays(read)
    for buf in ("top", "quant", "random"):
        assert torch.equal(getattr(a, buf).acts, getattr(b, buf).acts), buf
    for k, v in arrays.items():
        assert np.array_equal(v, b.to_arrays()[k]), k

"""Dictionaries others wrote, loaded and used as unit sources: a sparsify folder written by
EleutherAI's sparsify itself, SAELens folders written as SAELens lays them out. Encodings match
sparsify's own code and SAELens's formulas (written out here); a latent's direct logit attribution
and ablation match the transformers model on every random-weight family; the toolbox runs on
latents of the embedded tiny model."""

from __future__ import annotations

import json

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from safetensors.torch import save_file

from autointerp.agent.explain import explain
from autointerp.dictionaries import DictionaryLatents, add_dictionary, list_dictionaries, read, reconstruction
from autointerp.dictionaries.registry import info_of
from autointerp.errors import InputError
from autointerp.paths import DataLayout
from autointerp.records import UnitId
from autointerp.tools.effects import effects
from autointerp.tools.show import neuron_examples
from autointerp.workbench import Workbench
from tests.targets import families as F


def sparsify_folder(root, d: int, n: int = 256, k: int = 8, hook: str = "layers.1", seed: int = 0):
    """A random-weight TopK SAE saved by sparsify's own `save_to_disk`."""
    from sparsify import SparseCoder, SparseCoderConfig

    torch.manual_seed(seed)
    sc = SparseCoder(d, SparseCoderConfig(num_latents=n, k=k))
    sc.encoder.bias.data = torch.randn(n) * 0.1
    sc.b_dec.data = torch.randn(d) * 0.1
    sc.save_to_disk(root / hook)
    return sc


def saelens_folder(path, d: int, n: int = 96, arch: str = "jumprelu", hook: str = "blocks.1.hook_resid_post",
                   seed: int = 1, **cfg):
    """cfg.json + sae_weights.safetensors as SAELens writes them (W_enc [d_in, d_sae])."""
    g = torch.Generator().manual_seed(seed)
    w = {"W_enc": torch.randn(d, n, generator=g) / d ** 0.5, "b_enc": torch.randn(n, generator=g) * 0.1,
         "W_dec": torch.randn(n, d, generator=g) / d ** 0.5, "b_dec": torch.randn(d, generator=g) * 0.1}
    if arch == "jumprelu":
        w["threshold"] = torch.rand(n, generator=g) * 0.2
    path.mkdir(parents=True)
    save_file(w, str(path / "sae_weights.safetensors"))
    (path / "cfg.json").write_text(json.dumps({"architecture": arch, "d_in": d, "d_sae": n, "hook_name": hook,
                                               "apply_b_dec_to_input": True, "normalize_activations": "none",
                                               **cfg}))
    return w


def saelens_encode(w: dict, x: torch.Tensor, arch: str, k: int | None = None) -> torch.Tensor:
    """SAELens's encoders, from its source (saes/standard_sae.py, jumprelu_sae.py, topk_sae.py)."""
    hidden_pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    if arch == "jumprelu":
        return torch.relu(hidden_pre) * (hidden_pre > w["threshold"]).float()
    if arch == "topk":
        vals, idx = torch.topk(hidden_pre, k=k, dim=-1, sorted=False)
        return torch.zeros_like(hidden_pre).scatter(-1, idx, vals.relu())
    return torch.relu(hidden_pre)


def test_a_sparsify_folder_encodes_and_reconstructs_as_sparsify_does(tiny, settings, tmp_path):
    sc = sparsify_folder(tmp_path / "run", tiny.d_model)
    layout = DataLayout(tmp_path / "home")
    info = add_dictionary(tiny, layout, tmp_path / "run", "sp")
    assert (info.layout, info.site, info.layer, info.n_latents, info.k) == ("sparsify", "resid", 1, 256, 8)
    assert [i.name for i in list_dictionaries(layout, tiny.name)] == ["sp"]
    with pytest.raises(InputError, match="already registered"):
        add_dictionary(tiny, layout, tmp_path / "run", "sp")

    w = read("sparsify", tmp_path / "run" / "layers.1", "layers.1")
    src = DictionaryLatents(tiny, info, w)
    ids = torch.randint(10, 1000, (3, 16))
    x = tiny.run(ids, read=["blocks.1.hook_resid_post"]).reads["blocks.1.hook_resid_post"].reshape(-1, tiny.d_model)
    ours = src.encode(x)
    theirs = sc.encode(x)
    ref = torch.zeros_like(ours).scatter_(-1, theirs.top_indices, theirs.top_acts)
    assert torch.allclose(ours, ref, atol=1e-5) and int((ours > 0).sum(-1).max()) <= 8
    figures = reconstruction(src, x)
    assert abs(figures["fvu"] - float(sc(x).fvu)) < 1e-4
    assert 0 < figures["l0"] <= 8 and 0 <= figures["dead_fraction"] <= 1


@pytest.mark.parametrize("arch", ["standard", "jumprelu", "topk"])
def test_saelens_folders_encode_as_saelens_defines(tiny, tmp_path, arch):
    w = saelens_folder(tmp_path / "sl", tiny.d_model, arch=arch, **({"k": 5} if arch == "topk" else {}))
    weights = read("saelens", tmp_path / "sl", "")
    src = DictionaryLatents(tiny, info_of("sl", tiny.name, weights), weights)
    x = torch.randn(40, tiny.d_model)
    ref = saelens_encode(w, x, arch, k=5)
    assert ref.abs().sum() > 0 and torch.allclose(src.encode(x), ref, atol=1e-5)


def test_a_dictionary_that_does_not_fit_is_one_line_naming_both(tiny, settings, tmp_path):
    layout = DataLayout(tmp_path / "home")
    saelens_folder(tmp_path / "wide", tiny.d_model + 8)
    with pytest.raises(InputError, match=rf"wide has input width {tiny.d_model + 8} .* {tiny.name}'s d_model is"):
        add_dictionary(tiny, layout, tmp_path / "wide", "wide")
    saelens_folder(tmp_path / "deep", tiny.d_model, hook="blocks.7.hook_resid_post")
    with pytest.raises(InputError, match="reads layer 7"):
        add_dictionary(tiny, layout, tmp_path / "deep", "deep")
    saelens_folder(tmp_path / "attn", tiny.d_model, hook="blocks.1.attn.hook_z")
    with pytest.raises(InputError, match="hook_name 'blocks.1.attn.hook_z'"):
        add_dictionary(tiny, layout, tmp_path / "attn", "attn")
    with pytest.raises(InputError, match="malformed dictionary name"):
        add_dictionary(tiny, layout, tmp_path / "attn", "Bad_Name")
    assert list_dictionaries(layout, tiny.name) == []


def writes_at(model, family: str, layer: int, site: str):
    """The transformers module whose output a dictionary of `site` reads and writes: SAELens's
    `hook_mlp_out` is after Gemma's post-MLP norm, sparsify's `layers.N.mlp` the MLP module itself."""
    block = F.layers_of(model, family)[layer]
    if site == "resid":
        return block
    return (site == "mlp-out" and F.post_mlp_norm(model, family, layer)) or block.mlp


def read_sparsify_like(folder, raw: dict, d: int):
    """SAELens-style ReLU weights saved in sparsify's layout (encoder.weight [n, d_in]); read back
    with the TopK of all latents, which is the ReLU."""
    folder.mkdir(parents=True)
    n = raw["W_enc"].shape[1]
    save_file({"encoder.weight": raw["W_enc"].T.contiguous(), "encoder.bias": raw["b_enc"], "W_dec": raw["W_dec"],
               "b_dec": raw["b_dec"]}, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"activation": "topk", "k": n, "num_latents": n, "d_in": d}))
    return read("sparsify", folder, folder.name)


def reference_latent_dla(model, family: str, layer: int, direction: torch.Tensor, site: str,
                         ids: torch.Tensor, pos: int) -> torch.Tensor:
    """[vocab] d logits[pos] / d z along the direct path, where z adds z * direction to the block's
    output (resid) or to what the MLP adds to the residual stream (mlp-out: after Gemma's post-MLP
    norm): forward-mode autograd through transformers, every later sublayer's input detached, the
    final norm's scale frozen."""
    post = F.post_mlp_norm(model, family, layer) if site == "sparsify-mlp" else None
    norms = [F.final_norm(model, family)] + ([post] if post is not None else [])
    saved = {m: m.forward for m in norms}
    with torch.enable_grad(), fwAD.dual_level():
        alpha = fwAD.make_dual(torch.zeros(()), torch.ones(()))

        def hook(module, args, output):
            x = (output[0] if isinstance(output, tuple) else output).clone()
            x[0, pos] = x[0, pos] + alpha * direction
            return (x, *output[1:]) if isinstance(output, tuple) else x

        later = F.sublayers(model, family)[2 * (layer + 1):]
        handles = [writes_at(model, family, layer, site).register_forward_hook(hook)]
        handles += [m.register_forward_pre_hook(F._detach_inputs, with_kwargs=True) for m in later]
        try:
            for m in norms:
                m.forward = F.frozen_norm_forward(m, family)
            tangent = fwAD.unpack_dual(model(ids).logits[0, pos]).tangent
        finally:
            for m, f in saved.items():
                m.forward = f
            for h in handles:
                h.remove()
    return tangent.detach().clone()


@pytest.mark.parametrize("family", F.FAMILIES)
@pytest.mark.parametrize("site", ["resid", "mlp-out", "sparsify-mlp"])
def test_a_latents_dla_equals_autograd_through_the_real_forward(family, site, family_targets, family_hf, contexts,
                                                                tmp_path):
    target, hf = family_targets[family], family_hf[family]
    ids, pos = contexts
    hook = "blocks.0.hook_resid_post" if site == "resid" else "blocks.0.hook_mlp_out"
    raw = saelens_folder(tmp_path / "sl", target.d_model, arch="standard", hook=hook)  # ReLU: fires on small inputs
    w = read("saelens", tmp_path / "sl", "")
    if site == "sparsify-mlp":  # the same weights as sparsify lays them out, on the MLP module's output
        w = read_sparsify_like(tmp_path / "sp" / "layers.0.mlp", raw, target.d_model)
    src = DictionaryLatents(target, info_of("sl", target.name, w), w)
    worst = 0.0
    for i in (3, 17):
        ref = torch.stack([reference_latent_dla(hf, family, 0, w.w_dec[i], site, ids[r:r + 1], int(pos[r]))
                           for r in range(len(ids))]).mean(0)
        got = target.direct_logit_attribution(src, i, ids, pos).values
        assert ref.abs().max() > 1e-3
        worst = max(worst, float((got - ref).abs().max()))
    assert worst < 1e-4, f"{family} {site}: max |DLA - autograd| = {worst:.3g}"

    # ablation: the latent's decoder contribution taken out where it writes, against a forward hook
    # that takes out SAELens's own encoding of it from the block's (or the MLP's) output
    def take_out(module, args, output):
        x = (output[0] if isinstance(output, tuple) else output).clone()
        x -= saelens_encode(raw, x, "standard")[..., busiest:busiest + 1] * raw["W_dec"][busiest]
        return (x, *output[1:]) if isinstance(output, tuple) else x

    busiest = int((target.activations(ids, src) > 0).sum((0, 1)).argmax())
    with torch.no_grad():
        handle = writes_at(hf, family, 0, site).register_forward_hook(take_out)
        try:
            ref = hf(ids).logits
        finally:
            handle.remove()
        clean = hf(ids).logits
    ours = target.run(ids, patch=src.overwrite(busiest, torch.zeros_like), logits=True).logits
    assert float((ref - clean).abs().max()) > 1e-4 and float((ours - ref).abs().max()) < 1e-4


def test_the_toolbox_runs_on_a_registered_dictionarys_latents(fresh_settings, tiny, tmp_path):
    sparsify_folder(tmp_path / "run", tiny.d_model, n=64, k=8)
    wb = Workbench.open("tiny-random", settings=fresh_settings, progress=False)
    add_dictionary(wb.target, fresh_settings.layout, tmp_path / "run", "res64")
    with pytest.raises(InputError, match="reads layer 1"):
        wb.unit("0-res64/3")
    with pytest.raises(InputError, match="no dictionary named 'nope'"):
        wb.unit("1-nope/3")
    with pytest.raises(InputError, match="out of range"):
        wb.unit("1-res64/64")
    busiest = int(torch.tensor([wb.cache(UnitId.parse("1-res64/0")).stats(i).frac_positive
                                for i in range(64)]).argmax())
    uid = f"1-res64/{busiest}"
    ex = neuron_examples(wb, uid)
    assert ex.neuron == uid and ex.top and ex.top[0].max_activation > 0
    src = wb.source(uid)
    fresh = tiny.activations(torch.tensor([ex.top[0].token_ids]), src)[0, :, busiest]
    assert abs(float(fresh[ex.top[0].max_index]) - ex.top[0].max_activation) < 1e-3

    eff = effects(wb, uid, k=5, contexts=3)
    assert eff.norm_handling.startswith("W_dec[i]")
    assert eff.promoted[0].token == tiny.tokenizer.decode([int(tiny.weight_dla(src)[busiest].argmax())])
    record = explain(wb, uid, method="heuristic")
    assert record.neuron == uid and record.scores[0].neuron == uid


def test_sae_add_list_and_show_through_the_cli(fresh_settings, tmp_path):
    import subprocess
    import sys

    from tests.conftest import env_for

    def run(*args):
        return subprocess.run([sys.executable, "-m", "autointerp.cli", *args, "-m", "tiny-random"], timeout=600,
                              env=env_for(fresh_settings, AUTOINTERP_TOKENS="2048"), capture_output=True, text=True)

    sparsify_folder(tmp_path / "run", 64, n=64, k=8)
    r = run("sae", "add", str(tmp_path / "run"), "--name", "res64")
    assert r.returncode == 0 and "1-res64/0 .. 1-res64/63" in r.stderr, r.stderr
    listed = json.loads(run("sae", "list", "--json").stdout)
    assert [(d["name"], d["layout"], d["layer"], d["n_latents"], d["k"]) for d in listed] == \
        [("res64", "sparsify", 1, 64, 8)]
    assert {"fvu", "l0", "dead_fraction"} <= set(listed[0])
    r = run("cache", "--dictionary", "res64")
    assert r.returncode == 0 and "cached the latents of res64" in r.stderr, r.stderr
    assert len(list(fresh_settings.home.glob("cache/tiny-random/*/w64/layer01-res64/manifest.json"))) == 1
    r = run("show", "1-res64/3", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["neuron"] == "1-res64/3", r.stderr
    for args, said in ((("sae", "add", str(tmp_path / "none"), "--name", "x"), "not a directory"),
                       (("sae", "add", str(tmp_path / "run"), "--name", "Bad"), "malformed dictionary name"),
                       (("show", "1-nope/3"), "no dictionary named 'nope'"),
                       (("cache", "--dictionary", "nope"), "no dictionary named 'nope'")):
        r = run(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_the_web_app_serves_a_latents_pages(fresh_settings, tmp_path):
    """Latent ids hold a slash: the page, the JSON and the effects endpoint still find them."""
    import httpx

    from autointerp.web import create_app
    from tests.web.conftest import serving

    sparsify_folder(tmp_path / "run", 64, n=64, k=8)
    wb = Workbench.open("tiny-random", settings=fresh_settings, progress=False)
    add_dictionary(wb.target, fresh_settings.layout, tmp_path / "run", "res64")
    cache = wb.cache(UnitId.parse("1-res64/0"))
    busiest = max(range(64), key=lambda i: cache.stats(i).frac_positive)
    with serving(create_app(wb)) as url, httpx.Client(base_url=url, timeout=120) as http:
        got = http.get(f"/api/neurons/1-res64/{busiest}")
        assert got.status_code == 200 and got.json()["neuron"] == f"1-res64/{busiest}"
        assert got.json()["top"][0]["max_activation"] == cache.top(busiest, 1)[0].max_activation
        page = http.get(f"/neurons/1-res64/{busiest}")
        assert page.status_code == 200 and f"1-res64/{busiest}" in page.text
        eff = http.post(f"/api/neurons/1-res64/{busiest}/effects")
        assert eff.status_code == 200 and eff.json()["neuron"] == f"1-res64/{busiest}", eff.text
        assert http.get("/api/neurons/1-res64/64").status_code == 404


@pytest.mark.integration
def test_fuzzing_and_the_neuronpedia_export_of_a_saelens_latent(fresh_settings, tmp_path):
    """A SAELens folder someone wrote: its latent is explained and stored, scored by fuzzing with
    delphi's rule for latents (fires above 0), and exported with Neuronpedia's source id as layer."""
    import subprocess
    import sys

    from tests.conftest import env_for

    def run(*args):
        return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], timeout=900, capture_output=True,
                              env=env_for(fresh_settings, AUTOINTERP_TOKENS="8192", AUTOINTERP_MODEL="tiny-random"),
                              text=True)

    saelens_folder(tmp_path / "sl", 64, n=48, arch="topk", k=2)  # each latent fires on ~1 token in 24
    wb = Workbench.open("tiny-random", settings=fresh_settings.model_copy(update={"tokens": 8192}), progress=False)
    add_dictionary(wb.target, fresh_settings.layout, tmp_path / "sl", "jb48")
    cache = wb.cache(UnitId.parse("1-jb48/0"))
    freq = torch.tensor([cache.stats(i).frac_positive for i in range(48)])
    busiest = int(torch.where(freq < 0.06, freq, 0.0).argmax())  # firing often, yet silent in whole stretches
    uid = f"1-jb48/{busiest}"
    r = run("explain", uid, "--heuristic", "--json")
    assert r.returncode == 0, r.stderr
    text = json.loads(r.stdout)["text"]
    r = run("score", uid, text, "--method", "fuzzing", "-n", "6", "--quantiles", "2", "--json")
    assert r.returncode == 0, r.stderr
    score = json.loads(r.stdout)
    assert score["neuron"] == uid and score["details"]["fire_threshold"] == 0.0
    assert 0.0 <= score["value"] <= 1.0
    out = tmp_path / "np.jsonl"
    r = run("export", "--format", "neuronpedia", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["layer"], row["index"]) for row in rows] == [("1-jb48", str(busiest))]


def test_a_dictionarys_cache_is_stored_sparse_and_reads_as_a_dense_one(home, tiny, tmp_path, monkeypatch):
    """The same dictionary cached twice, as nonzeros (the default for latents) and dense: every
    latent's examples, scoring sample and the layer page's summary are the same; the sparse files
    are smaller; a neuron cache stays dense."""
    from autointerp.cache import store
    from autointerp.scoring.sample import EmptyPool, sample_examples
    from autointerp.web.views import layer_summary
    from tests.conftest import linked_home

    sparsify_folder(tmp_path / "run", tiny.d_model, n=64, k=8)
    caches = {}
    for sparse in (True, False):
        monkeypatch.setattr(DictionaryLatents, "sparse_cache", sparse)
        s = linked_home(home, tmp_path / f"home-{sparse}")
        add_dictionary(tiny, s.layout, tmp_path / "run", "res64")
        caches[sparse] = Workbench.open("tiny-random", settings=s, progress=False).cache(UnitId.parse("1-res64/0"))
    sp, dense = caches[True], caches[False]
    assert (sp.manifest.format, dense.manifest.format) == (store.SPARSE_FORMAT, store.FORMAT)
    assert "r_acts.val.npy" in sp.manifest.files and "r_acts.npy" not in sp.manifest.files

    def size(cache, prefix):
        d = cache.plan.directory(cache.source) / cache.manifest.checkpoint
        return sum(p.stat().st_size for p in d.glob(f"{prefix}*.npy"))

    for block in ("top_acts", "q_acts", "r_acts"):
        assert size(sp, block) < 0.5 * size(dense, block), block
    def sampled(cache, n):
        try:
            return sample_examples(cache, n)
        except EmptyPool as e:  # a latent firing in every random window: the same refusal both ways
            return str(e)

    fired = 0
    for n in range(64):
        a, b = sp.unit(sp.source.unit(n)), dense.unit(dense.source.unit(n))
        assert a.model_dump() == b.model_dump(), n
        if sp.max_activation(n) > 0:
            fired += 1
            assert sampled(sp, n) == sampled(dense, n), n
    assert fired >= 10  # the comparison saw latents with examples, not only dead ones
    assert layer_summary(sp) == layer_summary(dense)
    neurons = Workbench.open("tiny-random", settings=linked_home(home, tmp_path / "neurons"), progress=False)
    assert neurons.cache(UnitId.parse("L1.N0")).manifest.format == store.FORMAT

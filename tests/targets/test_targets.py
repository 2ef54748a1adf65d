import time

import pytest
import torch

from autointerp.errors import InputError, TargetError
from autointerp.records import UnitId
from autointerp.targets import FINAL_SCALE, hook_name, load_target, mlp_in_name
from autointerp.targets.embedded import converted_dir


def test_tiny_ranges(tiny):
    assert (tiny.n_layers, tiny.d_mlp) == (2, 128)
    tiny.check(UnitId.parse("L1.N127"))
    with pytest.raises(InputError, match=r"layers are 0\.\.1"):
        tiny.check(UnitId.parse("L2.N0"))
    with pytest.raises(InputError, match=r"neurons are 0\.\.127"):
        tiny.check(UnitId.parse("L0.N128"))


@pytest.mark.integration
def test_embedded_ranges_named_in_errors(smol):
    assert (smol.n_layers, smol.d_mlp) == (30, 1536)
    with pytest.raises(InputError, match=r"layer 99 is out of range for smollm2-135m: layers are 0\.\.29"):
        smol.check(UnitId.parse("L99.N1"))
    with pytest.raises(InputError, match=r"neurons are 0\.\.1535"):
        smol.check(UnitId.parse("L6.N99999"))


@pytest.mark.integration
def test_hook_post_is_the_mlp_nonlinearity_output(smol):
    """blocks.L.mlp.hook_post equals silu(gate(x)) * up(x) computed by hand from the HF module."""
    hf = smol.bridge.original_model
    ids = torch.tensor([[smol.bos_id] + smol.encode("The smooth surface of the lake was calm.")])
    got = smol.layer_activations(ids, 6)
    _, cache = smol.bridge.run_with_cache(ids, names_filter=lambda n: n == "blocks.6.ln2.hook_out")
    x = cache["blocks.6.ln2.hook_out"]
    mlp = hf.model.layers[6].mlp
    want = torch.nn.functional.silu(mlp.gate_proj(x)) * mlp.up_proj(x)
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.integration
def test_converted_weights_are_kept_and_reused(smol, settings):
    path = converted_dir(settings.data_dir)
    assert (path / "model.safetensors").stat().st_size > 100_000_000
    stamp = path.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert converted_dir(settings.data_dir) == path
    assert time.perf_counter() - t0 < 5 and path.stat().st_mtime_ns == stamp


def test_early_stop_runs_only_needed_layers(tiny):
    ids = torch.randint(10, 1000, (2, 12))
    seen = []
    tiny.run_units(ids, [tiny.neurons(0)], lambda src, act: seen.append(src.layer))
    assert seen == [0]
    # hooks are removed: a later full run is unaffected
    a = tiny.layer_activations(ids, 1)
    b = tiny.layer_activations(ids, 1)
    assert torch.equal(a, b)


def test_offline_unknown_model_names_the_embedded_default(settings):
    t0 = time.perf_counter()
    with pytest.raises(TargetError, match="smollm2-135m"):
        load_target("gpt2-small", settings)
    assert time.perf_counter() - t0 < 30


def test_run_reads_several_points_in_one_forward(tiny):
    ids = torch.randint(10, 1000, (2, 12))
    both = tiny.run(ids, read=[hook_name(1), hook_name(0), mlp_in_name(1), FINAL_SCALE])
    assert both.logits is None
    assert torch.equal(both.post(0), tiny.run(ids, read=[hook_name(0)]).post(0))
    assert torch.equal(both.post(1), tiny.layer_activations(ids, 1))
    assert both.post(1).shape == (2, 12, tiny.d_mlp)
    assert both.reads[mlp_in_name(1)].shape == (2, 12, tiny.d_model)
    assert both.reads[FINAL_SCALE].shape == (2, 12, 1)


def test_run_patch_changes_logits_and_is_removed(tiny):
    ids = torch.randint(10, 1000, (1, 10))
    clean = tiny.run(ids, logits=True).logits
    assert clean.shape == (1, 10, tiny.unembedding().shape[1])

    def fire(act):
        act[..., 5] = 100.0

    patched = tiny.run(ids, patch={hook_name(0): fire}, read=[hook_name(0)], logits=True)
    assert (patched.post(0)[..., 5] == 100.0).all()  # reads see the patched values
    assert not torch.allclose(patched.logits, clean)
    assert torch.equal(tiny.run(ids, patch={hook_name(0): lambda act: act.clone()}, logits=True).logits, clean)
    assert torch.equal(tiny.run(ids, logits=True).logits, clean)  # the patch hook is gone


def test_run_stops_after_the_last_read_without_logits(tiny):
    ids = torch.randint(10, 1000, (1, 6))
    later = []
    out = tiny.run(ids, read=[hook_name(0)], patch={hook_name(1): lambda act: later.append(1)})
    assert out.logits is None and later == []  # layer 1 never ran
    out = tiny.run(ids, read=[hook_name(0)], patch={hook_name(1): lambda act: later.append(1)}, logits=True)
    assert later == [1] and out.logits is not None
    with pytest.raises(InputError, match="layers are 0..1"):
        tiny.run(ids, patch={hook_name(2): lambda act: None})


def test_run_padded_equals_one_at_a_time(tiny):
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(10, 1000, (n,), generator=g).tolist() for n in (7, 3, 12, 1)]
    together = tiny.run_padded(seqs, read=[hook_name(1)], logits=True)
    for row, s in enumerate(seqs):
        alone = tiny.run(torch.tensor([s]), read=[hook_name(1)], logits=True)
        assert torch.allclose(together.post(1)[row, : len(s)], alone.post(1)[0], atol=1e-4)
        assert torch.allclose(together.logits[row, : len(s)], alone.logits[0], atol=1e-4)


def test_weight_accessors_have_the_documented_shapes(tiny):
    vocab = tiny.embedding().shape[0]
    assert tiny.w_out(1).shape == (tiny.d_mlp, tiny.d_model)
    assert tiny.w_in(0).shape == (tiny.d_model, tiny.d_mlp)
    assert tiny.final_norm_weight().shape == (tiny.d_model,)
    assert tiny.unembedding().shape == (tiny.d_model, vocab)
    with pytest.raises(InputError, match="layers are 0..1"):
        tiny.w_out(2)

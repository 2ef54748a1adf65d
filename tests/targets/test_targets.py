import time

import pytest
import torch

from autointerp.errors import InputError, TargetError
from autointerp.records import NeuronId
from autointerp.targets import load_target
from autointerp.targets.embedded import converted_dir


def test_tiny_ranges(tiny):
    assert (tiny.n_layers, tiny.d_mlp) == (2, 128)
    tiny.check(NeuronId.parse("L1.N127"))
    with pytest.raises(InputError, match=r"layers are 0\.\.1"):
        tiny.check(NeuronId.parse("L2.N0"))
    with pytest.raises(InputError, match=r"neurons are 0\.\.127"):
        tiny.check(NeuronId.parse("L0.N128"))


@pytest.mark.integration
def test_embedded_ranges_named_in_errors(smol):
    assert (smol.n_layers, smol.d_mlp) == (30, 1536)
    with pytest.raises(InputError, match=r"layer 99 is out of range for smollm2-135m: layers are 0\.\.29"):
        smol.check(NeuronId.parse("L99.N1"))
    with pytest.raises(InputError, match=r"neurons are 0\.\.1535"):
        smol.check(NeuronId.parse("L6.N99999"))


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
    tiny.run_layers(ids, [0], lambda layer, act: seen.append(layer))
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

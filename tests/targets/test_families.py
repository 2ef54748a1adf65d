"""DLA, mean ablation and patching on every architecture family, each checked against the real
transformers forward of the same saved directory (autograd for DLA, forward hooks for edits)."""

from __future__ import annotations

import pytest
import torch

from autointerp.targets import FINAL_SCALE, hook_name
from tests.targets import families as F

NEURONS = [(0, 5), (1, 17), (1, 100)]


@pytest.mark.parametrize("family", F.FAMILIES)
def test_dla_equals_autograd_through_the_real_forward(family, family_targets, family_hf, contexts):
    target, hf = family_targets[family], family_hf[family]
    ids, pos = contexts
    worst = 0.0
    for layer, n in NEURONS:
        ref = torch.stack([F.reference_dla(hf, family, layer, n, ids[i:i + 1], int(pos[i]))
                           for i in range(len(ids))]).mean(0)
        got = target.direct_logit_attribution(target.neurons(layer), n, ids, pos)
        assert got.values.shape == ref.shape and ref.abs().max() > 0.05
        worst = max(worst, float((got.values - ref).abs().max()))
        # the same from a run the caller made anyway (effects' clean run, logits and scales read)
        run = target.run(ids, read=target.dla_reads(target.neurons(layer)), logits=True)
        shared = target.direct_logit_attribution(target.neurons(layer), n, ids, pos, measured=run)
        worst = max(worst, float((shared.values - ref).abs().max()))
    assert worst < 1e-4, f"{family}: max |DLA - autograd| = {worst:.3g}"
    with pytest.raises(ValueError, match="lacks"):
        target.direct_logit_attribution(target.neurons(1), 17, ids, pos, measured=target.run(ids, read=[hook_name(1)]))


@pytest.mark.parametrize("family", ["gpt2", "neox", "gemma2", "gemma3"])
def test_the_reference_rejects_the_old_formula(family, family_targets, family_hf, contexts):
    """W_out[n] * stored weight / scale @ W_U (no centring, no 1 + w, no post-MLP norm, no softcap)
    is far from the reference on these families: the test above can fail."""
    target, hf = family_targets[family], family_hf[family]
    ids, pos = contexts
    raw = F.final_norm(hf, family).weight.detach()
    scale = target.run(ids[:1], read=[FINAL_SCALE]).reads[FINAL_SCALE][0, int(pos[0])]
    old = (target.w_out(0)[5] * raw / scale) @ target.unembedding()
    ref = F.reference_dla(hf, family, 0, 5, ids[:1], int(pos[0]))
    assert (old - ref).abs().max() > 1e-2


@pytest.mark.parametrize("family", F.FAMILIES)
def test_reference_norms_give_the_modules_values(family, family_hf):
    """The reference's frozen-scale norms compute what the transformers modules compute."""
    hf = family_hf[family]
    x = torch.randn(2, 5, F.D_MODEL) * 3 + 1
    for m in [F.final_norm(hf, family), F.post_mlp_norm(hf, family, 1)]:
        if m is not None:
            with torch.no_grad():
                assert torch.allclose(F.frozen_norm_forward(m, family)(x), m(x), atol=1e-5)


@pytest.mark.parametrize("family", F.FAMILIES)
def test_neuron_activations_are_the_output_projections_input(family, family_targets, family_hf, contexts):
    ids, _ = contexts
    for layer in (0, 1):
        ours = family_targets[family].run(ids, read=[hook_name(layer)]).post(layer)
        assert torch.allclose(ours, F.hf_activations(family_hf[family], family, layer, ids), atol=1e-5)


@pytest.mark.parametrize("family", F.FAMILIES)
def test_mean_ablation_and_patching_equal_the_real_forward(family, family_targets, family_hf, contexts):
    """Target.run(patch=...) as effects uses it (the neuron set to a constant everywhere; one
    position overwritten) gives the logits of transformers with the same edit, gated MLP or not."""
    target, hf = family_targets[family], family_hf[family]
    ids, pos = contexts
    layer, n, p = 1, 17, int(pos[0])

    def ablate(a):
        a[..., n] = 0.37

    def patch(a):
        a[:, p, n] = 2.5

    # the ablation as effects makes it, through the neurons' unit source; the patch at its hook point
    ours_edits = (target.neurons(layer).overwrite(n, lambda v: torch.full_like(v, 0.37)),
                  {hook_name(layer): patch})
    worst = 0.0
    for edit, ours_edit in zip((ablate, patch), ours_edits):
        ours = target.run(ids, patch=ours_edit, logits=True).logits
        ref = F.hf_logits_with(hf, family, layer, edit, ids)
        assert not torch.allclose(ref, F.hf_logits_with(hf, family, layer, lambda a: None, ids), atol=1e-4)
        worst = max(worst, float((ours - ref).abs().max()))
    assert worst < 1e-4, f"{family} ({'gated' if F.GATED[family] else 'plain'} MLP): {worst:.3g}"


@pytest.mark.parametrize("family", F.FAMILIES)
def test_weight_dla_ranks_as_the_measured_dla(family, family_targets, contexts):
    """Without contexts, each neuron's row is the measured DLA up to a positive factor (the
    norms' scales): one context, no softcap."""
    if family == "gemma2":
        pytest.skip("the softcap's slope depends on the logits")
    target = family_targets[family]
    ids, pos = contexts
    static = target.weight_dla(target.neurons(1))[17]
    measured = target.direct_logit_attribution(target.neurons(1), 17, ids[:1], pos[:1]).values
    factor = (measured @ static) / (static @ static)
    assert factor > 0 and torch.allclose(measured, factor * static, atol=1e-5)


def test_final_norm_weight_is_the_gain(family_targets, family_hf, family_tokenizer, settings, tmp_path):
    """Gemma multiplies by 1 + weight; a freshly initialised Gemma (weight zero) has gain one."""
    from autointerp.targets import _load

    for family in F.FAMILIES:
        raw = F.final_norm(family_hf[family], family).weight.detach()
        want = 1 + raw if family.startswith("gemma") else raw
        assert torch.allclose(family_targets[family].final_norm_weight(), want)
    path = F.save_family("gemma2", tmp_path, family_tokenizer, perturb_norms=False)
    plain = _load.__wrapped__(str(path), settings.data_dir, settings.hub_timeout)
    assert torch.equal(plain.final_norm_weight(), torch.ones(F.D_MODEL))

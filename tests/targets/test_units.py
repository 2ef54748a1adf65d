"""Unit sources beyond neurons, through the public API: a toy source whose units are the residual
stream's coordinates after a layer (a "dictionary" whose encoder and decoder are the identity),
registered as a source kind. Its direct logit attribution and its ablation match the transformers
model itself on every random-weight family, and the cache, `show`, `probe`, `effects`, a heuristic
`explain` and scoring run on its units through the code neurons use."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from autointerp.agent.explain import explain
from autointerp.cache.build import build_cache
from autointerp.errors import InputError
from autointerp.records import UnitId
from autointerp.targets import UnitSource, register_source_kind, unregister_source_kind
from autointerp.tools.effects import effects
from autointerp.tools.probe import probe
from autointerp.tools.show import neuron_examples as show
from autointerp.workbench import Workbench
from tests.targets import families as F


class ResidCoordinates(UnitSource):
    """Unit i: coordinate i of the residual stream after block `layer`; it writes e_i there."""

    kind = "latent"

    @property
    def n_units(self) -> int:
        return self.target.d_model

    @property
    def read_point(self) -> str:
        return f"blocks.{self.layer}.hook_resid_post"

    def encode(self, acts: torch.Tensor) -> torch.Tensor:
        return acts

    def output_directions(self) -> torch.Tensor:
        return torch.eye(self.target.d_model)

    def overwrite(self, index, value):
        def patch(act: torch.Tensor) -> None:
            act[..., index] = value(act[..., index])

        return {self.read_point: patch}


class ResidKind:
    name = "resid-coordinates"

    def claims(self, unit: UnitId) -> bool:
        return unit.dictionary == "resid"

    def open(self, target, unit: UnitId) -> UnitSource:
        return ResidCoordinates(target, unit.layer, "resid")


@pytest.fixture()
def resid_kind():
    register_source_kind(ResidKind)
    yield
    unregister_source_kind(ResidKind.name)


def _block_output_hook(edit):
    def hook(module, args, output):
        x = (output[0] if isinstance(output, tuple) else output).clone()
        edit(x)
        return (x, *output[1:]) if isinstance(output, tuple) else x

    return hook


def reference_resid_dla(model, family: str, layer: int, coord: int, ids: torch.Tensor, pos: int) -> torch.Tensor:
    """[vocab] d logits[pos] / d resid_post[layer][pos, coord] along the direct path: forward-mode
    autograd through transformers, every later sublayer's input detached, the final norm's scale
    frozen (what `Target.direct_logit_attribution` holds fixed)."""
    norm = F.final_norm(model, family)
    saved = norm.forward
    block = F.layers_of(model, family)[layer]
    with torch.enable_grad(), fwAD.dual_level():
        alpha = fwAD.make_dual(torch.zeros(()), torch.ones(()))

        def nudge(x):
            x[0, pos, coord] = x[0, pos, coord] + alpha

        handles = [block.register_forward_hook(_block_output_hook(nudge))]
        handles += [m.register_forward_pre_hook(F._detach_inputs, with_kwargs=True)
                    for m in F.sublayers(model, family)[2 * (layer + 1):]]
        try:
            norm.forward = F.frozen_norm_forward(norm, family)
            logits = model(ids).logits[0, pos]
            tangent = fwAD.unpack_dual(logits).tangent
        finally:
            norm.forward = saved
            for h in handles:
                h.remove()
    return tangent.detach().clone()


def test_a_latent_id_without_its_dictionary_is_one_clear_error(tiny):
    with pytest.raises(InputError, match="no dictionary named 'resid'"):
        tiny.units(UnitId.parse("1-resid/3"))


@pytest.mark.parametrize("family", F.FAMILIES)
def test_a_sources_dla_and_ablation_equal_the_real_forward(family, family_targets, family_hf, contexts, resid_kind):
    target, hf = family_targets[family], family_hf[family]
    ids, pos = contexts
    src = target.units(UnitId.parse("0-resid/0"))
    assert isinstance(src, ResidCoordinates) and src.n_units == target.d_model and src.id == "0-resid"
    worst = 0.0
    for coord in (3, 17):
        ref = torch.stack([reference_resid_dla(hf, family, 0, coord, ids[i:i + 1], int(pos[i]))
                           for i in range(len(ids))]).mean(0)
        got = target.direct_logit_attribution(src, coord, ids, pos).values
        assert ref.abs().max() > 5e-3  # a basis vector writes less than a neuron's W_out row
        worst = max(worst, float((got - ref).abs().max()))
    assert worst < 1e-4, f"{family}: max |DLA - autograd| = {worst:.3g}"

    def ablate(x):
        x[..., 17] = 0.37

    ours = target.run(ids, patch=src.overwrite(17, lambda v: torch.full_like(v, 0.37)), logits=True).logits
    with torch.no_grad():
        handle = F.layers_of(hf, family)[0].register_forward_hook(_block_output_hook(ablate))
        try:
            ref = hf(ids).logits
        finally:
            handle.remove()
    assert float((ours - ref).abs().max()) < 1e-4


def test_the_toolbox_runs_on_a_registered_source(fresh_settings, tiny, resid_kind):
    src = tiny.units(UnitId.parse("1-resid/0"))
    build_cache([src], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    wb = Workbench.open("tiny-random", settings=fresh_settings, progress=False)
    assert wb.cache(UnitId.parse("1-resid/5")).manifest.dictionary == "resid"
    assert wb.cache(src).plan.directory(src).name == "layer01-resid"

    ex = show(wb, "1-resid/5")
    assert ex.neuron == "1-resid/5" and ex.top
    top = ex.top[0]
    fresh = tiny.activations(torch.tensor([top.token_ids]), src)[0, :, 5]
    assert abs(float(fresh[top.max_index]) - top.max_activation) < 1e-3

    probed = probe(wb, "1-resid/5", [tiny.tokenizer.decode(top.token_ids[1:])])
    assert probed.neuron == "1-resid/5" and len(probed.records[0].activations) == len(top.token_ids)

    eff = effects(wb, "1-resid/5", k=5, contexts=3)
    assert eff.norm_handling.startswith("W_dec[i]") and eff.ablation_contexts == 3
    dla = tiny.weight_dla(src)[5]
    assert eff.promoted[0].token == tiny.tokenizer.decode([int(dla.argmax())])

    record = explain(wb, "1-resid/5", method="heuristic")
    assert record.neuron == "1-resid/5" and record.scores and record.scores[0].neuron == "1-resid/5"
    with pytest.raises(InputError, match="out of range"):
        show(wb, f"1-resid/{tiny.d_model}")

"""A dictionary's latents as a unit source: read at the dictionary's hook point through its encoder;
each latent writes its decoder row where the dictionary's output goes."""

from __future__ import annotations

import torch

from autointerp.dictionaries.formats import DictionaryWeights
from autointerp.records import DictionaryInfo, DictionaryLayout, DictionarySite
from autointerp.targets.base import Target, mlp_in_name
from autointerp.targets.units import Patch, UnitSource, Value


def points(site: DictionarySite, layer: int, layout: DictionaryLayout) -> tuple[str, str]:
    """(read, write) hook points of the target for a dictionary's site. sparsify hooks the Hugging
    Face MLP module's output (before a post-MLP norm, where the model has one); SAELens hooks
    TransformerLens's `hook_mlp_out` (after it)."""
    if site == "resid":
        return f"blocks.{layer}.hook_resid_post", f"blocks.{layer}.hook_resid_post"
    out = f"blocks.{layer}.mlp.hook_out" if layout == "sparsify" else f"blocks.{layer}.hook_mlp_out"
    return (out if site == "mlp-out" else mlp_in_name(layer)), out


class DictionaryLatents(UnitSource):
    """Latent i: the dictionary's activation i (its own encoder: ReLU, TopK or JumpReLU, with its
    input normalisation and decoder-bias subtraction as its layout defines them); it writes its
    decoder row. SAELens's `hook_mlp_out` is what the MLP adds to the residual stream, after a
    post-MLP norm where the model has one (Gemma 2 / 3); sparsify's MLP hookpoints are the MLP
    module's output, before it, so that norm lies on their latents' direct path as on a neuron's."""

    kind = "latent"
    output_name = "W_dec[i]"
    fire_fraction = 0.0  # delphi's rule for latents: fires when above zero
    sparse_cache = True  # silent (exactly 0) on almost every token

    def __init__(self, target: Target, info: DictionaryInfo, weights: DictionaryWeights) -> None:
        super().__init__(target, weights.layer, info.name)
        self.info, self.w = info, weights
        self._read, self.write_point = points(weights.site, weights.layer, weights.layout)
        self.through_post_mlp_norm = weights.layout == "sparsify" and weights.site != "resid"

    @property
    def n_units(self) -> int:
        return self.w.n_latents

    @property
    def read_point(self) -> str:
        return self._read

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(normalised input, its per-token scale, its per-token shift): x = scale * x_n + shift."""
        if self.w.normalize == "constant_norm_rescale":
            scale = x.norm(dim=-1, keepdim=True) / self.w.d_in ** 0.5
            return x / scale, scale, torch.zeros_like(scale)
        if self.w.normalize == "layer_norm":
            mu = x.mean(-1, keepdim=True)
            std = (x - mu).std(dim=-1, keepdim=True)
            return (x - mu) / (std + 1e-5), std, mu
        one = torch.ones(x.shape[:-1] + (1,), dtype=x.dtype)
        return x, one, torch.zeros_like(one)

    def encode(self, acts: torch.Tensor) -> torch.Tensor:
        x, _, _ = self.normalise(acts.float())
        if self.w.subtract_b_dec:
            x = x - self.w.b_dec
        pre = x @ self.w.w_enc.T + self.w.b_enc
        if self.w.activation == "relu":
            return torch.relu(pre)
        if self.w.activation == "jumprelu":
            return torch.relu(pre) * (pre > self.w.threshold)
        values, indices = pre.topk(self.w.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))

    def output_directions(self) -> torch.Tensor:
        return self.w.w_dec

    def input_directions(self) -> torch.Tensor:
        return self.w.w_enc

    def overwrite(self, index: int, value: Value) -> dict[str, Patch]:
        """Replace the latent's decoder contribution z_i * W_dec[i] (times the input's scale where the
        dictionary normalises) with value(z_i) * W_dec[i] where the dictionary writes."""
        row = self.w.w_dec[index]
        seen: dict[str, torch.Tensor] = {}

        def read(act: torch.Tensor) -> None:
            seen["z"] = self.encode(act)[..., index]
            seen["scale"] = self.normalise(act.float())[1][..., 0]

        def write(act: torch.Tensor) -> None:
            if self._read == self.write_point:
                read(act)
            z, scale = seen["z"], seen["scale"]
            act += (((value(z) - z) * scale)[..., None] * row).to(act.dtype)

        if self._read == self.write_point:
            return {self.write_point: write}
        return {self._read: read, self.write_point: write}

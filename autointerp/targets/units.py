"""Unit sources: what autointerp explains, as the target's forward sees it.

A unit source is one family of units of a target (an MLP layer's neurons; next, a dictionary's
latents): where it reads (a hook point, and a transform of what is read there: the identity for
neurons, an encoder for a dictionary), how many units it has, and where each one writes (its output
direction, and where defined its input direction). The cache, the toolbox, scoring and effects read
units only through a source, so a new kind of unit is one class here and one registration."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import torch

from autointerp.errors import InputError
from autointerp.paths import units_stem
from autointerp.plugins import Registry
from autointerp.records import UnitId, UnitKind

if TYPE_CHECKING:
    from autointerp.targets.base import Target

Patch = Callable[[torch.Tensor], torch.Tensor | None]
Value = Callable[[torch.Tensor], torch.Tensor]


def hook_name(layer: int) -> str:
    """The neuron activation: the MLP's output of the non-linearity."""
    return f"blocks.{layer}.mlp.hook_post"


class UnitSource(ABC):
    """One family of units of a target, all read at one hook point of one layer."""

    kind: ClassVar[UnitKind]
    fire_fraction: ClassVar[float] = 0.1
    """Detection and fuzzing: a unit fires above this fraction of its max. A SiLU/GELU neuron is
    almost never exactly 0; a dictionary latent is, when silent (delphi's rule for it: above 0)."""
    sparse_cache: ClassVar[bool] = False
    """Store the cache's example activations as their nonzeros (`cache/sparse.py`): worth it only
    where units are exactly 0 on most tokens."""

    def __init__(self, target: Target, layer: int, dictionary: str | None = None) -> None:
        target.check_layer(layer)
        self.target, self.layer, self.dictionary = target, layer, dictionary

    @property
    def id(self) -> str:
        """`L6` for layer 6's neurons, `6-res4k` for a dictionary: Neuronpedia's source id."""
        return UnitId.model_construct(layer=self.layer, index=0, dictionary=self.dictionary).source_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target.name!r}, {self.id}, units={self.n_units})"

    @property
    @abstractmethod
    def n_units(self) -> int: ...

    @property
    @abstractmethod
    def read_point(self) -> str:
        """The hook point whose activations `encode` turns into the units' activations."""

    @abstractmethod
    def encode(self, acts: torch.Tensor) -> torch.Tensor:
        """[..., n_units] unit activations from what `read_point` holds [..., d_in]."""

    @abstractmethod
    def output_directions(self) -> torch.Tensor:
        """[n_units, d_model]: what one unit of activation adds where the source writes."""

    def input_directions(self) -> torch.Tensor | None:
        """[n_units, d_in]: what each unit reads, where a unit has one direction (None otherwise)."""
        return None

    through_post_mlp_norm: ClassVar[bool] = False
    """Whether what the units write passes a post-MLP norm (Gemma 2/3) before the residual add."""

    output_name: ClassVar[str] = "W_dec[i]"
    """How the output direction is named where a result says which path it took."""

    @abstractmethod
    def overwrite(self, index: int, value: Value) -> dict[str, Patch]:
        """Hook point -> patch (for `Target.run`) that set unit `index`'s activation to value(its
        activations [..., T]) for the rest of the forward: ablation and activation patching. A
        neuron's column is overwritten; a latent's decoder contribution is replaced where it writes."""

    @property
    def cache_name(self) -> str:
        """The directory its cache lives in, under the corpus and window's."""
        return units_stem(self.layer, self.dictionary)

    def unit(self, index: int) -> UnitId:
        return UnitId.model_construct(layer=self.layer, index=index, dictionary=self.dictionary)

    def check(self, index: int) -> None:
        if not 0 <= index < self.n_units:
            raise InputError(f"{self.unit(index)} is out of range for {self.target.name}: "
                             f"{self.id} has units 0..{self.n_units - 1}")


class MlpNeurons(UnitSource):
    """An MLP layer's neurons: the activation after the non-linearity, read as it is; each neuron
    writes its `W_out` row and reads its `W_in` column (the `up` projection of a gated MLP)."""

    kind = "neuron"
    through_post_mlp_norm = True
    output_name = "W_out[n]"

    @property
    def n_units(self) -> int:
        return self.target.d_mlp

    @property
    def read_point(self) -> str:
        return hook_name(self.layer)

    def encode(self, acts: torch.Tensor) -> torch.Tensor:
        return acts

    def output_directions(self) -> torch.Tensor:
        return self.target.w_out(self.layer)

    def input_directions(self) -> torch.Tensor:
        return self.target.w_in(self.layer).T

    def overwrite(self, index: int, value: Value) -> dict[str, Patch]:
        def patch(act: torch.Tensor) -> None:
            act[..., index] = value(act[..., index])

        return {self.read_point: patch}

    def check(self, index: int) -> None:
        if not 0 <= index < self.n_units:
            raise InputError(f"neuron {self.unit(index)} is out of range for {self.target.name}: "
                             f"neurons are 0..{self.n_units - 1} per layer")


@runtime_checkable
class SourceKind(Protocol):
    """One kind of unit source: which unit ids it claims and how it opens their source."""

    name: str

    def claims(self, unit: UnitId) -> bool: ...

    def open(self, target: Target, unit: UnitId) -> UnitSource: ...


class Neurons:
    """MLP neurons: every id without a dictionary (`L6.N74`)."""

    name = "neuron"

    def claims(self, unit: UnitId) -> bool:
        return unit.dictionary is None

    def open(self, target: Target, unit: UnitId) -> UnitSource:
        return MlpNeurons(target, unit.layer)


GROUP = "autointerp.unit_sources"
_kinds: Registry[SourceKind] = Registry(GROUP, SourceKind, key=lambda k: k.name, what="a unit source kind",
                                      needs="name, claims(unit) and open(target, unit)")
register_source_kind = _kinds.register
unregister_source_kind = _kinds.unregister
source_kinds = _kinds.all
_kinds.register(Neurons)


def resolve(target: Target, unit: UnitId) -> UnitSource:
    """The source a unit id names: its layer's neurons, or the dictionary a registered kind opens."""
    for kind in reversed(_kinds.all()):  # later registrations refine earlier ones
        if kind.claims(unit):
            return kind.open(target, unit)
    raise InputError(f"no dictionary named {unit.dictionary!r} is registered for {target.name} "
                     f"(layer {unit.layer}): {unit} names a latent of it")

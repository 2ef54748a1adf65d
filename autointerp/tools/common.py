"""What every neuron tool starts with: a parsed id, the loaded target, and the check that the neuron exists."""

from __future__ import annotations

from autointerp.config import Settings, get_settings
from autointerp.records import NeuronId
from autointerp.targets import Target, load_target


def resolve(neuron: NeuronId | str, model: str | None, settings: Settings | None) -> tuple[NeuronId, Target, Settings]:
    settings = settings or get_settings()
    nid = NeuronId.parse(neuron) if isinstance(neuron, str) else neuron
    target = load_target(model, settings)
    target.check(nid)
    return nid, target, settings

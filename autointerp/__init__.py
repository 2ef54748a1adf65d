"""autointerp: explain the neurons of transformer language models, offline by default."""

from autointerp.records import ActivationRecord, NeuronId, NeuronStats

__all__ = ["ActivationRecord", "NeuronId", "NeuronStats"]
__version__ = "0.1.0"

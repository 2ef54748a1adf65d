"""autointerp: explain the neurons of transformer language models, offline by default."""

import sys

from autointerp.records import ActivationRecord, NeuronId, NeuronStats, UnitId

if "IPython" in sys.modules:  # a notebook: records render as rich HTML (the CLI skips Jinja's import)
    from autointerp.present import notebook  # noqa: F401

__all__ = ["ActivationRecord", "NeuronId", "NeuronStats", "UnitId"]
__version__ = "0.1.0"

"""Dictionaries (SAEs and transcoders) whose latents autointerp explains like neurons: read from
sparsify and SAELens folders, registered per model, opened as a unit source."""

from autointerp.dictionaries.formats import DictionaryWeights, find_layout, read
from autointerp.dictionaries.latents import DictionaryLatents
from autointerp.dictionaries.registry import (
    Dictionaries,
    add_dictionary,
    list_dictionaries,
    open_dictionary,
    reconstruction,
)

__all__ = ["Dictionaries", "DictionaryLatents", "DictionaryWeights", "add_dictionary", "find_layout",
           "list_dictionaries", "open_dictionary", "read", "reconstruction"]

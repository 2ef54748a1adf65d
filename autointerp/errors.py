"""Typed failures. The CLI turns any of these into one error line and a non-zero exit."""


class AutointerpError(Exception):
    """Base class: a failure the user can act on, with a one-line message."""


class InputError(AutointerpError, ValueError):
    """Malformed or out-of-range user input (neuron id, token budget, corpus file...)."""


class TargetError(AutointerpError):
    """A target model cannot be loaded (unknown, not embedded, not cached, hub unreachable)."""


class CorpusError(AutointerpError):
    """A corpus source is empty, unreadable or unreachable."""


class CacheError(AutointerpError):
    """A cache file is missing, corrupt or does not match what was asked for."""


class StoreError(AutointerpError):
    """The explanation store cannot be opened or used (other embedding model, unreachable server...)."""

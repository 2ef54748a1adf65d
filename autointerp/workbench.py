"""The workbench: everything a neuron experiment works on, created once at the edge (CLI command,
library entry point, batch worker, web server) and passed down. Functions below it never
re-resolve a model name or reopen a cache per call."""

from __future__ import annotations

import threading

from rich.console import Console

from autointerp.cache.view import LayerCache, open_layer
from autointerp.config import Settings, get_settings
from autointerp.records import UnitId
from autointerp.targets import Target, load_target


class Workbench:
    """One target model, one corpus, the settings, and the layer caches opened so far (each opened
    and verified once, then kept)."""

    def __init__(self, target: Target, settings: Settings, corpus: str | None = None,
                 console: Console | None = None, progress: bool = True) -> None:
        self.target = target
        self.settings = settings
        self.corpus = corpus
        self.console = console
        self.progress = progress
        self._layers: dict[int, LayerCache] = {}
        self._lock = threading.RLock()

    @classmethod
    def open(cls, model: str | None = None, corpus: str | None = None, settings: Settings | None = None,
             console: Console | None = None, progress: bool = True) -> Workbench:
        """Load (once per process) the target and bind the corpus; caches open lazily."""
        settings = settings or get_settings()
        return cls(load_target(model, settings), settings, corpus, console, progress)

    @property
    def model(self) -> str:
        return self.target.name

    def __repr__(self) -> str:
        return f"Workbench({self.target.name!r}, corpus={self.corpus or self.settings.corpus!r})"

    def neuron(self, neuron: UnitId | str) -> UnitId:
        """The parsed id, checked against the target (one clear InputError when it does not exist)."""
        nid = UnitId.parse(neuron) if isinstance(neuron, str) else neuron
        self.target.check(nid)
        return nid

    def layer(self, layer: int, build: bool = True) -> LayerCache:
        """The layer's complete cache: built (with progress) when missing and `build`, else a CacheError."""
        with self._lock:
            found = self._layers.get(layer)
            if found is None:
                found = open_layer(self.target, layer, self.corpus, self.settings, build=build,
                                   console=self.console, progress=self.progress)
                self._layers[layer] = found
            return found

    def forget(self, layer: int | None = None) -> None:
        """Drop opened caches (after a cache was extended or rebuilt elsewhere)."""
        with self._lock:
            if layer is None:
                self._layers.clear()
            else:
                self._layers.pop(layer, None)

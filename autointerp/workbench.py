"""The workbench: everything a unit experiment works on, created once at the edge (CLI command,
library entry point, batch worker, web server) and passed down. Functions below it never
re-resolve a model name or reopen a cache per call."""

from __future__ import annotations

import threading

from rich.console import Console

from autointerp.cache.view import LayerCache, open_layer
from autointerp.config import Settings, get_settings
from autointerp.records import UnitId
from autointerp.targets import Target, UnitSource, load_target


class Workbench:
    """One target model, one corpus, the settings, and the unit caches opened so far (each opened
    and verified once, then kept)."""

    def __init__(self, target: Target, settings: Settings, corpus: str | None = None,
                 console: Console | None = None, progress: bool = True) -> None:
        self.target = target
        self.settings = settings
        self.corpus = corpus
        self.console = console
        self.progress = progress
        self._caches: dict[str, LayerCache] = {}
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

    def unit(self, unit: UnitId | str) -> UnitId:
        """The parsed id, checked against the target (one clear InputError when it does not exist)."""
        uid = UnitId.parse(unit) if isinstance(unit, str) else unit
        self.target.check(uid)
        return uid

    def source(self, unit: UnitId | str) -> UnitSource:
        """The unit's source: its layer's neurons, or its dictionary."""
        return self.target.units(self.unit(unit))

    def cache(self, unit: UnitId | UnitSource, build: bool = True) -> LayerCache:
        """The complete cache of a unit's source: built (with progress) when missing and `build`,
        else a CacheError."""
        src = unit if isinstance(unit, UnitSource) else self.target.units(unit)
        with self._lock:
            found = self._caches.get(src.id)
            if found is None:
                found = open_layer(self.target, src, self.corpus, self.settings, build=build,
                                   console=self.console, progress=self.progress)
                self._caches[src.id] = found
            return found

    def layer(self, layer: int, build: bool = True) -> LayerCache:
        """The cache of a layer's neurons."""
        return self.cache(self.target.neurons(layer), build)

    def forget(self, layer: int | None = None) -> None:
        """Drop opened caches (after a cache was extended or rebuilt elsewhere): all, or a layer's."""
        with self._lock:
            if layer is None:
                self._caches.clear()
            else:
                for key in [k for k, c in self._caches.items() if c.source.layer == layer]:
                    self._caches.pop(key)

"""The server's state: its one Workbench (the model loads once per process), the store, explain
runs, and what is worth keeping between requests (layer summaries, the overview, effects, LLMs)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from fastapi import HTTPException

from autointerp.config import Settings
from autointerp.errors import AutointerpError, CacheError, InputError
from autointerp.fileio import atomic_write_text
from autointerp.llm import LLM, make_llm
from autointerp.records import DICTIONARY_NAME, DictionaryInfo, Explanation, UnitId
from autointerp.targets import UnitSource
from autointerp.tools.effects import effects as neuron_effects
from autointerp.tools.triage import triage as layer_triage
from autointerp.web import views
from autointerp.web.runs import Runs
from autointerp.web.worker import ModelWorker
from autointerp.workbench import Workbench

OVERVIEW_TTL = 10.0  # seconds: other processes (a batch) may be writing the store meanwhile


class NotFound(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(status_code=404, detail=reason)


class BadRequest(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(status_code=400, detail=reason)


class WebState:
    def __init__(self, wb: Workbench, store=None) -> None:
        from autointerp.store import open_store

        self.wb = wb
        self.settings: Settings = wb.settings
        self.model = wb.model
        self.store = store if store is not None else open_store(wb.settings)
        self.runs = Runs(views.event_view)
        self._lock = threading.Lock()
        self._llm_lock = threading.Lock()  # loading the local LLM takes seconds: not under _lock
        self._summaries: dict[str, tuple[str, views.LayerSummary]] = {}  # source id -> (checkpoint, summary)
        self._overview: tuple[float, list[views.ModelInfo]] | None = None
        self._effects: dict[str, Future] = {}
        self.worker = ModelWorker(wb)  # every probe and effects request runs on its thread
        self._llms: dict[str, LLM] = {}

    # ---- neurons and layers ----

    def neuron(self, spec: str, model: str | None = None) -> tuple[str, UnitId]:
        """(model, neuron) from the URL; NotFound, with the reason, for a malformed or absent one."""
        model = model or self.model
        try:
            nid = UnitId.parse(spec)
        except InputError as e:
            raise NotFound(str(e)) from None
        if model == self.model:
            try:
                self.wb.target.check(nid)
            except InputError as e:
                raise NotFound(str(e)) from None
            return model, nid
        self.check_other(model, nid.layer, nid)
        return model, nid

    def layer_number(self, spec: str, model: str | None = None) -> tuple[str, int]:
        model = model or self.model
        if not spec.strip().isdigit():
            raise NotFound(f"malformed layer {spec!r}: expected a number such as 6")
        layer = int(spec)
        if model == self.model:
            try:
                self.wb.target.check_layer(layer)
            except InputError as e:
                raise NotFound(str(e)) from None
        else:
            self.check_other(model, layer)
        return model, layer

    def check_other(self, model: str, layer: int, nid: UnitId | None = None) -> None:
        """A model this server does not run: known from its config, else from stored records."""
        from autointerp.store import model_shape

        try:
            n_layers, d_mlp = model_shape(model, self.settings)
        except AutointerpError:
            stored = self.store.get(model, nid) if nid is not None else self.store.list(model=model, layer=layer)
            if not stored:
                what = f"neuron {nid}" if nid is not None else f"layer {layer}"
                raise NotFound(f"no model {model!r} here: this server runs {self.model}, and the store holds "
                               f"nothing for {what} of {model!r}") from None
            return
        if not 0 <= layer < n_layers:
            raise NotFound(f"layer {layer} is out of range for {model}: layers are 0..{n_layers - 1}")
        if nid is not None and nid.dictionary is None and not 0 <= nid.index < d_mlp:
            raise NotFound(f"neuron {nid} is out of range for {model}: neurons are 0..{d_mlp - 1} per layer")

    def dictionary(self, name: str) -> tuple[DictionaryInfo, UnitSource]:
        """A dictionary registered for the served model and its source (opened once, kept by the
        target); NotFound, naming the input, for a malformed or unregistered name."""
        from autointerp.dictionaries import list_dictionaries

        if not DICTIONARY_NAME.match(name):
            raise NotFound(f"malformed dictionary name {name!r}: lowercase letters, digits and dashes, e.g. res4k")
        info = next((i for i in list_dictionaries(self.settings.layout, self.model) if i.name == name), None)
        if info is None:
            raise NotFound(f"no dictionary named {name!r} is registered for {self.model}: add one with "
                           f"`autointerp sae add PATH --name {name}`")
        try:
            return info, self.wb.target.units(UnitId(layer=info.layer, index=0, dictionary=name))
        except InputError as e:
            raise NotFound(str(e)) from None

    def cache(self, layer: int | UnitId | UnitSource):
        """The served model's cache of a layer's neurons (or of a unit's source), never built here
        (that takes minutes): None when missing."""
        try:
            return self.wb.layer(layer, build=False) if isinstance(layer, int) else self.wb.cache(layer, build=False)
        except CacheError:
            return None

    def need_cache(self, layer: int | UnitId | UnitSource):
        cache = self.cache(layer)
        if cache is None:
            dictionary = getattr(layer, "dictionary", None)  # a latent's or a dictionary's: its own command
            if dictionary is not None:
                raise NotFound(self.no_dictionary_cache(dictionary))
            raise NotFound(self.no_cache(layer if isinstance(layer, int) else layer.layer))
        return cache

    def no_cache(self, layer: int) -> str:
        return (f"layer {layer} of {self.model} has no complete cache: run `autointerp cache --layers {layer}` "
                f"(then reload)")

    def no_dictionary_cache(self, name: str) -> str:
        return (f"the dictionary {name} of {self.model} has no complete cache: run "
                f"`autointerp cache --dictionary {name}` (then reload)")

    def summary(self, source: int | UnitSource) -> views.LayerSummary | None:
        """The figures of every unit of a layer (a number) or a unit source, kept per cache checkpoint."""
        cache = self.cache(source)
        if cache is None:
            return None
        key = cache.source.id
        with self._lock:
            found = self._summaries.get(key)
            if found is not None and found[0] == cache.manifest.checkpoint:
                return found[1]
        summary = views.layer_summary(cache)
        with self._lock:
            self._summaries[key] = (cache.manifest.checkpoint, summary)
        return summary

    # ---- the store ----

    def records(self) -> list[Explanation]:
        return self.store.list()

    def overview(self) -> list[views.ModelInfo]:
        with self._lock:
            if self._overview is not None and time.monotonic() - self._overview[0] < OVERVIEW_TTL:
                return self._overview[1]
        found = views.overview(self.settings, self.records(), self.model)
        with self._lock:
            self._overview = (time.monotonic(), found)
        return found

    def changed(self) -> None:
        """This process wrote the store."""
        with self._lock:
            self._overview = None

    # ---- experiments ----

    def effects(self, nid: UnitId) -> Future:
        """A Future of the unit's effects JSON, computed once on the model's thread (a request for it
        while it runs waits on the same one); `Full` when the model's queue is."""
        def run() -> dict:
            self.need_cache(nid)
            return neuron_effects(self.wb, nid).model_dump(mode="json")

        key = str(nid)
        with self._lock:
            found = self._effects.get(key)
            if found is None or found.cancelled() or (found.done() and found.exception() is not None):
                found = self._effects[key] = self.worker.call(run)
            return found

    def llm(self, spec: str) -> LLM:
        with self._llm_lock:
            if spec not in self._llms:
                self._llms[spec] = make_llm(spec, self.settings)
            return self._llms[spec]

    # ---- triage figures (kept under the data dir, per model and layer or dictionary) ----

    def triage_path(self, layer: int, dictionary: str | None = None) -> Path:
        return self.settings.layout.web_triage(self.model, layer, dictionary)

    def triage(self, layer: int, dictionary: str | None = None) -> dict[int, dict]:
        """index -> triage row, for the neurons (or the dictionary's latents) triaged so far."""
        try:
            data = json.loads(self.triage_path(layer, dictionary).read_text(encoding="utf-8"))
            return {int(r["index"]): r for r in data["rows"]}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def run_triage(self, layer: int, neurons: list[int], threshold: float, source: UnitSource | None = None) -> dict:
        """`autointerp triage` on the layer's neurons, or on a dictionary's latents (`source`, as
        `dictionary` opened it); its rows are kept."""
        self.need_cache(layer if source is None else source)  # never built here
        dictionary = None if source is None else source.dictionary
        res = layer_triage(self.wb, layer, neurons, threshold, dictionary=dictionary)
        with self._lock:
            rows = self.triage(layer, dictionary)
            rows.update({r.index: r.model_dump() for r in res.rows})
            atomic_write_text(self.triage_path(layer, dictionary), json.dumps(
                {"model": self.model, "layer": layer, **({"dictionary": dictionary} if dictionary else {}),
                 "threshold": threshold, "rows": [rows[i] for i in sorted(rows)]}))
        return res.model_dump()

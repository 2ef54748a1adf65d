"""The data directory's layout, in one place, and the one safe slug every path component goes through.

Names that reach a path (model names, corpus specs, explainer names, prompt versions) come from
users and records: `slug` keeps letters, digits, `_`, `.` and `-`, and never returns `.`, `..` or
an empty string, so no name can climb out of the directory it is joined to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str, fallback: str = "x", max_len: int | None = None) -> str:
    """`text` as one safe path component (runs of other characters become one `_`)."""
    out = _UNSAFE.sub("_", str(text)).strip("_.")
    if max_len is not None:
        out = out[:max_len].rstrip("_.")
    return out or fallback


def units_stem(layer: int, dictionary: str | None = None) -> str:
    """How a unit source's cache directory and files are named: `layer06` (its neurons) or
    `layer06-res4k` (a dictionary's latents)."""
    return f"layer{layer:02d}" if dictionary is None else f"layer{layer:02d}-{slug(dictionary)}"


@dataclass(frozen=True)
class DataLayout:
    """Where each kind of file lives under the data dir (`AUTOINTERP_HOME`)."""

    root: Path

    def cache_window_dir(self, model: str, corpus_slug: str, window: int, cache_seed: int = 0) -> Path:
        """One model, corpus, window and cache seed: the folder holding its `layerNN` caches. Seed 0
        keeps the plain `w<window>` name (caches built before seeds were kept apart stay found);
        another seed's caches live beside it in `w<window>-s<seed>`."""
        name = f"w{window}" if cache_seed == 0 else f"w{window}-s{cache_seed}"
        return self.root / "cache" / slug(model) / slug(corpus_slug) / name

    def cache_layer_dir(self, model: str, corpus_slug: str, window: int, layer: int, cache_seed: int = 0) -> Path:
        """A layer's neurons' cache."""
        return self.cache_units_dir(model, corpus_slug, window, f"layer{layer:02d}", cache_seed)

    def cache_units_dir(self, model: str, corpus_slug: str, window: int, name: str, cache_seed: int = 0) -> Path:
        """A unit source's cache: `layer06` for layer 6's neurons, `layer06-res4k` for a dictionary."""
        return self.cache_window_dir(model, corpus_slug, window, cache_seed) / slug(name)

    def dictionaries_dir(self, model: str) -> Path:
        """The dictionaries registered for a model (`autointerp sae add`), one folder each."""
        return self.root / "dictionaries" / slug(model)

    def cache_manifests(self) -> list[Path]:
        """Every layer cache's manifest file under the data dir (of every seed)."""
        root = self.root / "cache"
        return sorted(root.glob("*/*/w*/layer*/manifest.json")) if root.is_dir() else []

    def corpus_dir(self, corpus_slug: str) -> Path:
        return self.root / "corpora" / slug(corpus_slug)

    def windows_file(self, corpus_slug: str, model: str, window: int, seed: int, corpus_hash: str) -> Path:
        return self.corpus_dir(corpus_slug) / f"{slug(model)}-w{window}-s{seed}-{corpus_hash[:16]}.npy"

    def transcripts(self) -> Path:
        return self.root / "transcripts"

    def transcript_dir(self, model: str, neuron: str) -> Path:
        return self.transcripts() / slug(model) / slug(neuron)

    def batch_failed_dir(self, model: str, explainer: str, prompt_version: str) -> Path:
        return self.root / "batch" / slug(model) / slug(explainer) / slug(prompt_version) / "failed"

    def batch_skipped_dir(self, model: str) -> Path:
        """Dead and rare units batches skipped, per model: a unit's firing does not depend on the explainer."""
        return self.root / "batch" / slug(model) / "skipped"

    def batch_lock(self, folder: Path, model: str, explainer: str, prompt_version: str, layer: int,
                   dictionary: str | None = None) -> Path:
        return folder / f"{slug(model)}-{slug(explainer)}-{slug(prompt_version)}-{units_stem(layer, dictionary)}.lock"

    def web_triage(self, model: str, layer: int, dictionary: str | None = None) -> Path:
        """The web app's triage rows of a layer's neurons, or of a dictionary's latents (named as its cache)."""
        return self.root / "web" / "triage" / slug(model, "model") / f"{units_stem(layer, dictionary)}.json"

    def synonyms_index(self, model: str, embedder: str, precision: str, n_words: int) -> Path:
        return self.root / "synonyms" / f"{slug(model)}-{slug(embedder)}-{slug(precision)}-{n_words}.npy"

"""A throwaway data dir for benchmarks: stores, records and ledgers go there, never into the user's,
while the weights, corpora and caches are the real data dir's (linked, so nothing is rebuilt)."""

from __future__ import annotations

from pathlib import Path

from autointerp.config import Settings

SHARED = ("models", "corpora", "cache")


def scratch_settings(base: Settings, home: Path, shared: tuple[str, ...] = SHARED, **overrides) -> Settings:
    """`base`'s settings with `home` as the data dir, its `shared` folders linked to base's."""
    home.mkdir(parents=True, exist_ok=True)
    for sub in shared:
        (base.data_dir / sub).mkdir(parents=True, exist_ok=True)
        (home / sub).symlink_to(base.data_dir / sub)
    return Settings(**{**base.model_dump(), "home": home, **overrides})

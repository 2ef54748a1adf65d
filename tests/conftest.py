"""Shared fixtures. One data dir per test session: the embedded model is converted once (~30 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autointerp.config import Settings

# The random-weight family models (tests/targets/fixtures.py), shared by the targets' and dictionaries' tests.
pytest_plugins = ["tests.targets.fixtures"]


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("autointerp-home")
    os.environ["AUTOINTERP_HOME"] = str(path)
    from autointerp.config import get_settings

    get_settings.cache_clear()
    return path


@pytest.fixture(scope="session")
def settings(home) -> Settings:
    return Settings(home=home)


def linked_home(home: Path, path: Path, **settings) -> Settings:
    """A data dir at `path` with no caches that shares the session's converted weights and corpora."""
    path.mkdir(parents=True, exist_ok=True)
    for sub in ("models", "corpora"):
        (home / sub).mkdir(exist_ok=True)
        (path / sub).symlink_to(home / sub)
    return Settings(home=path, **settings)


@pytest.fixture()
def fresh_settings(home, tmp_path) -> Settings:
    return linked_home(home, tmp_path / "home")


@pytest.fixture()
def openai_server(monkeypatch):
    """A real local HTTP server speaking the OpenAI protocol, with the key it accepts in the env."""
    from tests.llm.openai_server import GOOD_KEY, Server

    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    with Server() as s:
        yield s


@pytest.fixture(scope="session")
def smol(settings):
    from autointerp.targets import load_target

    return load_target("smollm2-135m", settings)


@pytest.fixture(scope="session")
def tiny(settings):
    from autointerp.targets import load_target

    return load_target("tiny-random", settings)


@pytest.fixture()
def small_corpus(tmp_path) -> Path:
    """A real text file: the first articles of the embedded corpus."""
    from autointerp.corpus import embedded_documents

    docs = []
    for doc in embedded_documents():
        docs.append(doc)
        if sum(map(len, docs)) > 60_000:
            break
    path = tmp_path / "small.txt"
    path.write_text("\n\n".join(docs), encoding="utf-8")
    return path


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "AUTOINTERP_HOME": str(settings.home), **extra}


@pytest.fixture(scope="session")
def real_settings(home, smol, tmp_path_factory) -> Settings:
    """A data dir whose layers 3 and 29 of the real model are cached from 4,096 corpus tokens."""
    from autointerp.cache.build import build_cache

    s = linked_home(home, tmp_path_factory.mktemp("real-home"), tokens=4096)
    build_cache([3, 29], settings=s, progress=False)
    return s

"""A home with a planted copy of the embedded model (three concepts), shared by the eval tests."""

from __future__ import annotations

import json

import pytest

from autointerp.evals.concepts import DEFAULT_CONCEPTS
from tests.conftest import linked_home

THREE = ("animals", "calendar", "countries")


@pytest.fixture(scope="session")
def three_concepts(tmp_path_factory):
    path = tmp_path_factory.mktemp("concepts") / "three.json"
    chosen = [c for c in json.loads(DEFAULT_CONCEPTS.read_text()) if c["name"] in THREE]
    path.write_text(json.dumps(chosen))
    return path


@pytest.fixture(scope="session")
def planted_home(home, smol, tmp_path_factory, three_concepts):
    """(settings, planted model record): the copy lives under this home's planted/, the base weights are shared."""
    from autointerp.evals.concepts import load_concepts
    from autointerp.evals.planting import plant

    s = linked_home(home, tmp_path_factory.mktemp("planted-home") / "home", tokens=8192)
    return s, plant(load_concepts(three_concepts), 3, s)


@pytest.fixture(scope="session")
def planted_wb(planted_home):
    """A workbench on the planted copy (its caches live under the planted home)."""
    from autointerp.workbench import Workbench

    settings, planted = planted_home
    return Workbench.open(planted.name, settings=settings, progress=False)

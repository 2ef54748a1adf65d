"""Workbenches for the tool tests: one over the session's data dir, one over the real cached layers."""

from __future__ import annotations

import pytest

from autointerp.workbench import Workbench


@pytest.fixture(scope="session")
def wb(settings, smol) -> Workbench:
    """The embedded SmolLM2 (probe and synonyms need no cache)."""
    return Workbench.open("smollm2-135m", settings=settings, progress=False)


@pytest.fixture(scope="session")
def real_wb(real_settings) -> Workbench:
    """The embedded SmolLM2 with layers 3 and 29 cached from 4,096 corpus tokens."""
    return Workbench.open("smollm2-135m", settings=real_settings, progress=False)

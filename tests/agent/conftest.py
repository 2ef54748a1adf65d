"""The agent tests' workbench: the real model over the cached layers 3 and 29 of `real_settings`."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def real_wb(real_settings):
    from autointerp.workbench import Workbench

    return Workbench.open("smollm2-135m", settings=real_settings, progress=False)

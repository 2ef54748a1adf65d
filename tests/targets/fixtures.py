"""Tiny random-weight models of every architecture family we check, saved once per session as the
Hugging Face directories a user would pass as `--model /path`."""

from __future__ import annotations

import pytest
import torch

from tests.targets import families as F


@pytest.fixture(scope="session")
def family_tokenizer():
    return F.make_tokenizer()


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory, family_tokenizer):
    root = tmp_path_factory.mktemp("families")
    return {f: F.save_family(f, root, family_tokenizer) for f in F.FAMILIES}


@pytest.fixture(scope="session")
def family_targets(family_dirs, settings):
    """Each directory through our normal loader (the TransformerLens bridge), as `--model /path`;
    past its per-process cache, which holds four models and would drop the session's SmolLM2."""
    from autointerp.targets import _load

    return {f: _load.__wrapped__(str(path), settings.data_dir, settings.hub_timeout)
            for f, path in family_dirs.items()}


@pytest.fixture(scope="session")
def family_hf(family_dirs):
    """The same directories loaded straight into transformers: the reference."""
    return {f: F.load_hf(path) for f, path in family_dirs.items()}


TEXTS = ["He is an engineer and it was a long day.", "The smooth surface of the lake was calm!",
         "It was a long day in the city by the lake."]


@pytest.fixture(scope="session")
def contexts(family_tokenizer):
    """Three rows of equal length, each with its own position (as effects passes its top contexts)."""
    rows = [[family_tokenizer.bos_token_id] + family_tokenizer(t)["input_ids"] for t in TEXTS]
    width = min(map(len, rows))
    return torch.tensor([r[:width] for r in rows]), torch.tensor([3, width - 1, 6])

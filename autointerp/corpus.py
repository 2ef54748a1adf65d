"""Corpora, tokenised into fixed windows in a deterministic order.

Sources: `embedded` (the real English text in the gensim wheel: a Wikipedia sample with markup
stripped by `filter_wiki`, and the Lee news corpus), a local `.txt` / `.jsonl` file, or a Hugging
Face dataset name `name[:config][@split]` (needs a hub).
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autointerp.config import EMBEDDED_CORPUS
from autointerp.errors import CorpusError
from autointerp.fileio import atomic_save_npy, atomic_write_text, load_npy
from autointerp.paths import DataLayout, slug

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"


def _gensim_data() -> Path:
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError("the embedded corpus needs the gensim wheel: pip install gensim")
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"


def _clean_wiki(text: str) -> str:
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"^\s*=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)
    text = "\n".join(line.strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def embedded_documents() -> Iterator[str]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    data = _gensim_data()
    with bz2.BZ2File(data / WIKI_FILE) as fh:
        for _title, text, _pageid in extract_pages(fh, filter_namespaces=("0",)):
            if text.lstrip().lower().startswith("#redirect"):
                continue
            clean = _clean_wiki(filter_wiki(text))
            if clean:
                yield clean
    for line in (data / LEE_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield line.strip()


def file_documents(path: Path) -> Iterator[str]:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"cannot read corpus file {path}: {e}") from e
    if path.suffix == ".jsonl":
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{path}:{n}: not valid JSON ({e.msg})") from e
            text = obj if isinstance(obj, str) else obj.get("text") if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise CorpusError(f'{path}:{n}: expected a string or an object with a "text" string')
            if text.strip():
                yield text
    else:
        for doc in re.split(r"\n\s*\n", raw):
            if doc.strip():
                yield doc.strip()


def hf_documents(spec: str) -> Iterator[str]:
    """Stream the `text` column of a Hugging Face dataset `name[:config][@split]`."""
    name, _, split = spec.partition("@")
    name, _, config = name.partition(":")
    try:
        from datasets import load_dataset

        ds = load_dataset(name, config or None, split=split or "train", streaming=True)
        for row in ds:
            text = row.get("text")
            if isinstance(text, str) and text.strip():
                yield text
    except CorpusError:
        raise
    except Exception as e:  # the datasets library raises many unrelated types for "not found / offline"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CorpusError(
            f"cannot load corpus {spec!r}: not a local .txt/.jsonl file and not a reachable Hugging Face "
            f"dataset ({first}); the embedded default is {EMBEDDED_CORPUS!r}"
        ) from e


@dataclass(frozen=True)
class CorpusSource:
    spec: str
    kind: str
    slug: str

    def documents(self) -> Iterator[str]:
        if self.kind == "embedded":
            return embedded_documents()
        if self.kind == "file":
            return file_documents(Path(self.spec))
        return hf_documents(self.spec)


def resolve_corpus(spec: str) -> CorpusSource:
    if spec == EMBEDDED_CORPUS:
        return CorpusSource(spec, "embedded", "embedded")
    path = Path(spec).expanduser()
    if path.suffix in (".txt", ".jsonl") or path.exists():
        if not path.is_file():
            raise CorpusError(f"corpus file {spec} does not exist")
        if path.suffix not in (".txt", ".jsonl"):
            raise CorpusError(f"corpus file {spec}: expected a .txt or .jsonl file")
        return CorpusSource(str(path.resolve()), "file", slug(path.stem, "corpus", max_len=80) + "-" + hashlib.sha256(
            str(path.resolve()).encode()).hexdigest()[:8])
    return CorpusSource(spec, "hf", "hf-" + slug(spec, "corpus", max_len=80))


def _files(source: CorpusSource) -> list[Path]:
    if source.kind == "embedded":
        return [_gensim_data() / WIKI_FILE, _gensim_data() / LEE_FILE]
    return [Path(source.spec)]


def _content_hash(source: CorpusSource, data_dir: Path) -> str:
    """SHA-256 of the documents; re-read only when a source file's size or mtime changed."""
    stamp = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in _files(source)]
    memo = DataLayout(data_dir).corpus_dir(source.slug) / "content-hash.json"
    try:
        kept = json.loads(memo.read_text())
        if kept["files"] == stamp:
            return kept["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    for doc in source.documents():
        digest.update(doc.encode("utf-8") + b"\x00")
    atomic_write_text(memo, json.dumps({"files": stamp, "sha256": digest.hexdigest()}))
    return digest.hexdigest()


def _read_windows(path: Path, target, window: int) -> tuple[np.ndarray | None, str]:
    """Windows read back from disk, or None and what is wrong with them (unreadable, shape, dtype,
    ids outside the vocabulary, the BOS column): a garbled file is never fed to the model."""
    try:
        tokens = load_npy(path)
    except (OSError, ValueError, EOFError) as e:
        return None, f"unreadable: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    if tokens.ndim != 2 or tokens.shape[1] != window or tokens.shape[0] == 0:
        return None, f"shape {tokens.shape}, expected [n, {window}]"
    if tokens.dtype.kind not in "iu":
        return None, f"dtype {tokens.dtype}, expected integers"
    vocab = len(target.tokenizer)
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab:
        return None, f"token ids {lo}..{hi} outside the vocabulary 0..{vocab - 1}"
    if target.prepend_bos and not (tokens[:, 0] == target.bos_id).all():
        return None, "position 0 is not the BOS token in every window"
    return tokens, ""


def _say(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[yellow]{escape(message)}[/]", highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Windows:
    """Token windows [n, window] (position 0 is BOS when the model prepends one), in a fixed order."""

    tokens: np.ndarray
    corpus_hash: str
    has_bos: bool

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])


def tokenise(
    source: CorpusSource, tokenizer, window: int, prepend_bos: bool, bos_id: int | None,
    seed: int, max_text_tokens: int | None = None,
) -> Windows:
    """Concatenate documents (blank line between), cut into windows, shuffle them with `seed`."""
    body = window - 1 if prepend_bos else window
    if body < 1:
        raise CorpusError(f"window {window} is too short")
    sep = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    digest = hashlib.sha256()
    stream: list[int] = []
    batch: list[str] = []

    def flush() -> None:
        if not batch:
            return
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            if stream:
                stream.extend(sep)
            stream.extend(ids)
        batch.clear()

    for doc in source.documents():
        digest.update(doc.encode("utf-8") + b"\x00")
        batch.append(doc)
        if len(batch) >= 64:
            flush()
            if max_text_tokens is not None and len(stream) >= max_text_tokens:
                break
    flush()
    n = len(stream) // body
    if n == 0:
        raise CorpusError(f"corpus {source.spec!r} holds no text" if not stream else
                          f"corpus {source.spec!r} has {len(stream)} tokens, fewer than one window of {body}")
    arr = np.asarray(stream[: n * body], dtype=np.int32).reshape(n, body)
    arr = arr[np.random.default_rng(seed).permutation(n)]
    if prepend_bos:
        arr = np.concatenate([np.full((n, 1), bos_id, dtype=np.int32), arr], axis=1)
    return Windows(np.ascontiguousarray(arr), digest.hexdigest(), prepend_bos)


def load_windows(source: CorpusSource, target, window: int, seed: int, data_dir: Path,
                 max_text_tokens: int | None = None) -> Windows:
    """Tokenised windows, kept under the data dir; re-tokenised when the corpus content changes."""
    if source.kind == "hf":  # streamed: read only as far as the budget needs, nothing kept
        return tokenise(source, target.tokenizer, window, target.prepend_bos, target.bos_id, seed, max_text_tokens)
    corpus_hash = _content_hash(source, data_dir)
    path = DataLayout(data_dir).windows_file(source.slug, target.name, window, seed, corpus_hash)
    if path.exists():
        tokens, problem = _read_windows(path, target, window)
        if tokens is not None:
            return Windows(tokens, corpus_hash, target.prepend_bos)
        _say(f"tokenised windows {path} are unusable ({problem}); tokenising the corpus again")
    win = tokenise(source, target.tokenizer, window, target.prepend_bos, target.bos_id, seed)
    if win.corpus_hash != corpus_hash:
        raise CorpusError(f"corpus {source.spec!r} changed while it was being read")
    atomic_save_npy(path, win.tokens)
    return win

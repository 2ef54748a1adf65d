import json

import numpy as np
import pytest

from autointerp.corpus import embedded_documents, load_windows, resolve_corpus, tokenise
from autointerp.errors import CorpusError


def test_embedded_corpus_is_real_clean_english():
    docs = list(embedded_documents())
    assert len(docs) > 300
    text = "\n".join(docs)
    assert len(text) > 3_000_000
    assert "'''" not in text and "[[" not in text and "{{" not in text
    assert "Anarchism" in text and "bushfire" in text  # Wikipedia sample and the Lee news corpus


def test_windows_deterministic_with_bos(tiny, settings):
    src = resolve_corpus("embedded")
    a = load_windows(src, tiny, 64, 0, settings.data_dir)
    b = load_windows(src, tiny, 64, 0, settings.data_dir)
    assert a.tokens.shape[1] == 64 and a.n > 10_000
    assert (a.tokens[:, 0] == tiny.bos_id).all() and a.has_bos
    assert np.array_equal(a.tokens, b.tokens) and a.corpus_hash == b.corpus_hash
    shuffled = load_windows(src, tiny, 64, 1, settings.data_dir)
    assert not np.array_equal(a.tokens[:50], shuffled.tokens[:50])


def test_txt_and_jsonl(tmp_path, tiny):
    txt = tmp_path / "a.txt"
    txt.write_text("First paragraph about cats.\n\nSecond paragraph about dogs. " * 20)
    jl = tmp_path / "b.jsonl"
    jl.write_text("\n".join(json.dumps({"text": "A line about trees and rivers. " * 5}) for _ in range(10)))
    for path in (txt, jl):
        w = tokenise(resolve_corpus(str(path)), tiny.tokenizer, 16, True, tiny.bos_id, 0)
        assert w.n > 5 and w.tokens.shape[1] == 16


def test_bad_corpora(tmp_path, tiny):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n ")
    with pytest.raises(CorpusError, match="holds no text"):
        tokenise(resolve_corpus(str(empty)), tiny.tokenizer, 16, True, tiny.bos_id, 0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2"):
        tokenise(resolve_corpus(str(bad)), tiny.tokenizer, 16, True, tiny.bos_id, 0)
    with pytest.raises(CorpusError, match="does not exist"):
        resolve_corpus(str(tmp_path / "missing.txt"))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(CorpusError, match="cannot read"):
        tokenise(resolve_corpus(str(binary)), tiny.tokenizer, 16, True, tiny.bos_id, 0)


@pytest.mark.parametrize("garble", ["ids", "shape", "dtype", "bytes"])
def test_garbled_windows_on_disk_are_retokenised(garble, small_corpus, tiny, tmp_path, capfd):
    src = resolve_corpus(str(small_corpus))
    good = load_windows(src, tiny, 64, 0, tmp_path)
    (path,) = (tmp_path / "corpora" / src.slug).glob("*.npy")
    if garble == "ids":
        bad = good.tokens.copy()
        bad[3, 5] = len(tiny.tokenizer) + 1000
        np.save(path, bad)
    elif garble == "shape":
        np.save(path, good.tokens[:, :10])
    elif garble == "dtype":
        np.save(path, good.tokens.astype(np.float32))
    else:
        path.write_bytes(b"\x93NUMPY garbage")
    again = load_windows(src, tiny, 64, 0, tmp_path)
    assert np.array_equal(again.tokens, good.tokens)
    assert "tokenising the corpus again" in capfd.readouterr().err
    assert np.array_equal(np.load(path), good.tokens)  # the file was replaced by good windows

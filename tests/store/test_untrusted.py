"""Imported files are untrusted: a file with any bad line imports nothing, and says which lines and why;
a file that is no text at all gets one error naming it; no path inside a record is ever kept."""

from __future__ import annotations

import gzip
import json

import pytest

from autointerp.errors import InputError
from autointerp.store import ImportRejected, ImportResult, import_records, model_shape, open_store
from autointerp.store.transfer import MAX_DEPTH, MAX_RECORD_BYTES, MAX_TEXT, to_neuronpedia
from tests.store.samples import MODEL, make


def good_lines(n: int = 3) -> list[str]:
    return [make(f"L{i}.N{i}", f"topic number {i}", minutes=i).model_dump_json() for i in range(1, n + 1)]


def record(**changes) -> str:
    return json.dumps({**json.loads(make("L4.N4", "a good explanation").model_dump_json()), **changes})


def scored(**changes) -> str:
    """A good record whose first score has `changes` (NaN and infinities written as JSON's NaN, Infinity)."""
    obj = json.loads(record())
    obj["scores"][0].update(changes)
    return json.dumps(obj)


def plain_np(layer, index="12", model=MODEL) -> str:
    return json.dumps({"modelId": model, "layer": layer, "index": index, "description": "cats",
                       "explanationModelName": "gpt-4o-mini", "typeName": "np"})


def deep(levels: int) -> str:
    """A good record with one more field nested `levels` lists deep."""
    return record()[:-1] + ', "extra": ' + "[" * levels + "]" * levels + "}"


BAD = {
    "neuron index out of range": (record(neuron="L6.N99999"), "L6.N99999 is out of range for smollm2-135m: neurons "
                                                              "are 0..1535"),
    "layer out of range": (record(neuron="L30.N1"), "L30.N1 is out of range for smollm2-135m: layers are 0..29"),
    "SAE source id": (plain_np("6-res-jb"), "layer '6-res-jb' is not a neuron layer"),
    "attention source id": (plain_np("6-att-kk"), "is not a neuron layer"),
    "bad index": (plain_np("6", index="12a"), "index '12a' is not a neuron index"),
    "unknown model": (record(model="no-such-model-anywhere"), "cannot check neuron ids for model "
                                                             "'no-such-model-anywhere'"),
    "oversize text": (record(text="x" * (MAX_TEXT + 1)), f"{MAX_TEXT + 1} characters long, over the limit of {MAX_TEXT}"),
    "oversize record": (record(triggers=["y" * 1000] * (MAX_RECORD_BYTES // 1000 + 1)),
                        f"over {MAX_RECORD_BYTES} bytes of JSON"),
    "malformed JSON": ('{"neuron": "L4.N4", "text": ', "malformed JSON"),
    "nested deeper than the limit": (deep(MAX_DEPTH + 5), f"nested more than {MAX_DEPTH} levels"),
    "nested past Python's recursion limit": (deep(100_000), "nested too deeply"),
    "not an object": ("[1, 2]", "expected a JSON object"),
    "missing field": (json.dumps({"neuron": "L5.N5", "model": MODEL, "text": "x"}), "Field required"),
    "not UTF-8": ('{"text": "\udcff"}', "not UTF-8 text"),
    "NaN score": (scored(value=float("nan")), "invalid explanation: scores.0.value: nan is not a finite number"),
    "infinite score": (scored(value=float("-inf")), "scores.0.value: -inf is not a finite number"),
    "score out of range": (scored(value=1.5), "scores.0.value: 1.5 is outside simulation's range [-1, 1]"),
    "NaN per-window correlation": (scored(per_example=[0.5, float("nan")]), "scores.0.per_example.1: nan is not"),
    "detection score below 0": (scored(method="detection", simulator=None, value=-0.2),
                                "scores.0.value: -0.2 is outside detection's range [0, 1]"),
    "negative steps": (record(steps=-3), "invalid explanation: steps: -3 is negative"),
    "negative token count": (scored(n_tokens=-1), "scores.0.n_tokens: -1 is negative"),
    "negative cost": (record(cost_usd=-0.5), "cost_usd: -0.5 is negative"),
    "created in the future": (record(created_at="2999-01-01T00:00:00Z"),
                              "created_at: 2999-01-01T00:00:00+00:00 is in the future"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_one_bad_line_imports_nothing(fresh_settings, tmp_path, case):
    line, message = BAD[case]
    lines = good_lines()
    lines.insert(2, line)  # line 3
    path = tmp_path / "in.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    store = open_store(fresh_settings)
    with pytest.raises(ImportRejected) as info:
        import_records(store, path)
    e = info.value
    assert isinstance(e, InputError) and e.errors[0][0] == 3 and len(e.errors) == 1, e.errors
    assert message in e.errors[0][1], e.errors
    assert str(e).startswith(f"nothing imported from {path}: line 3: ") and "\n" not in str(e)
    assert store.count() == 0 and store.list() == []
    assert not (fresh_settings.data_dir / "store").exists()  # not even created


def test_every_bad_line_is_listed(fresh_settings, tmp_path):
    lines = good_lines(2) + [BAD["SAE source id"][0], "", BAD["malformed JSON"][0], record(neuron="L6.N99999")]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRejected) as info:
        import_records(open_store(fresh_settings), path)
    assert [n for n, _ in info.value.errors] == [3, 5, 6]
    assert "(and 2 more bad lines: 5, 6)" in str(info.value)


def test_json_list_items_are_checked_too(fresh_settings, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps([json.loads(x) for x in good_lines(2)] + [json.loads(plain_np("6-res-jb"))]))
    with pytest.raises(ImportRejected, match="line 3: .*not a neuron layer"):
        import_records(open_store(fresh_settings), path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        import_records(open_store(fresh_settings), path)


@pytest.mark.parametrize("case", ["truncated gzip", "corrupt gzip", "binary", "directory", "missing"])
def test_unreadable_files_get_one_error_naming_them(fresh_settings, tmp_path, case):
    path = tmp_path / "in.jsonl.gz"
    data = gzip.compress(("\n".join(good_lines(200)) + "\n").encode())
    if case == "truncated gzip":
        path.write_bytes(data[: len(data) // 2])
    elif case == "corrupt gzip":
        path.write_bytes(data[:20] + bytes(b ^ 0x55 for b in data[20:60]) + data[60:])
    elif case == "binary":
        path = tmp_path / "in.jsonl"
        path.write_bytes(bytes(range(256)) * 40)
    elif case == "directory":
        path = tmp_path / "adir"
        path.mkdir()
    store = open_store(fresh_settings)
    with pytest.raises(InputError) as info:
        import_records(store, path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg, msg
    expected = {"truncated gzip": "damaged or truncated gzip", "corrupt gzip": "damaged or truncated gzip",
                "binary": "binary file", "directory": "not a regular file", "missing": "does not exist"}[case]
    assert expected in msg, msg
    assert store.count() == 0


def test_transcript_paths_are_never_kept(fresh_settings, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    plain = make("L1.N1", "one").model_copy(update={"transcript": str(secret)})
    wrapped = to_neuronpedia(make("L2.N2", "two").model_copy(update={"transcript": "/etc/passwd"}))
    path = tmp_path / "in.jsonl"
    path.write_text(plain.model_dump_json() + "\n" + json.dumps(wrapped) + "\n")
    store = open_store(fresh_settings)
    assert import_records(store, path) == ImportResult(imported=2)
    assert [e.transcript for e in store.all_versions()] == [None, None]


def test_neuronpedia_layer_must_match_the_record_it_wraps(fresh_settings, tmp_path):
    wrapped = {**to_neuronpedia(make("L2.N2", "two")), "layer": "3"}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(wrapped) + "\n")
    with pytest.raises(ImportRejected, match="line 1: .*L3.N2 but the record .* is L2.N2"):
        import_records(open_store(fresh_settings), path)


def test_tiny_random_and_local_models_are_checked(fresh_settings, tmp_path):
    local = tmp_path / "mymodel"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"num_hidden_layers": 3, "intermediate_size": 64}))
    gpt2ish = tmp_path / "gpt2ish"
    gpt2ish.mkdir()
    (gpt2ish / "config.json").write_text(json.dumps({"n_layer": 12, "n_embd": 768, "n_inner": None}))
    assert model_shape("tiny-random", fresh_settings) == (2, 128)
    assert model_shape(MODEL, fresh_settings) == (30, 1536)
    assert model_shape(str(local), fresh_settings) == (3, 64)
    assert model_shape(str(gpt2ish), fresh_settings) == (12, 3072)
    with pytest.raises(InputError, match="planted"):
        model_shape("planted-nothing", fresh_settings)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([make("L1.N127", "tiny", model="tiny-random").model_dump_json(),
                               make("L2.N63", "local", model=str(local)).model_dump_json()]) + "\n")
    store = open_store(fresh_settings)
    assert import_records(store, path).imported == 2
    path.write_text(make("L1.N128", "tiny", model="tiny-random").model_dump_json() + "\n")
    with pytest.raises(ImportRejected, match="L1.N128 is out of range for tiny-random: neurons are 0..127"):
        import_records(store, path)
    assert store.count() == 2


def test_embedded_model_is_checked_without_converting_it(tmp_path):
    from autointerp.config import Settings

    bare = Settings(home=tmp_path / "bare")  # no converted weights: the bundled GGUF's header answers
    assert model_shape(MODEL, bare) == (30, 1536)
    assert not (tmp_path / "bare").exists()


def test_a_byte_order_mark_is_no_bad_line(fresh_settings, tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(good_lines(2)).encode() + b"\n")
    assert import_records(open_store(fresh_settings), path).imported == 2
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([json.loads(x) for x in good_lines(1)]).encode())
    assert import_records(open_store(fresh_settings), path).imported == 1

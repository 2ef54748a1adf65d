"""Export and import (library and the real CLI in subprocesses): lossless, bad lines reported by number."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from datetime import datetime

import pytest

from autointerp.store import ImportResult, export_records, import_records, open_store
from autointerp.store.keys import order_key
from autointerp.store.transfer import to_neuronpedia
from tests.conftest import env_for, linked_home
from tests.store.samples import MODEL, make, varied


def run(settings, *args, timeout=300):
    env = env_for(settings)
    env.pop("AUTOINTERP_CHROMA_URL", None)
    return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def populate(store) -> None:
    store.add_many(varied())
    store.add(make(text="legal words, first try", value=0.2, minutes=-60))  # older: goes to the history
    store.add(make(text="statutes and contracts", explainer="openai:gpt-4o-mini", value=None, minutes=90))
    store.add(make(text="legal language in contracts and court filings", value=0.71, minutes=120))


@pytest.fixture()
def source(fresh_settings):
    store = open_store(fresh_settings)
    populate(store)
    return store


@pytest.fixture()
def target(home, tmp_path):
    return linked_home(home, tmp_path / "target")


def untrusted(records):
    """What an import keeps of exported records: everything but the transcript path."""
    assert any(e.transcript for e in records)
    return [e.model_copy(update={"transcript": None}) for e in records]


def assert_same(a, b) -> None:
    """b holds a's records, imported: lossless but for the transcript paths an import never keeps."""
    assert b.all_versions() == sorted(untrusted(a.all_versions()), key=order_key)
    assert b.list() == untrusted(a.list())
    assert b.history(MODEL, "L6.N74") == untrusted(a.history(MODEL, "L6.N74")) and len(a.history(MODEL, "L6.N74")) == 4


@pytest.mark.parametrize("fmt, name", [("jsonl", "out.jsonl"), ("neuronpedia", "np.jsonl"), ("jsonl", "out.jsonl.gz")])
def test_library_round_trip(source, target, home, tmp_path, fmt, name):
    path = tmp_path / name
    n = export_records(source, path, fmt)
    assert n == len(source.all_versions()) == source.count() + 2
    res = import_records(open_store(target), path)
    assert res == ImportResult(imported=n, errors=[])
    assert_same(source, open_store(target))
    again = tmp_path / f"again-{name}"
    export_records(open_store(target), again, fmt)
    third = linked_home(home, tmp_path / "third")  # from here on the round trip is exact
    import_records(open_store(third), again)
    last = tmp_path / f"last-{name}"
    export_records(open_store(third), last, fmt)
    assert last.read_bytes() == again.read_bytes()


def test_cli_round_trip_both_formats(source, fresh_settings, home, tmp_path):
    for i, fmt in enumerate(("jsonl", "neuronpedia")):
        path = tmp_path / f"{fmt}.jsonl"
        r = run(fresh_settings, "export", "--format", fmt, str(path))
        assert r.returncode == 0, r.stderr
        assert f"wrote {source.count() + 2} explanations" in r.stderr
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        if fmt == "jsonl":
            assert lines == [json.loads(e.model_dump_json()) for e in source.all_versions()]
        else:
            assert_neuronpedia_accepts(lines)
        target = linked_home(home, tmp_path / f"target{i}")
        r = run(target, "import", str(path))
        assert r.returncode == 0, r.stderr
        assert f"imported {len(lines)} explanations" in r.stderr
        assert_same(source, open_store(target))


# Neuronpedia's `Explanation` table (apps/webapp/prisma/schema.prisma), written out by hand: the columns
# without a default that are NOT NULL, and the foreign keys to type tables (nullable).
NP_REQUIRED = {"id": str, "modelId": str, "layer": str, "index": str, "description": str, "authorId": str}
NP_COLUMNS = {*NP_REQUIRED, "embedding", "triggeredByUserId", "notes", "scoreV1", "scoreV2", "umap_x", "umap_y",
              "umap_cluster", "umap_log_feature_sparsity", "typeName", "explanationModelName", "createdAt",
              "updatedAt"}
NP_BOT = "clkht01d40000jv08hvalcvly"  # the user prisma/seed.ts creates


def assert_neuronpedia_accepts(lines: list[dict], authors: tuple[str, ...] = (NP_BOT,)) -> None:
    """What their `importJsonlString` needs: the columns come from the first line's keys (others are
    dropped), so every line has the same keys; required columns are strings; a neuron layer is an
    integer string (`isNeuronLayerSource`); type names are null (no row of ours exists there)."""
    keys = set(lines[0])
    assert NP_REQUIRED.keys() <= keys and "autointerp" in keys - NP_COLUMNS
    for obj in lines:
        assert set(obj) == keys
        for col, typ in NP_REQUIRED.items():
            assert isinstance(obj[col], typ) and obj[col], (col, obj[col])
        assert re.fullmatch(r"-?\d+", obj["layer"]) and re.fullmatch(r"\d+", obj["index"])
        assert re.fullmatch(r"c[0-9a-z]{24}", obj["id"]), obj["id"]
        assert obj["authorId"] in authors and obj["typeName"] is None
        assert obj["explanationModelName"] in (None, "gpt-4o-mini")
        assert isinstance(obj["scoreV1"], float) and datetime.fromisoformat(obj["createdAt"]).tzinfo is not None
    assert len({obj["id"] for obj in lines}) == len(lines)  # one row per version: the id is its primary key


def test_neuronpedia_shape():
    e = make("L12.N301", "cooking recipes", value=0.42, explainer="openai:gpt-4o-mini", prompt_version="agent_v3")
    obj = to_neuronpedia(e)
    assert (obj["modelId"], obj["layer"], obj["index"], obj["description"]) == (MODEL, "12", "301", "cooking recipes")
    assert (obj["explanationModelName"], obj["typeName"], obj["scoreV1"]) == ("gpt-4o-mini", None, 0.42)
    assert obj["autointerp"]["explainer"] == "openai:gpt-4o-mini" and obj["autointerp"]["prompt_version"] == "agent_v3"
    assert obj["createdAt"] == "2026-11-01T12:00:00+00:00"
    local = to_neuronpedia(make("L12.N301", "cooking recipes", value=0.42), author_id="cme0someuser000000000000")
    assert local["explanationModelName"] is None and local["authorId"] == "cme0someuser000000000000"
    again = to_neuronpedia(make("L12.N301", "cooking recipes", value=0.42))
    assert local["id"] != obj["id"] and again["id"] == local["id"]  # the same version, the same row id
    other = e.model_copy(update={"explainer": "openai-compatible:qwen2.5@http://localhost:8000/v1"})
    assert to_neuronpedia(other)["explanationModelName"] is None
    detection = e.model_copy(update={"scores": [e.scores[0].model_copy(update={"method": "detection", "value": 0.9})]})
    assert to_neuronpedia(detection)["scoreV1"] == 0.0  # scoreV1 is a simulation score, not an accuracy
    assert_neuronpedia_accepts([obj, local, to_neuronpedia(make("L0.N0", "x", value=None))],
                               (NP_BOT, "cme0someuser000000000000"))


def test_neuronpedia_export_lines(source, tmp_path):
    """Every exported line is a row their importer takes, and a re-export writes the same ids."""
    path = tmp_path / "np.jsonl"
    export_records(source, path, "neuronpedia")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(source.all_versions())
    assert_neuronpedia_accepts(lines)
    assert {obj["layer"] for obj in lines} >= {"6", "29"}
    export_records(source, tmp_path / "again.jsonl", "neuronpedia")
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


def test_imports_plain_neuronpedia_lines_and_json_list(fresh_settings, tmp_path):
    plain = {"modelId": MODEL, "layer": "5", "index": "1234", "description": "references to cats",
             "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair",
             "createdAt": "2024-05-01T10:00:00.000Z"}
    ours = {**plain, "layer": "7-mlp", "index": 12, "description": "dogs"}  # the layer spelling we once wrote
    path = tmp_path / "list.json"
    path.write_text(json.dumps([plain, json.loads(make().model_dump_json()), ours]))
    store = open_store(fresh_settings)
    assert import_records(store, path) == ImportResult(imported=3)
    cat = store.get(MODEL, "L5.N1234")[0]
    assert (cat.text, cat.explainer, cat.prompt_version, cat.method) == ("references to cats", "gpt-4o-mini",
                                                                        "oai_token-act-pair", "one-shot")
    assert cat.created_at.year == 2024 and cat.scores == [] and cat.transcript is None
    assert store.get(MODEL, "L7.N12")[0].text == "dogs"


def test_cli_reports_bad_lines_and_imports_nothing(fresh_settings, tmp_path):
    """All or nothing: the first bad line, and the numbers of the others; no record stored."""
    good = [make(n, text, minutes=i) for i, (n, text) in enumerate([("L1.N1", "rivers and lakes"),
                                                                     ("L2.N2", "past tense verbs"),
                                                                     ("L3.N3", "prices in dollars")])]
    lines = [good[0].model_dump_json(), '{"neuron": "L4.N4", "text": ', good[1].model_dump_json(),
             json.dumps({**json.loads(good[2].model_dump_json()), "neuron": "L4-N4"}), "",
             json.dumps({"neuron": "L5.N5", "model": MODEL, "text": "x"}), good[2].model_dump_json()]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = run(fresh_settings, "import", str(path))
    assert r.returncode == 2, r.stderr
    assert f"nothing imported from {path}: line 2: malformed JSON" in r.stderr, r.stderr
    assert "2 more bad lines: 4, 6" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert open_store(fresh_settings).count() == 0


def test_cli_nothing_importable_exits_2(fresh_settings, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n[1, 2]\n")
    r = run(fresh_settings, "import", str(path))
    assert r.returncode == 2
    assert f"error: nothing imported from {path}: line 1: malformed JSON" in r.stderr, r.stderr
    assert "(and 1 more bad line: 2)" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert open_store(fresh_settings).count() == 0
    r = run(fresh_settings, "import", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("change, named", [
    (lambda d: d["scores"][0].update(value=float("nan")), "scores.0.value: nan is not a finite number"),
    (lambda d: d["evidence"]["top_tokens"][0].update(count=-4), "evidence.top_tokens.0.count: -4 is negative"),
])
def test_cli_rejects_nan_scores_and_negative_counts(fresh_settings, tmp_path, change, named):
    """One line naming the field, exit 2, nothing stored (the records' own fields stay unbounded)."""
    good = make("L1.N1", "rivers and lakes", tokens=[" river", " lake"])
    bad = json.loads(make("L2.N2", "past tense verbs", tokens=[" walked"]).model_dump_json())
    change(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text(good.model_dump_json() + "\n" + json.dumps(bad) + "\n")
    r = run(fresh_settings, "import", str(path))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: nothing imported from {path}: line 2: invalid "
                                                   f"explanation: {named}"), r.stderr
    assert open_store(fresh_settings).count() == 0


def test_cli_search_list_and_bad_format(source, fresh_settings, tmp_path):
    r = run(fresh_settings, "search", "neurons about legal text", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert len(hits) == 3 and hits[0]["explanation"]["neuron"] == "L6.N74"
    assert hits[0]["similarity"] >= hits[1]["similarity"] and {"id", "similarity", "explanation"} == set(hits[0])
    r = run(fresh_settings, "search", "neurons about legal text", "--min-score", "0.7", "--layer", "6")
    assert r.returncode == 0, r.stderr
    assert "L6.N74" in r.stdout and "+0.710" in r.stdout and "L29" not in r.stdout
    r = run(fresh_settings, "list", "--layer", "29", "--json")
    assert r.returncode == 0, r.stderr
    assert [e["neuron"] for e in json.loads(r.stdout)] == ["L29.N3", "L29.N720"]
    r = run(fresh_settings, "export", "--format", "csv", str(tmp_path / "x.csv"))
    assert r.returncode == 2 and "Invalid value for '--format'" in r.stderr and "'csv' is not one of" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_gzip_export_is_gzip(source, tmp_path):
    path = tmp_path / "all.jsonl.gz"
    export_records(source, path, "neuronpedia", current_only=True)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(lines) == source.count()

"""Export and import (library and the real CLI in subprocesses): lossless, bad lines reported by number."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from autointerp.store import ImportResult, export_records, import_records, open_store
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


def assert_same(a, b) -> None:
    assert b.all_versions() == a.all_versions()
    assert b.list() == a.list()
    assert b.history(MODEL, "L6.N74") == a.history(MODEL, "L6.N74") and len(a.history(MODEL, "L6.N74")) == 4


@pytest.mark.parametrize("fmt, name", [("jsonl", "out.jsonl"), ("neuronpedia", "np.jsonl"), ("jsonl", "out.jsonl.gz")])
def test_library_round_trip(source, target, tmp_path, fmt, name):
    path = tmp_path / name
    n = export_records(source, path, fmt)
    assert n == len(source.all_versions()) == source.count() + 2
    res = import_records(open_store(target), path)
    assert res == ImportResult(imported=n, errors=[])
    assert_same(source, open_store(target))
    again = tmp_path / f"again-{name}"
    export_records(open_store(target), again, fmt)
    assert again.read_bytes() == path.read_bytes()


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
            first = lines[0]
            assert {"modelId", "layer", "index", "description", "explanationModelName", "typeName", "scores",
                    "autointerp"} <= set(first)
        target = linked_home(home, tmp_path / f"target{i}")
        r = run(target, "import", str(path))
        assert r.returncode == 0, r.stderr
        assert f"imported {len(lines)} explanations" in r.stderr
        assert_same(source, open_store(target))


def test_neuronpedia_shape():
    e = make("L12.N301", "cooking recipes", value=0.42, explainer="openai:gpt-4o-mini", prompt_version="agent_v3")
    obj = to_neuronpedia(e)
    assert (obj["modelId"], obj["layer"], obj["index"], obj["description"]) == (MODEL, "12-mlp", "301", "cooking recipes")
    assert (obj["explanationModelName"], obj["typeName"], obj["scoreV1"]) == ("openai:gpt-4o-mini", "agent_v3", 0.42)
    assert obj["scores"][0]["value"] == 0.42 and obj["scores"][0]["explanationScoreTypeName"] == "simulation-embedding"


def test_imports_plain_neuronpedia_lines_and_json_list(fresh_settings, tmp_path):
    plain = {"modelId": "gpt2-small", "layer": "5-res-jb", "index": "1234", "description": "references to cats",
             "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair",
             "createdAt": "2024-05-01T10:00:00.000Z"}
    path = tmp_path / "list.json"
    path.write_text(json.dumps([plain, json.loads(make().model_dump_json()), {"modelId": "x", "layer": "res"}]))
    store = open_store(fresh_settings)
    res = import_records(store, path)
    assert res.imported == 2 and [n for n, _ in res.errors] == [3] and "layer number" in res.errors[0][1]
    cat = store.get("gpt2-small", "L5.N1234")[0]
    assert (cat.text, cat.explainer, cat.prompt_version, cat.method) == ("references to cats", "gpt-4o-mini",
                                                                        "oai_token-act-pair", "one-shot")
    assert cat.created_at.year == 2024 and cat.scores == []


def test_cli_reports_bad_lines_and_imports_the_rest(fresh_settings, tmp_path):
    good = [make(n, text, minutes=i) for i, (n, text) in enumerate([("L1.N1", "rivers and lakes"),
                                                                     ("L2.N2", "past tense verbs"),
                                                                     ("L3.N3", "prices in dollars")])]
    lines = [good[0].model_dump_json(), '{"neuron": "L4.N4", "text": ', good[1].model_dump_json(),
             json.dumps({**json.loads(good[2].model_dump_json()), "neuron": "L4-N4"}), "",
             json.dumps({"neuron": "L5.N5", "model": MODEL, "text": "x"}), good[2].model_dump_json()]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = run(fresh_settings, "import", str(path))
    assert r.returncode == 0, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("line ")]
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 4", "line 6"], r.stderr
    assert "malformed JSON" in errors[0] and "malformed neuron id 'L4-N4'" in errors[1]
    assert "method" in errors[2] and "Field required" in errors[2]
    assert "imported 3 explanations" in r.stderr and "3 lines skipped" in r.stderr
    assert sorted(e.text for e in open_store(fresh_settings).list()) == sorted(e.text for e in good)


def test_cli_nothing_importable_exits_2(fresh_settings, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n[1, 2]\n")
    r = run(fresh_settings, "import", str(path))
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("Loading weights")]
    assert lines[0].startswith("line 1: malformed JSON") and lines[1].startswith("line 2: invalid explanation")
    assert lines[2].startswith("error: nothing imported") and len(lines) == 3
    assert open_store(fresh_settings).count() == 0
    r = run(fresh_settings, "import", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr


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
    assert r.returncode == 2 and "error: --format must be jsonl or neuronpedia" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_gzip_export_is_gzip(source, tmp_path):
    path = tmp_path / "all.jsonl.gz"
    export_records(source, path, "neuronpedia", current_only=True)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(lines) == source.count()

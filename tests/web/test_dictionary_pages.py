"""The index's dictionaries table and the dictionary pages, over HTTP against a real uvicorn server:
a dictionary saved by sparsify's own `save_to_disk` and a SAELens JumpReLU folder, registered on the
tiny model; the first cached from 2,048 corpus tokens, the second not; a real store."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from markupsafe import escape

from autointerp.records import RARE_WINDOWS, UnitId
from tests.conftest import linked_home
from tests.dictionaries.test_dictionaries import saelens_folder, sparsify_folder
from tests.web.conftest import EVIL, explanation, no_traceback, serving

MODEL = "tiny-random"
N_LATENTS = 64
LATENT_TEXTS = {3: f"commas in lists {EVIL}", 10: "the word the", 17: "digits"}  # latent index -> explanation
CONFIDENT_LATENTS = {10}
NEURON_TEXT = "closing brackets"  # L1.N3's; the layer page must not show the latents' texts


@dataclass
class Served:
    url: str
    cache: object  # the dictionary's LayerCache
    settings: object


@pytest.fixture(scope="module")
def served(home, tmp_path_factory):
    from autointerp.dictionaries import add_dictionary
    from autointerp.store import open_store
    from autointerp.web import create_app
    from autointerp.workbench import Workbench

    root = tmp_path_factory.mktemp("dictionary-pages")
    s = linked_home(home, root / "home", tokens=2048)
    wb = Workbench.open(MODEL, settings=s, progress=False)
    sparsify_folder(root / "run", wb.target.d_model, n=N_LATENTS, k=8)
    add_dictionary(wb.target, s.layout, root / "run", "res64")
    saelens_folder(root / "jump", wb.target.d_model, n=96)
    add_dictionary(wb.target, s.layout, root / "jump", "jump96")
    wb.layer(1)
    cache = wb.cache(UnitId.parse("1-res64/0"))
    store = open_store(s)
    store.add_many([explanation(f"1-res64/{i}", text, model=MODEL, confident=i in CONFIDENT_LATENTS)
                    for i, text in LATENT_TEXTS.items()] + [explanation("L1.N3", NEURON_TEXT, model=MODEL)])
    with serving(create_app(Workbench(wb.target, s, progress=False), store)) as url:
        yield Served(url, cache, s)


@pytest.fixture(scope="module")
def http(served):
    with httpx.Client(base_url=served.url, timeout=120) as c:
        yield c


def expected_firing(cache) -> list[dict]:
    """Each latent's firing straight from the cache arrays: tokens > 0, windows in the firing sample."""
    a = cache.arrays
    npos, windows, ntok = np.asarray(a["npos"]), (np.asarray(a["q_win"]) >= 0).sum(axis=1), int(a["counters"][1])
    return [{"tokens_firing": int(p), "windows_firing": int(w), "frequency": int(p) / ntok,
             "activity": "dead" if p == 0 else "rare" if w < RARE_WINDOWS else "live"}
            for p, w in zip(npos, windows)]


def test_the_index_lists_every_registered_dictionary(http):
    r = http.get("/")
    assert r.status_code == 200
    rows = dict(re.findall(r'<tr data-dictionary="([a-z0-9-]+)">(.*?)</tr>', r.text, re.DOTALL))
    assert set(rows) == {"res64", "jump96"}
    res = re.sub(r"\s+", " ", rows["res64"])
    assert '<a href="/dictionaries/res64">res64</a>' in res and "<code>layers.1</code>" in res and "k 8" in res
    assert f"<td>{N_LATENTS}</td>" in res and f"<td>{len(LATENT_TEXTS)}</td> <td>{len(CONFIDENT_LATENTS)}</td>" in res
    assert "no cache" not in res and "windows of 64 tokens" in res
    jump = re.sub(r"\s+", " ", rows["jump96"])
    assert "θ " in jump and "<td>96</td>" in jump and "no cache: <code>autointerp cache --dictionary jump96</code>" in jump
    models = {m["model"]: m for m in http.get("/api/models").json()}
    dicts = {d["name"]: d for d in models[MODEL]["dictionaries"]}
    assert (dicts["res64"]["cached"], dicts["res64"]["explained"], dicts["res64"]["confident"]) == \
        (True, len(LATENT_TEXTS), len(CONFIDENT_LATENTS))
    assert (dicts["jump96"]["cached"], dicts["jump96"]["explained"], dicts["jump96"]["activation"]) == \
        (False, 0, "jumprelu")
    layer1 = next(li for li in models[MODEL]["layers"] if li["layer"] == 1)
    assert layer1["explained"] == layer1["records"] == 1  # the latents are their dictionary's, not the layer's


def test_the_dictionary_page_lists_every_latent_with_its_firing(http, served):
    got = http.get("/api/dictionaries/res64")
    assert got.status_code == 200
    body = got.json()
    assert body["cached"] and body["dictionary"]["name"] == "res64" and body["dictionary"]["layer"] == 1
    rows = body["rows"]
    assert [r["index"] for r in rows] == list(range(N_LATENTS))
    assert [r["neuron"] for r in rows] == [f"1-res64/{i}" for i in range(N_LATENTS)]
    firing = expected_firing(served.cache)
    assert [{k: r[k] for k in ("tokens_firing", "windows_firing", "frequency", "activity")} for r in rows] == firing
    maxes = [served.cache.max_activation(i) for i in range(N_LATENTS)]
    assert [r["max"] for r in rows] == pytest.approx(maxes, abs=1e-5)
    assert {r["index"]: r["explanation"] for r in rows if r["explanation"]} == LATENT_TEXTS
    assert {r["index"] for r in rows if r["confident"]} == CONFIDENT_LATENTS

    page = http.get("/dictionaries/res64")
    assert page.status_code == 200
    links = re.findall(r'<a href="(/neurons/1-res64/\d+)">', page.text)
    assert links == [f"/neurons/1-res64/{i}" for i in range(N_LATENTS)]
    statuses = re.findall(r'data-activity="(dead|rare|live)"', page.text)
    assert statuses == [f["activity"] for f in firing] and set(statuses) == {"dead", "rare", "live"}
    counts = {a: statuses.count(a) for a in ("live", "rare", "dead")}
    assert (f"{N_LATENTS} latents listed, {len(LATENT_TEXTS)} explained; over the cache: {counts['live']} live, "
            f"{counts['rare']} rare") in page.text
    assert 'class="maxplot"' in page.text and "<code>layers.1</code>" in page.text
    assert EVIL not in page.text and str(escape(EVIL)) in page.text  # stored text is escaped


def test_a_latents_page_links_back_to_its_dictionary(http):
    for link in ("/neurons/1-res64/3", "/neurons/1-res64/0"):
        r = http.get(link)
        assert r.status_code == 200 and '<a id="dictionary-link" href="/dictionaries/res64">' in r.text
        assert http.get("/dictionaries/res64").status_code == 200
    assert 'id="dictionary-link"' not in http.get("/neurons/L1.N3").text


def test_a_registered_dictionary_without_a_cache_says_how_to_build_it(http, served):
    page = http.get("/dictionaries/jump96")
    assert page.status_code == 200
    assert "run `autointerp cache --dictionary jump96` (then reload)" in page.text and 'class="maxplot"' not in page.text
    body = http.get("/api/dictionaries/jump96").json()
    assert body["cached"] is False and body["rows"] == [] and body["dictionary"]["n_latents"] == 96
    assert not list(served.settings.home.glob("cache/**/layer01-jump96"))  # nothing is built by a request


@pytest.mark.parametrize("name, said", [
    ("nope", "no dictionary named 'nope' is registered for tiny-random"),
    ("Bad_Name", "malformed dictionary name 'Bad_Name'"),
    ("-x", "malformed dictionary name '-x'"),
])
def test_unknown_or_malformed_dictionaries_are_404s_naming_the_input(http, name, said):
    page = http.get(f"/dictionaries/{name}")
    assert page.status_code == 404 and str(escape(said)) in page.text
    no_traceback(page.text)
    api = http.get(f"/api/dictionaries/{name}")
    assert api.status_code == 404 and said in api.json()["error"]
    triage = http.post(f"/api/dictionaries/{name}/triage", json={"neurons": "0:4"})
    assert triage.status_code == 404 and said in triage.json()["error"]


def test_dictionary_triage_is_kept(http, served):
    r = http.post("/api/dictionaries/res64/triage", json={"neurons": "8-11", "threshold": 0.6})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["dictionary"], body["layer"]) == ("res64", 1)
    assert [row["index"] for row in body["rows"]] == [8, 9, 10, 11]
    firing = expected_firing(served.cache)
    assert [row["activity"] for row in body["rows"]] == [firing[i]["activity"] for i in range(8, 12)]
    stored = json.loads(served.settings.layout.web_triage(MODEL, 1, "res64").read_text(encoding="utf-8"))
    assert stored["dictionary"] == "res64" and stored["rows"] == body["rows"]
    rows = http.get("/api/dictionaries/res64").json()["rows"]
    assert [rows[i]["relatedness"] for i in range(8, 12)] == pytest.approx([t["relatedness"] for t in body["rows"]])
    assert rows[0]["relatedness"] is None and rows[12]["relatedness"] is None
    page = http.get("/dictionaries/res64").text
    assert 'data-url="/api/dictionaries/res64/triage"' in page and ">relatedness<" in page
    rel = body["rows"][2]["relatedness"]
    assert f'<td data-v="{rel}">{rel:.3f}</td>' in page  # latent 10's cell
    assert all(r["relatedness"] is None for r in http.get("/api/layers/1").json()["rows"])  # the neurons' are apart
    assert ">relatedness<" not in http.get("/layers/1").text


@pytest.mark.parametrize("neurons, said", [
    ("0-64", "latent 64 is out of range: valid are 0..63"),
    ("0:x", "malformed neurons '0:x'"),
])
def test_a_bad_dictionary_triage_range_is_a_400_saying_why(http, neurons, said):
    r = http.post("/api/dictionaries/res64/triage", json={"neurons": neurons})
    assert r.status_code == 400 and said in r.json()["error"]
    no_traceback(r.text)


def test_dictionary_triage_without_a_cache_says_how_to_build_it(http, served):
    r = http.post("/api/dictionaries/jump96/triage", json={"neurons": "0:4"})
    assert r.status_code == 404 and "run `autointerp cache --dictionary jump96` (then reload)" in r.json()["error"]
    assert not list(served.settings.home.glob("cache/**/layer01-jump96"))  # nothing is built by a request
    assert 'id="triage"' not in http.get("/dictionaries/jump96").text


def test_the_layer_page_lists_neurons_only(http, served):
    body = http.get("/api/layers/1").json()
    assert [r["neuron"] for r in body["rows"]] == [f"L1.N{i}" for i in range(len(body["rows"]))]
    assert list(body["rows"][0]) == ["index", "neuron", "max", "normalised", "tokens", "relatedness", "flagged",
                                     "explanation", "score", "explainer", "method", "n_explanations", "confident"]
    assert {r["index"]: r["explanation"] for r in body["rows"] if r["explanation"]} == {3: NEURON_TEXT}
    page = http.get("/layers/1").text
    assert "1-res64" not in page and "digits" not in page and "frequency" not in page

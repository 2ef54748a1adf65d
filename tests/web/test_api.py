"""The JSON API and the server-rendered pages, over HTTP against a real uvicorn server, the real
SmolLM2, real caches and a real store."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest
from markupsafe import escape

from autointerp.records import NeuronExamples
from tests.web.conftest import CONFIDENT, EVIL, SEEDED, no_traceback

MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def test_index_lists_models_layers_and_counts(http):
    r = http.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'href="/layers/3"' in r.text and 'href="/layers/29"' in r.text
    models = {m["model"]: m for m in http.get("/api/models").json()}
    served = {li["layer"]: li for li in models[MODEL]["layers"]}
    assert models[MODEL]["served"] and served[3]["cached"] == served[29]["cached"] == 1536
    assert served[3]["explained"] >= 3 and served[29]["explained"] >= 1
    assert served[3]["confident"] == len(CONFIDENT) and served[29]["confident"] == 0
    other = {li["layer"]: li for li in models["gpt2-small"]["layers"]}  # stored only, no cache here
    assert not models["gpt2-small"]["served"] and other[3]["explained"] == 1 and other[3]["cached"] == 0


def test_layer_page_table_and_plot(http, server):
    r = http.get("/layers/3")
    assert r.status_code == 200
    rows = re.findall(r'<tr[^>]*>\s*<td data-v="(\d+)"><a href="/neurons/L3\.N\d+"', r.text)
    assert [int(i) for i in rows] == list(range(1536))
    assert r.text.count("<path") >= 1 and 'class="explained"' in r.text  # the max-activation plot
    assert "legal contracts and court rulings" in r.text and "&lt;script&gt;" in r.text and EVIL not in r.text
    data = http.get("/api/layers/3").json()
    assert data["cached"] and len(data["rows"]) == 1536
    cache = server.wb.layer(3)
    for n in (0, 5, 8, 700, 1535):
        row = data["rows"][n]
        assert row["max"] == pytest.approx(cache.max_activation(n), abs=1e-4)
        tokens = [r.max_token for r in cache.top(n, 20)]
        assert row["tokens"][0] == max(dict.fromkeys(tokens), key=tokens.count)
        assert set(row["tokens"]) <= set(tokens)
    assert data["rows"][8]["explanation"] == SEEDED["L3.N8"] and data["rows"][8]["score"] == pytest.approx(0.42)
    other = http.get("/layers/3", params={"model": "gpt2-small"})
    assert other.status_code == 200 and "legal text" in other.text and "only stored explanations" in other.text


def test_layer_triage_is_kept(http):
    r = http.post("/api/layers/29/triage", json={"neurons": "718-721", "threshold": 0.6})
    assert r.status_code == 200, r.text
    assert [row["index"] for row in r.json()["rows"]] == [718, 719, 720, 721]
    rows = http.get("/api/layers/29").json()["rows"]
    assert rows[720]["relatedness"] == pytest.approx(r.json()["rows"][2]["relatedness"])
    assert rows[0]["relatedness"] is None
    assert ">relatedness<" in http.get("/layers/29").text
    bad = http.post("/api/layers/29/triage", json={"neurons": "0-99999"})
    assert bad.status_code == 400 and "out of range" in bad.json()["error"]


def test_neuron_api_is_show_json_plus_explanations(http, server):
    from autointerp.tools.show import neuron_examples

    got = http.get("/api/neurons/L3.N8").json()
    expected = neuron_examples(server.wb, "L3.N8").model_dump(mode="json")
    assert {k: got[k] for k in expected} == expected
    NeuronExamples.model_validate({k: got[k] for k in expected})
    assert [e["text"] for e in got["explanations"]] == [SEEDED["L3.N8"]]
    assert {e["text"] for e in got["history"]} == {SEEDED["L3.N8"], "an older reading of the same neuron"}
    assert http.get("/api/neurons/3.8").json()["neuron"] == "L3.N8"  # any accepted spelling


def test_neuron_page_shows_examples_explanations_history(http):
    r = http.get("/neurons/L3.N8")
    assert r.status_code == 200
    html = r.text
    assert 'id="top"' in html and 'id="random"' in html and 'id="quantiles"' in html and "<svg" in html
    spans = re.findall(r'<span(?: class="max")?(?: style="background:[^"]+")? title="([^"]*): (-?\d+\.\d{4})">', html)
    assert len(spans) > 1000  # every token of 20 top, 30 quantile and 10 random windows
    assert html.count('class="max"') >= 20
    assert SEEDED["L3.N8"] in html and "an older reading of the same neuron" in html


def test_stored_and_corpus_html_is_escaped(http):
    for url in ("/neurons/L3.N5", "/layers/3", "/search?q=commas+before+numbers"):
        html = http.get(url).text
        assert "<script>window.__pwned" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html, url
    evidence = http.get("/neurons/L3.N5").text
    assert "&lt;img src=x onerror=" in evidence and "<i>x</i>" not in evidence and "<b>bold" not in evidence
    assert "&lt;b&gt;bold&lt;/b&gt;" in evidence and "&lt;i&gt;x&lt;/i&gt;" in evidence


@pytest.mark.parametrize("url, reason", [
    ("/neurons/nonsense", "malformed unit id 'nonsense'"),
    ("/neurons/L99.N0", "layer 99 is out of range"),
    ("/neurons/L3.N99999", "neuron L3.N99999 is out of range"),
    ("/layers/99", "layer 99 is out of range"),
    ("/layers/abc", "malformed layer 'abc'"),
    ("/layers/6", "layer 6 of smollm2-135m has no complete cache"),
    ("/neurons/L3.N1?model=no-such-model", "no model 'no-such-model' here"),
    ("/no/such/page", "no page at /no/such/page"),
])
def test_bad_ids_are_404_pages_with_the_reason(http, url, reason):
    r = http.get(url)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert reason in r.text.replace("&#39;", "'")
    no_traceback(r.text)


def test_api_errors_are_json(http):
    r = http.get("/api/neurons/L99.N0")
    assert r.status_code == 404 and "out of range" in r.json()["error"]
    r = http.post("/api/probe", json={"neuron": "L3.N5", "texts": ["   "]})
    assert r.status_code == 400 and r.json() == {"error": "text 1 is empty"}
    r = http.post("/api/probe", json={"neuron": "L3.N5"})
    assert r.status_code == 400 and "texts" in r.json()["error"]
    r = http.post("/api/probe", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = http.get("/api/search", params={"q": " "})
    assert r.status_code == 400 and r.json()["error"] == "empty search query"
    r = http.get("/api/search", params={"q": "x", "layer": "three"})
    assert r.status_code == 400
    r = http.post("/api/neurons/L3.N5/explain", json={"method": "agent", "llm": "nonsense"})
    assert r.status_code == 400 and "unknown LLM" in r.json()["error"]
    r = http.post("/api/neurons/L3.N5/explain", json={"method": "magic"})
    assert r.status_code == 400
    r = http.get("/api/runs/nope")
    assert r.status_code == 404


def test_probe_is_probe_json(http, server):
    from autointerp.tools.probe import probe

    texts = ["It was a long day", "He is an engineer <script>alert(1)</script>"]
    r = http.post("/api/probe", json={"neuron": "L29.N720", "texts": texts})
    assert r.status_code == 200
    expected = probe(server.wb, "L29.N720", texts).model_dump(mode="json")
    assert r.json() == expected
    assert r.json()["records"][0]["max_token"] == " a"  # the article neuron


def test_search_api_and_filters(http):
    hits = http.get("/api/search", params={"q": "law and legal documents", "k": 3}).json()
    assert hits and hits[0]["explanation"]["text"] in ("legal contracts and court rulings", "legal text")
    assert {"id", "similarity", "explanation"} <= set(hits[0])
    ours = http.get("/api/search", params={"q": "law and legal documents", "model": MODEL}).json()
    assert ours[0]["explanation"]["neuron"] == "L3.N8" and all(h["explanation"]["model"] == MODEL for h in ours)
    layer29 = http.get("/api/search", params={"q": "legal", "layer": 29}).json()
    assert [h["explanation"]["neuron"] for h in layer29] == ["L29.N720"]
    assert http.get("/api/search", params={"q": "legal", "min_score": 0.5}).json()[0]["explanation"]["model"] == "gpt2-small"
    page = http.get("/search", params={"q": "football", "layer": "3"})
    assert page.status_code == 200 and 'href="/neurons/L3.N9"' in page.text
    other = http.get("/search", params={"q": "legal text", "model": "gpt2-small"}).text
    assert 'href="/neurons/L3.N8?model=gpt2-small"' in other


def test_effects_on_demand(http):
    r = http.post("/api/neurons/L29.N720/effects")
    assert r.status_code == 200, r.text
    promoted = [t["token"] for t in r.json()["promoted"]]
    assert " an" in promoted[:3]  # the README's article neuron


def _events(http, run) -> list[tuple[str, dict]]:
    out, event = [], None
    with http.stream("GET", run["stream"]) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
                if event in ("done", "failed"):
                    break
    return out


@pytest.mark.integration
def test_explain_streams_steps_and_stores_the_record(http, server):
    before = len(server.store.get(MODEL, "L3.N9"))
    r = http.post("/api/neurons/L3.N9/explain", json={"method": "heuristic"})
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "running" and run["neuron"] == "L3.N9"
    events = _events(http, run)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "done", events[-1]
    steps = [d for e, d in events if e == "step"]
    assert [s["type"] for s in steps] == ["start", "score", "final"]
    assert steps[1]["title"].startswith("score (test)")
    final = events[-1][1]
    stored = server.store.get(MODEL, "L3.N9")
    assert len(stored) == before + 1
    rec = next(e for e in stored if e.method == "heuristic")
    assert rec.text == final["record"]["text"] and final["stored_id"]
    # a late listener gets the whole run again; one resuming after event 1 gets the rest
    assert [e for e, _ in _events(http, run)] == kinds
    with http.stream("GET", run["stream"], headers={"Last-Event-ID": "1"}) as resp:
        rest = resp.read().decode()
    assert '"type": "final"' in rest and '"type": "start"' not in rest and "event: done" in rest
    page = http.get("/neurons/L3.N9").text  # the record, with its transcript found under the data dir
    assert str(escape(rec.text)) in page and "Transcript: 3 events" in page and "score (test)" in page


def test_one_run_per_neuron(http, server):
    gate = threading.Event()

    def job(on_event):
        gate.wait(30)
        return {"text": "held"}, None

    runs = server.app.state.web.runs
    held = runs.start(MODEL, "L3.N7", "heuristic", None, job)
    try:
        r = http.post("/api/neurons/L3.N7/explain", json={"method": "heuristic"})
        assert r.status_code == 409 and r.json()["run"] == held.id and "already going" in r.json()["error"]
        assert 'data-run="' + held.id + '"' in http.get("/neurons/L3.N7").text  # the page follows it
    finally:
        gate.set()
    deadline = time.monotonic() + 10
    while runs.get(held.id).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert runs.active(MODEL, "L3.N7") is None


def test_transcripts_are_found_under_the_data_dir_only(server, tmp_path):
    from autointerp.agent.transcript import for_record as find_transcript
    from autointerp.agent.transcript import transcript_dir
    from autointerp.records import UnitId
    from tests.web.conftest import explanation

    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"type": "start", "data": {"neuron": "stolen"}}\n')
    rec = explanation("L3.N4", "x", transcript=str(outside))
    assert find_transcript(server.settings, rec) is None  # the record's own path is never opened
    d = transcript_dir(server.settings, MODEL, UnitId.parse("L3.N4"))
    d.mkdir(parents=True)
    (d / "20250101T000000000000Z-agent.jsonl").write_text('{"type": "start", "step": 0, "data": {}}\n')
    (d / "20270101T000000000000Z-agent.jsonl").write_text('{"type": "start", "step": 0, "data": {}}\n')
    (d / "20250101T000000000000Z-one-shot.jsonl").write_text('{"type": "start", "step": 0, "data": {}}\n')
    found = find_transcript(server.settings, rec)  # made 2026-01-01: the agent run begun before it
    assert found is not None and found.name == "20250101T000000000000Z-agent.jsonl"
    named = explanation("L3.N4", "x", transcript="/anywhere/20270101T000000000000Z-agent.jsonl")
    assert find_transcript(server.settings, named).name == "20270101T000000000000Z-agent.jsonl"
    assert find_transcript(server.settings, explanation("L3.N4", "x", model="..")) is None
    assert find_transcript(server.settings, explanation("L3.N4", "x", model="../..")) is None


def _badges(html: str) -> list[str]:
    return re.findall(r'<span class="badge (confident|unconfident)"', html)


def test_confident_is_shown_and_filterable_everywhere(http):
    assert CONFIDENT == {"L3.N8"}
    index = http.get("/").text
    assert "<th>confident</th>" in index
    rows = http.get("/api/layers/3").json()["rows"]
    assert (rows[8]["confident"], rows[5]["confident"], rows[0]["confident"]) == (True, False, None)
    layer = http.get("/layers/3").text
    row = {n: re.search(rf'<tr[^>]*>\s*<td data-v="{n}">.*?</tr>', layer, re.S).group(0) for n in (0, 5, 8)}
    assert _badges(row[8]) == ["confident"] and _badges(row[5]) == ["unconfident"] and _badges(row[0]) == []
    assert 'class="unconfident"' in row[5] and "unconfident" not in row[8]
    sure = http.get("/neurons/L3.N8").text
    article = sure.split('id="explanations"')[1].split("</article>")[0]
    assert _badges(article.split('<p class="text">')[1].split("</p>")[0]) == ["confident"]
    assert _badges(article.split('class="versions"')[1]) == ["unconfident"]  # the older version is not
    assert '<article class="explanation">' in sure and "Unconfident: the best guess" not in sure
    unsure = http.get("/neurons/L3.N5").text
    assert '<article class="explanation unconfident">' in unsure and "Unconfident: the best guess" in unsure
    api = http.get("/api/neurons/L3.N8").json()
    assert [e["confident"] for e in api["explanations"]] == [True]
    assert {(e["text"], e["confident"]) for e in api["history"]} == {
        (SEEDED["L3.N8"], True), ("an older reading of the same neuron", False)}
    hits = http.get("/api/search", params={"q": "legal contracts", "k": 20, "model": MODEL}).json()
    assert {h["explanation"]["neuron"] for h in hits if h["explanation"]["confident"]} == CONFIDENT
    only = http.get("/api/search", params={"q": "legal contracts", "k": 20, "confident": "true"}).json()
    assert [h["explanation"]["neuron"] for h in only] == ["L3.N8"]
    others = http.get("/api/search", params={"q": "legal contracts", "k": 20, "confident": "false"}).json()
    assert others and not any(h["explanation"]["confident"] for h in others)
    page = http.get("/search", params={"q": "legal contracts", "model": MODEL, "confident": "false"}).text
    assert "L3.N8" not in page and _badges(page) and set(_badges(page)) == {"unconfident"}
    assert '<option value="false" selected>' in page
    bad = http.get("/api/search", params={"q": "x", "confident": "maybe"})
    assert bad.status_code == 400 and "confident must be true, false" in bad.json()["error"]


def test_fast_json_reads_back_as_json_does():
    """The large replies' encoder (orjson) gives what JSONResponse's json.dumps gives, read back."""
    from fastapi.responses import JSONResponse

    from autointerp.web.pages import FastJSON

    obj = {"a": [1e-05, 0.1, 1.5e-07, -0.0, 12345678901234.0, 2**60, 5], "s": 'é\u2028\x01<\n"\\', "n": None,
           "t": True, "nested": [{"k": []}]}
    r = FastJSON(obj)
    assert json.loads(r.body) == json.loads(JSONResponse(obj).body) == obj
    assert r.headers["content-type"] == "application/json"


def test_startup_objects_are_frozen_out_of_full_collections(server):
    """What the server loaded before serving (the model, tokenizer, libraries) is never walked by a
    full collection again: with it, each took 200-290 ms of every waiting request's time."""
    import gc

    assert gc.get_freeze_count() > 100_000

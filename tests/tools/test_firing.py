"""`show` and `triage` say how often a latent fires and whether it is dead or rare (terminal, JSON,
the HTML page, the web app's unit page), and the web app's search keeps one dictionary; from the
tiny model's real cache of a dictionary with a planted dead and a planted rare latent. A neuron's
JSON and triage are as they were."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

from autointerp.dictionaries import open_dictionary
from autointerp.records import RARE_WINDOWS
from autointerp.tools.show import neuron_examples, render_html, render_text
from autointerp.tools.triage import triage, write_csv
from autointerp.workbench import Workbench
from tests.conftest import linked_home
from tests.dictionaries.planted import DEAD, NAME, RARE, plant


@pytest.fixture()
def planted(home, tmp_path):
    settings = linked_home(home, tmp_path / "home", tokens=8192)
    wb = Workbench.open("tiny-random", settings=settings, progress=False)
    return wb, plant(wb, tmp_path / "dicts")


def _text(ex) -> str:
    buf = io.StringIO()
    render_text(ex, Console(file=buf, width=200, color_system=None), 3)
    return buf.getvalue()


def test_show_gives_a_latents_frequency_status_and_fvu(planted):
    wb, fires_in = planted
    cache = wb.cache(wb.unit(f"1-{NAME}/0"))
    fvu = open_dictionary(wb.target, NAME).info.fvu
    dead, rare, live = (neuron_examples(wb, f"1-{NAME}/{i}") for i in (DEAD, RARE, 1))
    assert (dead.firing.activity, dead.firing.tokens_firing, dead.firing.frequency) == ("dead", 0, 0.0)
    assert (rare.firing.activity, rare.firing.windows_firing) == ("rare", fires_in) and fires_in < RARE_WINDOWS
    assert rare.firing.tokens_firing == int(cache.arrays["npos"][RARE]) > 0
    assert rare.firing.frequency == pytest.approx(rare.firing.tokens_firing / cache.n_tokens)
    assert live.firing.activity == "live" and live.firing.windows_firing >= RARE_WINDOWS
    assert rare.dictionary_fvu == fvu
    as_json = json.loads(rare.model_dump_json())
    assert as_json["firing"]["activity"] == "rare" and "dictionary_fvu" in as_json

    text = _text(rare)
    assert f"in {fires_in} windows: rare: fires in fewer than {RARE_WINDOWS} windows" in text, text
    assert "dictionary FVU " + ("unknown" if fvu is None else f"{fvu:.4f}") in text
    assert "dead: never fires" in _text(dead)
    page = render_html(dead)
    assert 'data-activity="dead"' in page and "fires on 0 of" in page

    neuron = neuron_examples(wb, "L1.N0")  # a neuron: no new fields, in JSON or text
    assert neuron.firing is None and "firing" not in neuron.model_dump_json()
    assert "dictionary_fvu" not in neuron.model_dump_json() and "frequency" not in _text(neuron)


def test_triage_counts_dead_and_rare_latents(planted, tmp_path):
    wb, _ = planted
    res = triage(wb, None, range(4), dictionary=NAME)
    assert (res.dictionary, res.layer, res.dead, res.rare) == (NAME, 1, 1, 1)
    assert [r.activity for r in res.rows] == ["dead", "live", "rare", "live"]
    assert res.rows[DEAD].frequency == 0 and res.rows[RARE].frequency > 0
    write_csv(res, tmp_path / "latents.csv")
    rows = list(csv.DictReader((tmp_path / "latents.csv").open()))
    assert [r["activity"] for r in rows] == ["dead", "live", "rare", "live"] and rows[DEAD]["frequency"] == "0"
    neurons = triage(wb, 1, range(3))
    assert "dead" not in neurons.model_dump_json() and "activity" not in neurons.model_dump_json()
    write_csv(neurons, tmp_path / "neurons.csv")
    assert (tmp_path / "neurons.csv").read_text().splitlines()[0] == \
        "index,normalised_activation,max_activation,unique_tokens,relatedness,flagged"
    with pytest.raises(Exception, match="reads layer 1, not layer 0"):
        triage(wb, 0, range(3), dictionary=NAME)
    with pytest.raises(Exception, match="latent 8 is out of range"):
        triage(wb, None, [8], dictionary=NAME)


def test_the_web_apps_unit_page_shows_it(planted):
    import httpx

    from autointerp.store import open_store
    from autointerp.web import create_app
    from tests.store.samples import make
    from tests.web.conftest import serving

    wb, _ = planted
    wb.cache(wb.unit(f"1-{NAME}/0")), wb.layer(1)  # the server reads caches, never builds them
    open_store(wb.settings).add_many([make(n, "legal language in contracts", model=wb.model)
                                      for n in ("L1.N3", f"1-{NAME}/1")])
    with serving(create_app(wb)) as url, httpx.Client(base_url=url, timeout=120) as http:
        page = http.get(f"/neurons/1-{NAME}/{RARE}")
        assert page.status_code == 200 and 'data-activity="rare"' in page.text, page.text[:2000]
        assert http.get(f"/api/neurons/1-{NAME}/{DEAD}").json()["firing"]["activity"] == "dead"
        assert 'id="firing"' not in http.get("/neurons/L1.N0").text
        found = http.get("/api/search", params={"q": "legal text", "dictionary": NAME}).json()
        assert [h["explanation"]["neuron"] for h in found] == [f"1-{NAME}/1"]
        found = http.get("/api/search", params={"q": "legal text", "kind": "neuron"}).json()
        assert [h["explanation"]["neuron"] for h in found] == ["L1.N3"]
        assert http.get("/api/search", params={"q": "legal", "kind": "cell"}).status_code == 400
        page = http.get("/search", params={"q": "legal text", "dictionary": NAME}).text
        assert f"1-{NAME}/1" in page and "L1.N3" not in page

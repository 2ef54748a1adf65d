"""The app in a real browser: headless Chromium (Debian's, driven by Playwright's Python API) against
the real server. Skips only where no Chromium exists (a failure instead with AUTOINTERP_REQUIRE_CHROMIUM=1)."""

from __future__ import annotations

import os
import re

import pytest

from tests.web.conftest import SCREENSHOT, SEEDED

pytestmark = pytest.mark.integration
HOVER = re.compile(r"^'.*': -?\d+\.\d{4}$", re.S)


def test_browse_index_layer_neuron(page, server):
    page.goto(server.url + "/")
    page.get_by_role("link", name="layer 3", exact=True).first.click()
    page.wait_for_url("**/layers/3")
    assert page.locator("#neurons tbody tr").count() == 1536
    # sort by max activation: the first click sorts descending
    page.locator("#neurons th", has_text="max act.").click()
    values = [float(v) for v in page.locator("#neurons tbody tr td:nth-child(2)").evaluate_all(
        "cells => cells.slice(0, 50).map(c => c.dataset.v)")]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]
    top = page.locator("#neurons tbody tr").first.locator("a").inner_text()
    page.locator("#neurons tbody tr").first.locator("a").click()
    page.wait_for_url(f"**/neurons/{top}")
    assert page.locator("h1#neuron").inner_text().startswith(top)
    spans = page.locator("#top td.win span")
    assert spans.count() >= 20 * 60
    assert page.locator("#top td.win span.max").count() == 20
    titles = spans.evaluate_all("s => s.slice(0, 200).map(x => x.title)")
    assert all(HOVER.match(t) for t in titles), titles[:5]
    assert page.locator("#top td.win span[style*='background']").count() > 20  # shaded
    assert page.locator("#quantiles table").count() >= 1 and page.locator("#random tr").count() == 10
    page.locator("a[rel=next]").click()
    page.wait_for_url("**/neurons/L3.N*")
    page.get_by_role("link", name="layer 3").first.click()
    page.wait_for_url("**/layers/3")


def test_probe_box_shades_tokens_from_the_real_model(page, server):
    page.goto(server.url + "/neurons/L29.N720")
    page.fill("#probe textarea", "It was a long day\nHe is an engineer <script>window.__pwned = 3</script>")
    page.click("#probe button")
    page.wait_for_selector("#probe-out .probe-rec:nth-child(2) .tokens span")
    recs = page.locator("#probe-out .probe-rec")
    assert recs.count() == 2
    first = recs.nth(0).locator(".tokens span")
    assert first.all_inner_texts() == ["It", " was", " a", " long", " day"]
    assert first.nth(2).get_attribute("class") == "max"  # ' a': the article neuron
    assert all(HOVER.match(t) for t in first.evaluate_all("s => s.map(x => x.title)"))
    assert "background" in (first.nth(2).get_attribute("style") or "")
    assert "<script>" in recs.nth(1).inner_text()  # shown as text, not run
    assert page.evaluate("window.__pwned") is None


def test_search_box_and_links(page, server):
    page.goto(server.url + "/")
    page.fill("header input[name=q]", "football")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/search?q=football")
    assert page.locator("#hits tbody tr").count() >= 1
    page.locator("#hits a.neuron", has_text="L3.N9").first.click()
    page.wait_for_url("**/neurons/L3.N9")
    assert SEEDED["L3.N9"] in page.locator("#explanations").inner_text()
    page.goto(server.url + "/search")  # the filters form
    page.fill("#search input[name=q]", "legal documents")
    page.select_option("#search select[name=model]", "gpt2-small")
    page.click("#search button")
    page.wait_for_selector("#hits")
    assert page.locator("#hits tbody tr td:nth-child(3)").all_inner_texts() == ["gpt2-small"]
    page.locator("#hits a.neuron").first.click()
    page.wait_for_url("**/neurons/L3.N8?model=gpt2-small")
    assert "legal text" in page.locator("#explanations").inner_text()


def test_stored_script_shows_as_text(page, server):
    page.goto(server.url + "/neurons/L3.N5")
    text = page.locator("article.explanation .text").first.inner_text()
    assert "<script>window.__pwned = 1</script>" in text
    assert page.evaluate("window.__pwned") is None
    assert page.locator("article.explanation script, article.explanation img").count() == 0


def test_explain_button_streams_and_stores(page, server):
    page.goto(server.url + "/neurons/L29.N720")
    before = page.locator("article.explanation").count()
    page.select_option("#explain select[name=method]", "heuristic")
    page.click("#explain button")
    page.wait_for_function("document.querySelector('#explain').dataset.done", timeout=120_000)
    assert page.locator("#explain").get_attribute("data-done") == "done", page.locator("#explain-status").inner_text()
    titles = page.locator("#live li .title").all_inner_texts()
    assert titles[0].startswith("[0] start: heuristic") and any("score (test)" in t for t in titles)
    assert page.locator("#explain-status").inner_text().startswith("done: stored as ")
    page.click("#effects-btn")
    page.wait_for_selector("#effects-out h4", timeout=120_000)
    assert "' an'" in page.locator("#effects-out ul").first.inner_text()
    page.reload()
    assert page.locator("article.explanation").count() == before + 1
    page.locator("details.transcript summary").first.click()
    assert page.locator("details.transcript li").first.inner_text().startswith("[0] start: heuristic")
    page.locator("details.transcript summary").first.click()
    page.fill("#probe textarea", "It was a long day\nHe is an engineer")
    page.click("#probe button")
    page.wait_for_selector("#probe-out .probe-rec:nth-child(2)")
    page.evaluate("window.scrollTo(0, 0)")
    shot = page.screenshot(full_page=False)
    assert shot[:4] == b"\x89PNG"
    if os.environ.get("AUTOINTERP_UPDATE_SCREENSHOTS") == "1":  # the README's picture
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)

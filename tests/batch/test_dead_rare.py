"""A batch over a dictionary's latents skips the dead and the rare ones, records each with its
figures, does the same on a rerun, and `report` counts them; through the library and the real CLI.
The dictionary (tests/dictionaries/planted.py) has a latent that never fires and one that fires in
a few windows of the tiny model's real cache."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from autointerp.batch import BatchOptions, run_batch
from autointerp.batch.failures import Skips
from autointerp.batch.report import write_report
from autointerp.store import open_store
from autointerp.workbench import Workbench
from tests.conftest import env_for, linked_home
from tests.dictionaries.planted import DEAD, NAME, RARE, plant


@pytest.fixture()
def planted(home, tmp_path):
    settings = linked_home(home, tmp_path / "home", tokens=8192)
    wb = Workbench.open("tiny-random", settings=settings, progress=False)
    return wb, plant(wb, tmp_path / "dicts")


def test_batch_records_dead_and_rare_skips_and_report_counts_them(planted, tmp_path):
    (wb, fires_in), name = planted, NAME
    opts = BatchOptions(dictionary=name, neurons="0:4", method="heuristic")
    first = run_batch(opts, wb=wb)
    assert (first.skipped_dead, first.skipped_rare, first.done, first.failed) == (1, 1, 2, 0), first
    skips = Skips(wb.settings, wb.model).all()
    assert {u: s.reason for u, s in skips.items()} == {f"1-{name}/{DEAD}": "dead", f"1-{name}/{RARE}": "rare"}
    assert skips[f"1-{name}/{DEAD}"].frequency == 0 and skips[f"1-{name}/{RARE}"].windows_firing == fires_in
    store = open_store(wb.settings)
    assert sorted(e.neuron for e in store.list(dictionary=name)) == [f"1-{name}/1", f"1-{name}/3"]

    again = run_batch(opts, wb=wb)  # resumable: nothing explained twice, the same skips, recorded once each
    assert (again.already_done, again.skipped_dead, again.skipped_rare, again.done) == (2, 1, 1, 0), again
    assert len(list(Skips(wb.settings, wb.model).dir.glob("*.json"))) == 2

    out = tmp_path / "report"
    rows = write_report(wb, None, out, dictionary=name)
    assert [r.unit for r in rows] == [f"1-{name}/1", f"1-{name}/3"]
    md = (out / "report.md").read_text()
    assert "| dead (never fire) | 1 |" in md and "| rare (too few firing windows) | 1 |" in md, md
    index = (out / "index.html").read_text()
    assert 'id="skipped"' in index and "<b>1</b> dead" in index and "<b>1</b> rare" in index
    for link in re.findall(r"href=\"(neurons/[^\"]+)\"", index):
        assert (out / link).is_file(), link


def test_the_cli_says_how_many_it_skipped_and_report_and_show_say_why(planted):
    (wb, fires_in), name = planted, NAME

    def run(*args):
        return subprocess.run([sys.executable, "-m", "autointerp.cli", *args, "-m", "tiny-random"], timeout=600,
                              env=env_for(wb.settings, AUTOINTERP_TOKENS="8192", COLUMNS="200"),
                              capture_output=True, text=True)

    r = run("batch", "--dictionary", name, "--neurons", "0:4", "--heuristic")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 explained, 0 failed, 0 already stored, 1 skipped as dead, 1 skipped as rare" in r.stderr, r.stderr
    assert "recorded with its firing frequency" in r.stderr
    r = run("report", "--dictionary", name)
    assert r.returncode == 0 and "2 latents" in r.stderr and "skipped by batch: 1 dead, 1 rare" in r.stderr, r.stderr
    r = run("show", f"1-{name}/{RARE}")
    assert r.returncode == 0 and re.search(rf"frequency [0-9.e-]+\), in {fires_in} windows: rare", r.stdout), r.stdout
    r = run("triage", "--dictionary", name, "--neurons", "0:4", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    assert (got["dead"], got["rare"]) == (1, 1) and [row["activity"] for row in got["rows"]][DEAD] == "dead"
    for args, said in ((("batch", "--dictionary", "Bad_Name"), "malformed dictionary name"),
                       (("batch", "--dictionary", name, "--layers", "0"), "reads layer 1"),
                       (("report", "--dictionary", "nope"), "no dictionary named 'nope'"),
                       (("batch",), "give --layers")):
        r = run(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr, r.stderr

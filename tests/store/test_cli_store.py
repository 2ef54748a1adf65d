"""The store commands end to end: `autointerp store rebuild-index` after damage, and an empty store
that says so (on stderr: `--json` stays a clean `[]`)."""

from __future__ import annotations

import json
import subprocess
import sys

from autointerp.store import open_store
from tests.conftest import env_for
from tests.store.test_damage import garble, populate


def cli(settings, *args):
    env = env_for(settings, COLUMNS="200")  # rich tables fit without wrapping
    env.pop("AUTOINTERP_CHROMA_URL", None)
    return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_rebuild_index_says_what_it_did(fresh_settings):
    populate(open_store(fresh_settings))
    garble(fresh_settings.data_dir / "store" / "chroma.sqlite3", "random page")
    r = cli(fresh_settings, "search", "legal text")  # exact reads come from the ledger; a search needs the index
    (line,) = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "autointerp store rebuild-index" in line, r.stderr[-2000:]
    r = cli(fresh_settings, "store", "rebuild-index")
    assert r.returncode == 0, r.stderr[-2000:]
    (line,) = r.stderr.strip().splitlines()
    (aside,) = fresh_settings.data_dir.glob("store.damaged-*")
    assert line.startswith("re-indexed 12 records") and f"moved to {aside}" in line, line
    r = cli(fresh_settings, "search", "legal text", "-k", "1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["explanation"]["neuron"] == "L6.N74", r.stderr[-2000:]


def test_an_empty_store_says_so_on_stderr(fresh_settings):
    for args in (("list",), ("list", "--json"), ("search", "legal text"), ("search", "legal text", "--json")):
        r = cli(fresh_settings, *args)
        assert r.returncode == 0, r.stderr
        assert r.stdout == ("[]\n" if "--json" in args else ""), r.stdout
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith("the store is empty: fill it with `autointerp explain") and "import" in line, line
    assert not (fresh_settings.data_dir / "store").exists(), "reading created nothing"
    populate(open_store(fresh_settings))
    r = cli(fresh_settings, "list", "--layer", "7", "--json")
    assert r.returncode == 0 and r.stdout == "[]\n", r.stderr
    assert r.stderr.strip() == "no stored explanation matches the filters (11 in the store)"


def test_list_and_search_show_and_filter_confident(fresh_settings):
    from tests.store.samples import varied

    sure = {"L6.N74", "L29.N3"}
    open_store(fresh_settings).add_many([e.model_copy(update={"confident": e.neuron in sure}) for e in varied()])
    r = cli(fresh_settings, "list", "--confident", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {(e["neuron"], e["confident"]) for e in json.loads(r.stdout)} == {(n, True) for n in sure}
    r = cli(fresh_settings, "search", "legal text", "--unconfident", "-k", "20", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    hits = json.loads(r.stdout)
    assert len(hits) == len(varied()) - 2 and not any(h["explanation"]["confident"] for h in hits)
    table = cli(fresh_settings, "list", "--layer", "29").stdout
    header = next(line for line in table.splitlines() if "neuron" in line)
    col = [c.strip() for c in header.split("┃")].index("confident")
    rows = {cells[1]: cells[col] for line in table.splitlines() if "L29." in line
            for cells in [[c.strip() for c in line.split("│")]]}
    assert rows == {"L29.N720": "no", "L29.N3": "yes"}, table

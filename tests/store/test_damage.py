"""A damaged store fails with one clear line (never a Rust panic), is rebuilt from its record ledger,
and reads leave every file of it as it was."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest

from autointerp.config import Settings
from autointerp.errors import StoreError
from autointerp.store import damaged_copies, open_store, rebuild_index
from autointerp.store.ledger import NAME as LEDGER
from tests.conftest import env_for, linked_home
from tests.store.samples import MODEL, make, varied


def probe(settings, *args, timeout=300):
    env = env_for(settings)
    env.pop("AUTOINTERP_CHROMA_URL", None)
    return subprocess.run([sys.executable, "-m", "tests.store.probe", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def populate(store) -> None:
    store.add_many(varied())
    store.add(make(text="legal words, first try", value=0.2, minutes=-60))  # older: goes to the history
    store.add(make(text="statutes and contracts", explainer="openai:gpt-4o-mini", value=None, minutes=90))


@pytest.fixture()
def populated(fresh_settings):
    store = open_store(fresh_settings)
    populate(store)
    return fresh_settings


def garble(db, how: str) -> None:
    data = bytearray(db.read_bytes())
    rng = random.Random(how)
    if how == "random page":  # the first page after the header: Chroma's Rust core panicked on this
        data[4096:8192] = rng.randbytes(4096)
    elif how == "random second half":  # panicked too
        data[len(data) // 2:] = rng.randbytes(len(data) - len(data) // 2)
    elif how == "header kept, rest random":
        data[100:] = rng.randbytes(len(data) - 100)
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "text":
        data = bytearray(b"this is not a database\n" * 100)
    elif how == "empty":
        data = bytearray()
    db.write_bytes(bytes(data))


DAMAGE = ["random page", "random second half", "header kept, rest random", "truncated", "text", "empty",
          "index deleted", "hnsw header garbled"]


def snapshot(root) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_damaged_index_fails_with_one_line_in_a_fresh_process(populated, home, tmp_path):
    source = populated.data_dir / "store"
    homes = []
    for i, how in enumerate(DAMAGE):
        copy = linked_home(home, tmp_path / f"damaged{i}")
        shutil.copytree(source, copy.data_dir / "store")
        db = copy.data_dir / "store" / "chroma.sqlite3"
        if how == "index deleted":
            db.unlink()
        elif how == "hnsw header garbled":
            for seg in (copy.data_dir / "store").iterdir():
                if seg.is_dir():
                    (seg / "header.bin").write_bytes(random.Random(0).randbytes(100))
        else:
            garble(db, how)
        homes.append(str(copy.home))
    r = probe(populated, "search", str(populated.home), *homes)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "panick" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert len(lines) == len(DAMAGE) + 1, r.stdout
    assert lines[0] == f"{populated.home}\tcount 11; hit L6.N74"
    for how, line in zip(DAMAGE, lines[1:]):
        # exact reads come from the ledger: the damaged store still lists and exports (a way out)
        assert line.split("\t")[1].startswith("count 11; StoreError: "), (how, line)
        assert "`autointerp store rebuild-index` rebuilds it from the store's record ledger" in line, (how, line)
        expected = "is missing" if how == "index deleted" else "hnsw index" if "hnsw" in how else "is damaged"
        assert expected in line, (how, line)


def test_rebuild_index_restores_every_record(populated):
    store = open_store(populated)
    before, current = store.all_versions(), store.list()
    assert store.search("legal text", k=1)[0].explanation.neuron == "L6.N74"  # Chroma open in this process
    db = populated.data_dir / "store" / "chroma.sqlite3"
    garble(db, "random page")
    damaged = db.read_bytes()
    assert rebuild_index(populated) == len(before) == 12
    again = open_store(populated)
    assert again is not store and again._backend is store._backend
    for s in (store, again):
        assert s.all_versions() == before and s.list() == current
        hit = s.search("neurons about legal text", k=1)[0]
        assert hit.explanation.neuron == "L6.N74" and hit.similarity > 0.4
    assert s.search("baking bread in the kitchen", k=1)[0].explanation.neuron == "L12.N301"
    assert len(s.history(MODEL, "L6.N74")) == 3
    [aside] = damaged_copies(populated)
    assert aside.parent == db.parent.parent and (aside / "chroma.sqlite3").read_bytes() == damaged  # kept, not deleted
    assert sum(1 for p in aside.iterdir() if p.is_dir()) == 2  # both collections' HNSW files
    s.add(make("L1.N1", "written after the rebuild"))
    assert s.count() == len(current) + 1


def test_rebuild_index_in_another_process_is_seen(populated, tmp_path):
    store = open_store(populated)
    store.search("legal", k=1)
    env = env_for(populated)
    r = subprocess.run([sys.executable, "-c", "from autointerp.store import rebuild_index; print(rebuild_index())"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.split() == ["12"], r.stderr[-2000:]
    assert store.search("neurons about legal text", k=1)[0].explanation.neuron == "L6.N74"
    store.add(make("L1.N1", "written after the rebuild"))
    assert len(store.all_versions()) == 13


def test_store_from_before_the_ledger(populated):
    """No ledger: reads come from Chroma and rebuild says why it cannot; the first write backfills one."""
    store = open_store(populated)
    before = store.all_versions()
    ledger = populated.data_dir / "store" / LEDGER
    ledger.unlink()
    assert store.all_versions() == before and store.count() == 11
    with pytest.raises(StoreError, match="no record ledger .* made before autointerp kept one"):
        rebuild_index(populated)
    garble(populated.data_dir / "store" / "chroma.sqlite3", "text")
    from autointerp.store.backend import LocalBackend

    LocalBackend.forget(populated.data_dir / "store")
    with pytest.raises(StoreError, match="no record ledger to rebuild it from .* import an export"):
        open_store(populated).search("legal")


def test_first_write_backfills_the_ledger(populated):
    store = open_store(populated)
    before = store.all_versions()
    (populated.data_dir / "store" / LEDGER).unlink()
    store.add(make("L1.N1", "one more"))
    assert (populated.data_dir / "store" / LEDGER).is_file()
    assert len(store.all_versions()) == len(before) + 1 and store.count() == 12
    assert rebuild_index(populated) == len(before) + 1


def test_damaged_ledger_is_reported_and_made_again(populated):
    ledger = populated.data_dir / "store" / LEDGER
    before = open_store(populated).all_versions()
    ledger.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="record ledger .* cannot be read .* move it aside"):
        open_store(populated).list()
    with pytest.raises(StoreError, match="record ledger .* cannot be read"):
        rebuild_index(populated)
    ledger.rename(ledger.with_name("ledger.damaged"))  # what the message advises
    store = open_store(populated)
    assert store.all_versions() == before  # from the index
    store.add(make("L1.N1", "one more"))
    assert ledger.is_file() and len(store.all_versions()) == len(before) + 1


def test_reads_leave_every_file_unchanged(populated, tmp_path):
    root = populated.data_dir / "store"
    before = snapshot(root)
    assert {LEDGER, "chroma.sqlite3", "autointerp.generation", "autointerp.lock"} <= set(before)
    r = probe(populated, "exact", str(populated.home), str(tmp_path / "export.jsonl"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["11", "3", "2", "3", "11", "True", "True", "True", "12", "12"]
    assert snapshot(root) == before  # list, get, history, count, has, best, latest, export: nothing written

    dump = list(sqlite3.connect(root / "chroma.sqlite3").iterdump())
    r = probe(populated, "search", str(populated.home))
    assert r.returncode == 0 and r.stdout.split("\t")[1].strip() == "count 11; hit L6.N74", r.stderr[-3000:]
    after = snapshot(root)
    # Chroma's client inserts a row into its own `acquire_write` table on every open: the one write a
    # search makes. The HNSW files, our ledger and every other file stay as they were.
    assert {k: v for k, v in after.items() if k != "chroma.sqlite3"} == \
        {k: v for k, v in before.items() if k != "chroma.sqlite3"}
    changed = set(sqlite3.connect(root / "chroma.sqlite3").iterdump()) ^ set(dump)
    assert changed and all(line.startswith('INSERT INTO "acquire_write"') for line in changed), changed


def test_empty_store_reads_create_nothing(fresh_settings):
    store = open_store(fresh_settings)
    assert store.count() == 0 and store.list() == [] and store.all_versions() == []
    assert store.search("legal") == [] and not store.has(MODEL, "L6.N74", "local", "agent_v1")
    assert store.get(MODEL, "L6.N74") == [] and store.history(MODEL, "L6.N74") == []
    assert not (fresh_settings.data_dir / "store").exists()


def test_rebuild_index_needs_a_local_store(fresh_settings, tmp_path):
    with pytest.raises(StoreError, match="no record ledger"):
        (tmp_path / "s").mkdir()
        rebuild_index(tmp_path / "s")
    with pytest.raises(Exception, match="there is no store"):
        rebuild_index(tmp_path / f"nothing-{uuid.uuid4().hex}")
    with pytest.raises(Exception, match="Chroma server"):
        rebuild_index(Settings(home=fresh_settings.home, chroma_url="http://localhost:1"))

"""No secret and no outside file ever leaks, end to end through the CLI in subprocesses.

- A key a server echoes back in its 401 reply is printed nowhere and saved nowhere: not in the
  output, the transcript, the batch failure file, nor any other file under the data dir.
- Records are untrusted (they may be imported): a transcript path named inside one is never
  opened; `report` finds transcripts by the record's identity under the data dir, and
  `transcript --path` reads only files under the transcripts folder."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import env_for
from tests.llm.openai_server import Server

MODEL = "tiny-random"


def run(settings, *args, timeout=600, **env):
    return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], capture_output=True, text=True,
                          env=env_for(settings, AUTOINTERP_TOKENS="2048", HF_HUB_OFFLINE="1",
                                      AUTOINTERP_LLM_ATTEMPTS="1", **env), timeout=timeout)


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_an_echoed_key_is_printed_and_saved_nowhere(fresh_settings, tiny):
    canary = f"sk-canary-{uuid.uuid4().hex}"
    with Server() as server:
        server.echo_key = True  # its 401 quotes the key it was sent, as some servers do
        llm = f"openai-compatible:m@{server.url}"
        explained = run(fresh_settings, "explain", "L0.N3", "--model", MODEL, "--llm", llm, "--simulator", "lexical",
                        OPENAI_API_KEY=canary)
        batch = run(fresh_settings, "batch", "--layers", "0", "--neurons", "0:2", "--model", MODEL, "--one-shot",
                    "--llm", llm, OPENAI_API_KEY=canary)
        asked = len(server.requests)
    assert asked >= 2, "the server was called, and refused the key"
    assert batch.returncode == 1, batch.stderr[-3000:]
    for r in (explained, batch):
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        assert canary not in r.stdout and canary not in r.stderr, r.stderr[-3000:]
    assert "2 of 2 neurons failed" in batch.stderr, batch.stderr[-2000:]
    home = fresh_settings.home
    transcripts = list((home / "transcripts").rglob("*.jsonl"))
    failures = list((home / "batch").rglob("failed/*.json"))
    assert transcripts and len(failures) == 2, (transcripts, failures)
    assert any(b"Incorrect API key provided: ***" in p.read_bytes() for p in [*transcripts, *failures])
    assert files_holding(home, canary.encode()) == []


@pytest.fixture()
def canary_file(tmp_path) -> tuple[Path, str]:
    secret = f"CANARY-{uuid.uuid4().hex}"
    path = tmp_path / "outside" / "secret.jsonl"
    path.parent.mkdir()
    # shaped like a transcript, so that nothing but the path check keeps it out
    path.write_text(json.dumps({"type": "llm", "step": 0, "data": {"content": secret}}) + "\n")
    return path, secret


def test_a_record_naming_an_outside_file_never_gets_it_read(fresh_settings, tiny, canary_file, tmp_path):
    """Imported records name an outside canary file and /etc/passwd as their transcripts: neither is
    read. The transcript a local run wrote is found by the record's identity (its file name under
    the data dir); `transcript --path` refuses anything outside the transcripts folder."""
    path, secret = canary_file
    r = run(fresh_settings, "explain", "L0.N7", "--model", MODEL, "--heuristic", "--simulator", "lexical")
    assert r.returncode == 0, r.stderr[-3000:]
    rec = {"neuron": "L0.N5", "model": MODEL, "text": "a neuron that reads files", "explainer": "none",
           "method": "heuristic", "prompt_version": "heuristic_v1", "transcript": str(path)}
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "neuron": "L0.N6", "transcript": "/etc/passwd"})
                       + "\n")
    r = run(fresh_settings, "import", str(records))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "report"
    r = run(fresh_settings, "report", "--layer", "0", "--model", MODEL, "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"L0.N5" in written and secret.encode() not in written and b"root:" not in written
    for n in (5, 6):
        assert "no transcript" in (out / "neurons" / f"L0.N{n}.html").read_text()
    page = (out / "neurons" / "L0.N7.html").read_text()
    assert "no transcript" not in page and "[0] start" in page, page[-2000:]
    assert sorted(p.name for p in (out / "transcripts").iterdir()) == ["L0.N7.jsonl"]

    (mine,) = (fresh_settings.home / "transcripts").rglob("*.jsonl")
    r = run(fresh_settings, "transcript", "L0.N7", "--model", MODEL, "--path", str(mine))
    assert r.returncode == 0 and "[0] start" in r.stdout, r.stderr
    for outside in (str(path), "/etc/passwd", str(mine.parent / ".." / ".." / ".." / ".." / "etc" / "passwd"),
                    str(fresh_settings.home / "transcripts")):
        r = run(fresh_settings, "transcript", "L0.N5", "--model", MODEL, "--path", outside)
        assert r.returncode == 2 and secret not in r.stdout + r.stderr and "root:" not in r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not a transcript file under" in lines[0], r.stderr

    mine.write_bytes(mine.read_bytes()[:-40])  # a truncated transcript: one line naming it
    r = run(fresh_settings, "transcript", "L0.N7", "--model", MODEL)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "damaged or truncated at line" in lines[0], r.stderr
    assert str(mine) in lines[0]

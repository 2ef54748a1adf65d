"""Each toolbox command through the real CLI with --json, and its bad input."""

import json
import subprocess
import sys

import pytest

from tests.conftest import env_for

pytestmark = pytest.mark.integration


def run(settings, *args):
    return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], env=env_for(settings),
                          capture_output=True, text=True, timeout=600)


def test_tools_json(real_settings, tmp_path):
    r = run(real_settings, "probe", "L3.N5", "one text", "another, longer text", "--json")
    assert r.returncode == 0, r.stderr
    assert [len(x["tokens"]) for x in json.loads(r.stdout)["records"]][0] == 3
    r = run(real_settings, "synonyms", "happy", "-k", "3", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["neighbours"]) == 3
    r = run(real_settings, "context", "L3.N5", "--example", "1", "--json", "--html", str(tmp_path / "c.html"))
    assert r.returncode == 0 and json.loads(r.stdout)["example"] == 1 and (tmp_path / "c.html").exists()
    assert (tmp_path / "c.html").read_text().count("<span") == len(json.loads(r.stdout)["words"])
    r = run(real_settings, "show", "L3.N5", "--json", "--html", str(tmp_path / "s.html"))
    page = (tmp_path / "s.html").read_text()
    assert r.returncode == 0 and json.loads(r.stdout)["neuron"] == "L3.N5" and "<h1 class=\"neuron\">L3.N5" in page
    assert page.count('class="max"') == len(json.loads(r.stdout)["top"]) + sum(
        len(q["examples"]) for q in json.loads(r.stdout)["quantiles"]) + len(json.loads(r.stdout)["random"])
    r = run(real_settings, "triage", "--layer", "3", "--neurons", "0:10", "--json", "--csv", str(tmp_path / "t.csv"),
            "--plot", str(tmp_path / "t.png"))
    assert r.returncode == 0 and len(json.loads(r.stdout)["rows"]) == 10
    assert (tmp_path / "t.png").stat().st_size > 1000
    r = run(real_settings, "effects", "L29.N720", "-k", "5", "--contexts", "3")
    assert r.returncode == 0 and "' an'" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["probe", "L3.N5", ""], "text 1 is empty"),
    (["synonyms", "???"], "no usable neighbours"),
    (["context", "L3.N5", "--example", "999"], "out of range"),
    (["triage", "--layer", "3", "--neurons", "7:7"], "empty"),
    (["substitute", "L3.N99999"], "neurons are 0..1535"),
    (["effects", "L30.N1"], "layers are 0..29"),
])
def test_tools_bad_input(real_settings, args, message):
    r = run(real_settings, *args)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr

"""The README's "Extending autointerp" files are complete code: each is copied out of the README as
it stands, imported (its one registration), and run through the public API on a real cache, a
real LLM server on loopback and the real simulators."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from autointerp.agent import explain, unregister_explainer
from autointerp.cache.build import build_cache
from autointerp.llm import make_llm, unregister_backend
from autointerp.records import ScoreOptions
from autointerp.scoring.registry import get_scorer, run_scorer, unregister_scorer
from autointerp.workbench import Workbench

README = Path(__file__).resolve().parents[1] / "README.md"


def _files() -> dict[str, str]:
    """Every ```python block of the README whose first line names its file (`# name.py`)."""
    blocks = re.findall(r"```python\n# (\w+\.py)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return {name: body for name, body in blocks}


@pytest.fixture()
def readme_modules(tmp_path, monkeypatch):
    files = _files()
    assert {"my_explainers.py", "my_scorers.py", "my_backend.py"} <= set(files)
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    mods = {name[:-3]: importlib.import_module(name[:-3]) for name in files}
    yield mods
    unregister_explainer("peak-token")
    unregister_scorer("peak-word")
    unregister_backend("lab")
    for name in mods:
        sys.modules.pop(name, None)


def test_the_readme_files_run(readme_modules, fresh_settings, tiny, openai_server, monkeypatch):
    build_cache([0], model="tiny-random", tokens=3000, settings=fresh_settings, progress=False)
    wb = Workbench.open("tiny-random", settings=fresh_settings, progress=False)

    record = explain(wb, "L0.N3", method="peak-token")
    assert record.method == "peak-token" and record.prompt_version == "peak_token_v1"
    assert record.text.startswith('the token "') or record.text.startswith("No clear explanation")
    assert record.scores and record.scores[0].split is not None and record.explainer == "none"

    score = run_scorer(get_scorer("peak-word"), wb, "L0.N3", record.text, ScoreOptions(top=5))
    assert score.method == "peak-word" and score.n_examples == 5 and 0.0 <= score.value <= 1.0
    assert set(score.details.root) == {"hits"} and score.details.root["hits"] == round(score.value * 5)

    monkeypatch.setenv("LAB_URL", openai_server.url)
    llm = make_llm("lab:test-model", fresh_settings)
    reply = llm.invoke([HumanMessage("hello there")])
    assert reply.text == "you said: hello there" and openai_server.requests[-1]["model"] == "test-model"
    assert llm.capabilities.tool_calls
    monkeypatch.delenv("LAB_URL")
    with pytest.raises(Exception, match="LAB_URL"):
        make_llm("lab:test-model", fresh_settings)

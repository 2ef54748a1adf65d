"""Golden renders of every prompt: editing a template without bumping its version fails here, because
stored explanations name the prompt version that made them. Regenerate after a deliberate new
version with AUTOINTERP_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import pytest

from autointerp.agent.explainers import explainers
from autointerp.prompts import PromptError, render, template

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = {
    "neuron": "L6.N74", "model": "smollm2-135m", "max_steps": 8, "n": 3, "want": "positive",
    "explanation": 'years written as digits, such as "1990"', "problem": "the reply was not a JSON object",
    "text": "In 1990 the war ended.", "tokens": "0\tIn\n1\t 1990\n2\t the", "words": "dog, cat, horse",
    "top_tokens": "' 1990', ' 1985'", "examples": "10: In [[ 1990]] the war ended.\n7: By [[ 1985]] it had grown.",
    "candidates": '- 0.512: the tokens "1990", "1985"', "tools": "- probe(texts): run the model on new texts",
    "findings": 'peak words: "1990", "1985"\nswap 1990 9.1 -> 1985 8.7, 2001 8.0',
}
TEMPLATES = sorted(p.name.removesuffix(".txt") for p in resources.files("autointerp.prompts").iterdir()
                   if p.name.endswith(".txt"))


def _render(stem: str) -> str:
    name, version = re.fullmatch(r"(\w+)_v(\d+)", stem).groups()
    wanted = set(re.findall(r"\$\{?(\w+)", template(name, int(version))))
    return render(name, int(version), **{k: SAMPLE[k] for k in wanted})


@pytest.mark.parametrize("stem", TEMPLATES)
def test_prompt_renders_as_its_golden_copy(stem):
    got, path = _render(stem), GOLDEN / f"{stem}.txt"
    if os.environ.get("AUTOINTERP_UPDATE_GOLDEN") == "1":
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden render for {stem}: run with AUTOINTERP_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8"), f"{stem} changed: bump its version instead of editing it"


def test_every_recorded_prompt_version_exists():
    """agent_vN names the agent's system, task and JSON-step templates; heuristic_v1 uses no prompt."""
    for tag in (e.prompt_version for e in explainers()):
        for part in tag.split("+"):
            if m := re.fullmatch(r"agent_v(\d+)", part):
                assert {f"agent_{t}_v{m[1]}" for t in ("system", "task", "json", "json_retry")} <= set(TEMPLATES)
            else:
                assert part in TEMPLATES or part == "heuristic_v1", part


def test_the_loader_is_strict():
    with pytest.raises(PromptError, match="needs"):
        render("one_shot", 1)
    with pytest.raises(PromptError, match="has no"):
        render("one_shot", 1, examples="x", extra="y")
    with pytest.raises(PromptError, match="no prompt"):
        render("one_shot", 99, examples="x")

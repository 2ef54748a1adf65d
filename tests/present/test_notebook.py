"""Jupyter: `show`, `probe` and an Explanation render as rich HTML in a real kernel (ipykernel from
this interpreter, run by nbclient) over the session's real layer-3 cache."""

from __future__ import annotations

import subprocess
import sys

import nbformat
from nbclient import NotebookClient

SETUP = """\
from autointerp.config import Settings
from autointerp.records import Explanation
from autointerp.tools.probe import probe
from autointerp.tools.show import neuron_examples
from autointerp.workbench import Workbench
wb = Workbench.open("smollm2-135m", settings=Settings(), progress=False)"""
CELLS = {
    "show": 'neuron_examples(wb, "L3.N74")',
    "probe": 'probe(wb, "L3.N74", ["It was a long day", "<b>not markup</b>"])',
    "explanation": ('Explanation(neuron="L3.N74", model="smollm2-135m", text="the <i>articles</i> a and an", '
                    'method="heuristic", explainer="none", prompt_version="heuristic_v1")'),
}


def html_of(cell) -> str:
    [out] = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert "text/html" in out.data, out.data.keys()
    return out.data["text/html"]


def test_show_probe_and_explanation_render_as_html_in_a_kernel(real_settings, tmp_path, monkeypatch):
    prefix = tmp_path / "jupyter"
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "autointerp-test"],
                   check=True, capture_output=True)
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("AUTOINTERP_HOME", str(real_settings.home))
    monkeypatch.setenv("AUTOINTERP_TOKENS", str(real_settings.tokens))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)]
                                  + [nbformat.v4.new_code_cell(code) for code in CELLS.values()])
    NotebookClient(nb, kernel_name="autointerp-test", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    show, probed, expl = (html_of(c) for c in nb.cells[1:])

    assert "L3.N74" in show and 'class="max"' in show and "background:rgba(255,120,0," in show
    assert 'id="stats"' in show and "<svg" in show and show.count('<table class="windows"') >= 3
    assert "L3.N74" in probed and probed.count("<tr>") == 2 and 'class="max"' in probed
    assert "&lt;" in probed and "<b>" not in probed  # the text is escaped, token by token
    assert "L3.N74" in expl and "the &lt;i&gt;articles&lt;/i&gt; a and an" in expl and "unconfident" in expl

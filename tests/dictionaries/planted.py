"""A SAELens dictionary on the tiny model with a planted dead latent and a planted rare one, for the
dead/rare tests of show, triage, batch and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import save_file

from autointerp.dictionaries import add_dictionary
from autointerp.records import UnitId
from autointerp.workbench import Workbench
from tests.dictionaries.test_dictionaries import saelens_folder

NAME = "planted"
DEAD, RARE = 0, 2


def plant(wb: Workbench, folder: Path) -> int:
    """Register `planted` (ReLU, 8 latents after block 1): latent 0 has a zero encoder row and a
    negative bias, so it never fires; latent 2 is the random latent firing in the most windows, its
    bias lowered into the widest gap between its 3rd to 11th largest window maxima, so it fires in
    exactly that many windows (returned: 3 to 10, fewer than `RARE_WINDOWS`);
    latents 1 and 3 are that latent as it was, and at half strength (live); the others are random. The
    threshold is read from a first dictionary's real cache."""
    d = wb.target.d_model
    w = saelens_folder(folder / "probe", d, n=8, arch="standard")
    add_dictionary(wb.target, wb.settings.layout, folder / "probe", "probe")
    cache = wb.cache(UnitId.parse("1-probe/0"))
    busiest = max(range(8), key=lambda j: cache.firing(j).windows_firing)
    assert cache.firing(busiest).activity == "live"
    maxes = [r.max_activation for r in cache.top(busiest)]
    fires_in = max(range(3, 11), key=lambda k: maxes[k - 1] - maxes[k])  # the widest gap: no rounding crosses it
    assert maxes[fires_in] > 0 and maxes[fires_in - 1] - maxes[fires_in] > 1e-5, maxes[:12]
    cut = (maxes[fires_in - 1] + maxes[fires_in]) / 2
    w = {k: v.clone() for k, v in w.items()}
    w["W_enc"][:, RARE], w["W_dec"][RARE] = w["W_enc"][:, busiest], w["W_dec"][busiest]
    w["b_enc"][RARE] = w["b_enc"][busiest] - cut
    for live, scale in ((1, 1.0), (3, 0.5)):  # live: the busiest latent, and a weaker copy of it
        w["W_enc"][:, live], w["W_dec"][live] = scale * w["W_enc"][:, busiest], w["W_dec"][busiest]
        w["b_enc"][live] = scale * w["b_enc"][busiest]
    w["W_enc"][:, DEAD], w["b_enc"][DEAD] = 0.0, -1.0
    out = folder / NAME
    out.mkdir()
    save_file(w, str(out / "sae_weights.safetensors"))
    shutil.copyfile(folder / "probe" / "cfg.json", out / "cfg.json")
    assert json.loads((out / "cfg.json").read_text())["architecture"] == "standard"
    add_dictionary(wb.target, wb.settings.layout, out, NAME)
    return fires_in

"""`autointerp sae train` on the tiny random model: a run killed with SIGKILL resumes from its checkpoint
to the weights an uninterrupted run gives; the result is a sparsify folder that sparsify's own loader
reads; its held-out FVU is sparsify's own FVU on the held-out activations; bad input is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from autointerp.dictionaries.train import CHECKPOINT, Trainer, _Split, make_spec
from autointerp.paths import DataLayout
from tests.conftest import env_for, linked_home

ARGS = ["--layer", "1", "--latents", "96", "--k", "4", "--tokens", "60000", "--held-out-tokens", "4000",
        "--batch-tokens", "256", "-m", "tiny-random"]


def _train(settings, *extra, **env):
    cmd = [sys.executable, "-m", "autointerp.cli", "sae", "train", *ARGS, *extra]
    return cmd, env_for(settings, AUTOINTERP_CHECKPOINT_SECONDS="0", **env)


def _weights(settings, name):
    from safetensors.torch import load_file

    return load_file(str(DataLayout(settings.home).dictionaries_dir("tiny-random") / name / "sae.safetensors"))


def test_killed_training_resumes_to_the_weights_of_an_uninterrupted_run(fresh_settings, home, tmp_path):
    cmd, env = _train(fresh_settings, "--name", "res96", "--json")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = DataLayout(fresh_settings.home).dictionaries_dir("tiny-random") / ".train-res96" / CHECKPOINT
    t0 = time.time()
    while not ckpt.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() - t0 < 300, "no checkpoint appeared"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming at step" in done.stderr
    result = json.loads(done.stdout)
    info, report = result["dictionary"], result["train"]
    assert (info["name"], info["layout"], info["site"], info["layer"], info["n_latents"], info["k"]) == \
        ("res96", "sparsify", "resid", 1, 96, 4)
    assert report["tokens_trained"] >= 60000 and report["steps"] > 0
    assert info["fvu"] == report["fvu"] and 0 <= info["fvu"] < 1 and 0 < info["l0"] <= 4
    assert not ckpt.parent.exists()  # the working folder goes once the dictionary is registered

    direct = linked_home(home, tmp_path / "direct")
    cmd2, env2 = _train(direct, "--name", "res96", "--json")
    straight = subprocess.run(cmd2, env=env2, capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0 and "resuming" not in straight.stderr, straight.stderr
    a, b = _weights(fresh_settings, "res96"), _weights(direct, "res96")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert json.loads(straight.stdout)["train"]["fvu"] == pytest.approx(report["fvu"], abs=1e-6)

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)  # already trained: no work
    assert again.returncode == 0 and json.loads(again.stdout)["dictionary"] == info, again.stderr
    listed = json.loads(subprocess.run([sys.executable, "-m", "autointerp.cli", "sae", "list", "--json", "-m",
                                        "tiny-random"], env=env, capture_output=True, text=True).stdout)
    assert [(d["name"], d["fvu"]) for d in listed] == [("res96", info["fvu"])]


def test_the_saved_folder_is_sparsifys_and_its_held_out_fvu_is_sparsifys_own(fresh_settings, tiny):
    """sparsify's loader reads what training saved; on the held-out windows its own forward's FVU
    equals the figure our reader reported."""
    from sparsify import SparseCoder

    from autointerp.dictionaries.train import train_dictionary

    s = fresh_settings.model_copy(update={"checkpoint_seconds": 1e9})
    spec, windows = make_spec(tiny, s, "mlp64", "mlp-out", 0, 64, 8, 20_000, held_out_tokens=3000, batch_tokens=512)
    info, report = train_dictionary(tiny, s, spec, windows, progress=False)
    folder = DataLayout(s.home).dictionaries_dir("tiny-random") / "mlp64"
    sae = SparseCoder.load_from_disk(folder)
    assert (folder / "hookpoint").read_text() == "layers.0.mlp" and sae.num_latents == 64 and sae.cfg.k == 8
    trainer = Trainer(tiny, spec, _Split(windows, spec), 32)
    x = torch.cat([trainer.activations(idx)[0] for idx in trainer.split.held_out()])
    assert x.shape[0] >= 3000
    with torch.no_grad():
        out = sae(x)
    assert float(out.fvu) == pytest.approx(info.fvu, rel=1e-4) == pytest.approx(report.fvu, rel=1e-4)
    assert float((out.latent_acts > 0).sum(-1).float().mean()) == pytest.approx(info.l0, rel=1e-4)
    fired = torch.zeros(64, dtype=torch.bool)
    fired[out.latent_indices[out.latent_acts > 0]] = True
    assert info.dead_fraction == pytest.approx(float((~fired).float().mean()))


def test_a_transcoder_reads_the_mlp_input_and_predicts_its_output(fresh_settings, tiny):
    from autointerp.dictionaries import DictionaryLatents, read
    from autointerp.dictionaries.train import train_dictionary

    s = fresh_settings.model_copy(update={"checkpoint_seconds": 1e9})
    spec, windows = make_spec(tiny, s, "tc64", "transcoder", 1, 64, 8, 20_000, held_out_tokens=3000, lr=1e-3)
    info, _ = train_dictionary(tiny, s, spec, windows, progress=False)
    assert info.site == "transcoder" and info.fvu < 1
    d = DataLayout(s.home).dictionaries_dir("tiny-random") / "tc64"  # `tiny` reads the session's home
    source = DictionaryLatents(tiny, info, read("sparsify", d, "layers.1.mlp"))
    assert (source.read_point, source.write_point) == ("blocks.1.ln2.hook_out", "blocks.1.mlp.hook_out")


@pytest.mark.parametrize(("extra", "said"), [
    (("--name", "Bad"), "malformed dictionary name"),
    (("--name", "x", "--k", "500"), "--k 500 must be between 1 and the number of latents"),
    (("--name", "x", "--layer", "9"), "layer 9"),
    (("--name", "x", "--held-out-tokens", "100000000"), "not enough for"),
    (("--name", "x", "--site", "attn"), "attn"),
])
def test_bad_training_input_is_one_line(fresh_settings, extra, said):
    cmd, env = _train(fresh_settings, *extra)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
    if "--site" not in extra:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_run_in_progress_under_other_settings_is_refused(fresh_settings, tiny):
    s = fresh_settings.model_copy(update={"checkpoint_seconds": 0})
    spec, windows = make_spec(tiny, s, "res32", "resid", 1, 32, 4, 20_000, held_out_tokens=3000)
    work = DataLayout(s.home).dictionaries_dir("tiny-random") / ".train-res32"
    work.mkdir(parents=True)
    trainer = Trainer(tiny, spec, _Split(windows, spec), 32)
    trainer.train_chunk()
    torch.save(trainer.state(), work / CHECKPOINT)
    cmd, env = _train(s, "--name", "res32", "--latents", "32", "--k", "8")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "with other settings is in progress" in r.stderr and "k 4 → 8" in r.stderr, r.stderr

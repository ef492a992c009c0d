"""Training: checkpoints, weights_only loading, bitwise resume, config validation, CLI."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bumpdiff.core.train import (
    TrainConfig,
    checkpoint_steps,
    list_checkpoints,
    load_checkpoint,
    load_model,
    run_dir,
    train,
)
from bumpdiff.experiments.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


def test_checkpoint_schedule_dense_then_sparse():
    cfg = get_profile("cpu").train
    s = checkpoint_steps(cfg)
    assert s[0] == 0 and s[-1] == cfg.steps
    gaps = [b - a for a, b in zip(s, s[1:])]
    assert gaps[0] == cfg.ckpt_every_early and gaps[-1] <= cfg.ckpt_every_late
    assert max(gaps[: len(gaps) // 2]) < max(gaps)


@pytest.mark.slow
def test_smoke_run_writes_checkpoints_that_load_weights_only(home):
    cfg = get_profile("smoke").train
    run_path = train(cfg, progress=False)
    assert run_path == run_dir(cfg) and (run_path / "DONE").exists()
    assert json.loads((run_path / "config.json").read_text()) == json.loads(json.dumps(cfg.to_dict()))
    steps = [s for s, _ in list_checkpoints(run_path)]
    assert steps == checkpoint_steps(cfg)
    st = load_checkpoint(run_path / "ckpt_0000030.pt")  # weights_only=True inside
    assert st["step"] == 30 and st["images_seen"] == 30 * cfg.batch_size
    assert set(st) >= {"model", "ema", "optimizer", "rng", "config", "epoch"}
    torch.load(run_path / "ckpt_0000030.pt", weights_only=True)
    log = [json.loads(l) for l in (run_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 30 and log[-1]["loss"] < log[0]["loss"]
    assert st["provenance"]["versions"]["torch"] == torch.__version__ and st["provenance"]["device"]
    # the loaded model carries the EMA weights (not the raw ones) and is ready to sample
    diff, _ = load_model(run_path / "ckpt_0000030.pt")
    loaded = diff.model.state_dict()
    assert all(torch.equal(loaded[k], st["ema"][k]) for k in st["ema"])
    assert any(not torch.equal(st["ema"][k], st["model"][k]) for k in st["model"])
    assert not diff.training
    raw, _ = load_model(run_path / "ckpt_0000030.pt", which="model")
    assert all(torch.equal(raw.model.state_dict()[k], st["model"][k]) for k in st["model"])


def test_resume_is_bitwise_identical(home, trained_smoke):
    cfg = get_profile("smoke").train
    a = trained_smoke                                   # one uninterrupted run
    b = home / "b"
    train(cfg, b, progress=False, stop_after=13)       # interrupted between resume points
    assert not (b / "DONE").exists()
    train(cfg, b, progress=False)                       # resumed
    sa, sb = load_checkpoint(a / "ckpt_0000030.pt"), load_checkpoint(b / "ckpt_0000030.pt")
    for part in ("model", "ema"):
        for k in sa[part]:
            assert torch.equal(sa[part][k], sb[part][k]), (part, k)
    assert torch.equal(sa["rng"], sb["rng"])
    la = [json.loads(l)["step"] for l in (a / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(l)["step"] for l in (b / "log.jsonl").read_text().splitlines()]
    assert la == lb


def test_training_in_chunks_is_bitwise_identical(home, trained_smoke):
    cfg = get_profile("smoke").train
    a = trained_smoke
    b = home / "b"
    for until in (0, 7, 10, 23):                        # 7 and 23 are not resume points
        train(cfg, b, progress=False, until=until)
        assert load_checkpoint(b / "last.pt")["step"] == until  # the work done is kept, even off a resume point
        assert not (b / "DONE").exists()
    assert sorted(p.name for p in b.glob("ckpt_*.pt")) == ["ckpt_0000000.pt", "ckpt_0000010.pt", "ckpt_0000020.pt"]
    train(cfg, b, progress=False)
    sa, sb = load_checkpoint(a / "ckpt_0000030.pt"), load_checkpoint(b / "ckpt_0000030.pt")
    for part in ("model", "ema"):
        for k in sa[part]:
            assert torch.equal(sa[part][k], sb[part][k]), (part, k)
    with pytest.raises(ValueError, match="until"):
        train(cfg, home / "c", progress=False, until=cfg.steps + 1)


def test_run_dir_refuses_a_different_config_but_not_other_execution_settings(home):
    cfg = get_profile("smoke").train
    run_path = train(cfg, home / "r", progress=False, stop_after=1)
    with pytest.raises(ValueError, match="different config"):
        train(get_profile("smoke").train_config("lr=0.5"), run_path, progress=False)
    train(replace(cfg, log_every=1, threads=2, device="cpu"), run_path, progress=False, stop_after=1)  # same run
    assert load_checkpoint(run_path / "last.pt")["step"] == 2


def test_overrides_and_hash():
    cfg = get_profile("smoke").train_config("lattice.dx=0.1", "steps=7", "model.widths=8,16,16,32")
    assert cfg.lattice.dx == 0.1 and cfg.steps == 7 and cfg.model.widths == (8, 16, 16, 32)
    assert cfg.key() != get_profile("smoke").train.key()
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # values that must agree change together; alone, the first is refused with the rule it breaks
    small = get_profile("cpu").train_config("lattice.n=16", "model.image_size=16")
    assert small.lattice.n == small.model.image_size == 16
    with pytest.raises(ValueError, match=r"lattice.n \(16\) must equal model.image_size \(32\)"):
        get_profile("cpu").train_config("lattice.n=16")


def test_the_learning_rate_warms_up_then_stays_or_decays_to_zero():
    from bumpdiff.core.train import _lr_at
    base = get_profile("cpu").train_config("lr=1e-3", "warmup_steps=100", "steps=1000")
    assert base.lr_schedule == "constant"
    assert [_lr_at(base, s) for s in (0, 99, 500, 999)] == pytest.approx([1e-5, 1e-3, 1e-3, 1e-3])
    cos = replace(base, lr_schedule="cosine")
    assert cos.key() != base.key() and base.key() == get_profile("cpu").train_config(
        "lr=1e-3", "warmup_steps=100", "steps=1000", "lr_schedule=constant").key()   # the default adds nothing
    assert [_lr_at(cos, s) for s in (0, 99, 100, 550, 1000)] == pytest.approx([1e-5, 1e-3, 1e-3, 5e-4, 0.0])


@pytest.mark.parametrize("override, name", [("lr=-1", "lr"), ("batch_size=0", "batch_size"),
                                            ("ema_decay=1.5", "ema_decay"), ("lattice.dx=40", "dx"),
                                            ("precision=fp8", "precision"), ("nosuchkey=1", "nosuchkey"),
                                            ("lr_schedule=linear", "lr_schedule")])
def test_bad_config_values_raise_named_errors(override, name):
    with pytest.raises(ValueError, match=name):
        get_profile("smoke").train_config(override)


@pytest.mark.slow
def test_cli_train_and_sample_end_to_end(home):
    env = {"BUMPDIFF_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "train", "--profile", "smoke", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    run_path = Path(r.stdout.strip().splitlines()[-1])
    out = home / "s" / "grid"
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "sample", str(run_path), "--centers", "5,5;20,10",
                        "--sampler", "ddim", "--steps", "5", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.with_suffix(".png").stat().st_size > 1000
    z = torch.from_numpy(__import__("numpy").load(out.with_suffix(".npz"))["images"])
    assert z.shape == (2, 1, 32, 32)
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "train", "--profile", "smoke", "--set", "lr=-1"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "lr must be" in r.stderr


def test_a_commit_made_while_a_process_trains_is_not_credited_with_its_checkpoints(home):
    """A process that trains a run chunk by chunk runs the code it imported at its start: every checkpoint it writes
    names the commit of that moment, even when the checkout moves on between chunks."""
    from bumpdiff.core import train as train_mod
    git = lambda *a: subprocess.run(["git", *a], cwd=home, check=True, capture_output=True, text=True)  # noqa: E731
    (home / "code.py").write_text("a = 1\n")
    git("init", "-q"); git("add", "."); git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    first = git("rev-parse", "--short", "HEAD").stdout.strip()
    train_mod._PROCESS_PROVENANCE.clear()
    cfg = get_profile("smoke").train
    run = train_mod.train(cfg, progress=False, until=10)
    (home / "code.py").write_text("a = 2\n")
    git("add", "."); git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "second")
    train_mod.train(cfg, progress=False)
    for step in (10, 30):
        assert train_mod.load_checkpoint(run / f"ckpt_{step:07d}.pt")["provenance"]["commit"].startswith(first)

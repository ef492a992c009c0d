"""Training over learning: config, named profiles, a dense-early checkpoint schedule, resume.

A run lives in ``data/runs/<name>-<hash>`` where the hash is of the full :class:`TrainConfig`. It holds
``config.json``, ``log.jsonl`` (one line per logged step: loss, images/s, wall-clock seconds),
``last.pt`` (the resume point) and ``ckpt_<step>.pt`` at every scheduled step. Each checkpoint holds
the model and EMA weights, the optimiser, the step, the RNG state and the config as plain types, so
``torch.load(path, weights_only=True)`` works. Every write is atomic.

Determinism: the batch order of epoch e is a permutation drawn from a generator seeded by (seed, e),
and t and ε come from one generator whose state is checkpointed, so a resumed run gives the same weights
as an uninterrupted one (bitwise on CPU).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import paths
from .data import BumpDataset, Lattice
from .diffusion import Diffusion, DiffusionConfig
from .model import ModelConfig, UNet
from .utils import (atomic_torch_save, atomic_write_json, atomic_write_text, check_range, config_hash,
                    resolve_device, seed_everything, to_plain)

__all__ = ["TrainConfig", "PROFILES", "profile", "apply_overrides", "train", "run_dir", "load_checkpoint",
           "list_checkpoints", "load_model", "checkpoint_steps"]


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of a training run, explicit. Named profiles (:data:`PROFILES`) set sizes."""

    name: str = "run"
    seed: int = 0
    lattice: Lattice = Lattice()
    model: ModelConfig = ModelConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    # optimisation (AdamW)
    lr: float = 2e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    grad_clip: float = 1.0
    batch_size: int = 128
    steps: int = 20000
    ema_decay: float = 0.999
    ema_warmup: bool = True        # effective decay min(ema_decay, (1+s)/(10+s))
    # checkpoints: every ckpt_every_early steps up to ckpt_early_until, then every ckpt_every_late
    ckpt_every_early: int = 100
    ckpt_early_until: int = 2000
    ckpt_every_late: int = 1000
    save_every: int = 100          # resume point (last.pt) every this many steps
    log_every: int = 10
    precision: str = "bf16"        # "fp32" or "bf16" (autocast)
    device: str = "auto"
    threads: int = 0               # torch CPU threads, 0 = leave torch's choice

    def __post_init__(self):
        for f in ("lattice", "model", "diffusion"):
            v = getattr(self, f)
            if isinstance(v, dict):
                cls = {"lattice": Lattice, "model": ModelConfig, "diffusion": DiffusionConfig}[f]
                object.__setattr__(self, f, cls(**v))
        if self.lattice.n != self.model.image_size:
            raise ValueError(f"lattice.n ({self.lattice.n}) must equal model.image_size ({self.model.image_size})")
        check_range("seed", self.seed, lo=0, integer=True)
        check_range("lr", self.lr, lo=0, hi=1, lo_open=True)
        check_range("weight_decay", self.weight_decay, lo=0)
        check_range("adam_beta1", self.adam_beta1, lo=0, hi=1, hi_open=True)
        check_range("adam_beta2", self.adam_beta2, lo=0, hi=1, hi_open=True)
        check_range("adam_eps", self.adam_eps, lo=0, lo_open=True)
        check_range("warmup_steps", self.warmup_steps, lo=0, integer=True)
        check_range("grad_clip", self.grad_clip, lo=0)
        check_range("batch_size", self.batch_size, lo=1, integer=True)
        check_range("steps", self.steps, lo=1, integer=True)
        check_range("ema_decay", self.ema_decay, lo=0, hi=1, hi_open=True)
        for f in ("ckpt_every_early", "ckpt_every_late", "save_every", "log_every"):
            check_range(f, getattr(self, f), lo=1, integer=True)
        check_range("ckpt_early_until", self.ckpt_early_until, lo=0, integer=True)
        check_range("threads", self.threads, lo=0, integer=True)
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")

    def to_dict(self) -> dict:
        return to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["lattice"] = Lattice(**d["lattice"])
        m = dict(d["model"])
        m["widths"], m["attn"] = tuple(m["widths"]), tuple(m["attn"])
        d["model"] = ModelConfig(**m)
        d["diffusion"] = DiffusionConfig(**d["diffusion"])
        return cls(**d)

    def hash(self) -> str:
        return config_hash(self.to_dict())

    @property
    def images_per_epoch(self) -> int:
        return len(self.lattice)


PROFILES: dict[str, TrainConfig] = {
    # seconds on a laptop: CI and the notebooks' smoke runs
    "smoke": TrainConfig(
        name="smoke", model=ModelConfig(widths=(8, 16, 16, 16), attn=(False, False, True), heads=2,
                                        embed_dim=16, cond_dim=32, groups=4),
        diffusion=DiffusionConfig(timesteps=50), lattice=Lattice(dx=4.0, dy=4.0),
        lr=1e-3, batch_size=16, steps=30, ema_decay=0.9, ckpt_every_early=10, ckpt_early_until=20,
        ckpt_every_late=10, save_every=10, log_every=5, precision="fp32"),
    # this 2-core machine: reaches the ordered phase within an hour (README, "Results")
    "cpu": TrainConfig(
        name="cpu", model=ModelConfig(widths=(32, 48, 64, 64), attn=(False, True, True), heads=4,
                                      embed_dim=128, cond_dim=256, groups=8),
        lr=1e-3, warmup_steps=100, batch_size=128, steps=4000, ema_decay=0.995,
        ckpt_every_early=100, ckpt_early_until=2000, ckpt_every_late=250, save_every=50, log_every=10,
        precision="bf16"),
    # the paper-size model (13.4 M parameters), meant for a GPU
    "paper": TrainConfig(
        name="paper", model=ModelConfig(widths=(64, 128, 256, 256), attn=(True, True, True), heads=4,
                                        embed_dim=256, cond_dim=512, groups=8),
        lr=2e-4, warmup_steps=500, batch_size=128, steps=40000, ema_decay=0.999,
        ckpt_every_early=200, ckpt_early_until=10000, ckpt_every_late=2000, save_every=500, log_every=50,
        precision="bf16"),
}


def _parse_value(text: str, current):
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, tuple):
        parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
        return tuple(_parse_value(p.strip(), current[0]) for p in parts)
    return text


def apply_overrides(cfg, overrides) -> TrainConfig:
    """Apply ``key=value`` overrides (dotted keys for nested configs, e.g. ``lattice.dx=0.1``)."""
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override must look like key=value, got {item!r}")
        key, text = item.split("=", 1)
        cfg = _set(cfg, key.strip().split("."), text.strip())
    return cfg


def _set(obj, keys, text):
    names = {f.name for f in fields(obj)}
    if keys[0] not in names:
        raise ValueError(f"unknown config key {keys[0]!r} for {type(obj).__name__}; valid keys: {sorted(names)}")
    cur = getattr(obj, keys[0])
    if len(keys) > 1:
        return replace(obj, **{keys[0]: _set(cur, keys[1:], text)})
    return replace(obj, **{keys[0]: _parse_value(text, cur)})


def profile(name: str, *overrides: str, **kw) -> TrainConfig:
    """A named profile's config with ``key=value`` overrides and/or keyword replacements."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {name!r}")
    cfg = apply_overrides(PROFILES[name], overrides)
    return replace(cfg, **kw) if kw else cfg


def checkpoint_steps(cfg: TrainConfig) -> list[int]:
    """The scheduled checkpoint steps: step 0, dense until ``ckpt_early_until``, sparse after, and the end."""
    s = set(range(0, min(cfg.ckpt_early_until, cfg.steps) + 1, cfg.ckpt_every_early))
    s |= set(range(cfg.ckpt_early_until, cfg.steps + 1, cfg.ckpt_every_late))
    s.add(cfg.steps)
    return sorted(x for x in s if x <= cfg.steps)


def run_dir(cfg: TrainConfig) -> Path:
    return paths.runs_dir() / f"{cfg.name}-{cfg.hash()}"


def _lr_at(cfg, step):
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else cfg.lr


def _state(cfg, step, model, ema, opt, gen, elapsed):
    return {"step": step, "epoch": step * cfg.batch_size / cfg.images_per_epoch,
            "images_seen": step * cfg.batch_size, "elapsed_s": elapsed,
            "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
            "rng": gen.get_state(), "config": cfg.to_dict()}


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (it holds only tensors and plain types)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def list_checkpoints(rdir) -> list[tuple[int, Path]]:
    """(step, path) of every scheduled checkpoint in a run directory, by step."""
    out = []
    for p in Path(rdir).glob("ckpt_*.pt"):
        try:
            out.append((int(p.stem.split("_")[1]), p))
        except ValueError:
            continue
    return sorted(out)


def load_model(path_or_state, which: str = "ema", device="cpu") -> tuple[Diffusion, dict]:
    """A :class:`Diffusion` with the checkpoint's ``"ema"`` (default) or ``"model"`` weights, in eval mode."""
    state = load_checkpoint(path_or_state) if not isinstance(path_or_state, dict) else path_or_state
    if which not in ("ema", "model"):
        raise ValueError(f"which must be 'ema' or 'model', got {which!r}")
    cfg = TrainConfig.from_dict(state["config"])
    model = UNet(cfg.model)
    model.load_state_dict(state[which])
    diff = Diffusion(model, cfg.diffusion).to(resolve_device(device) if isinstance(device, str) else device)
    diff.eval()
    return diff, state


def train(cfg: TrainConfig, rdir: Path | None = None, progress: bool = True, stop_after: int | None = None,
          until: int | None = None) -> Path:
    """Train (or resume) the run for ``cfg``; returns its run directory.

    ``stop_after`` stops after that many steps of this call (used to test interruption); ``until`` stops once
    the run reaches that step (used to train in chunks, e.g. up to the next checkpoint). Either way the run
    is resumed, bitwise identically, by calling :func:`train` again with the same config.
    """
    if until is not None:
        check_range("until", until, lo=0, hi=cfg.steps, integer=True)
    rdir = Path(rdir) if rdir is not None else run_dir(cfg)
    rdir.mkdir(parents=True, exist_ok=True)
    cfg_path = rdir / "config.json"
    if cfg_path.exists():
        on_disk = json.loads(cfg_path.read_text())
        if on_disk != json.loads(json.dumps(cfg.to_dict())):
            raise ValueError(f"{rdir} holds a run with a different config; refusing to mix runs")
    else:
        atomic_write_json(cfg_path, cfg.to_dict())
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model = UNet(cfg.model).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
                            eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
    diff = Diffusion(model, cfg.diffusion).to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, elapsed = 0, 0.0
    last = rdir / "last.pt"
    if last.exists():
        st = load_checkpoint(last, map_location=device)
        model.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["rng"].cpu())  # the CPU generator's state, wherever the checkpoint was mapped
        step, elapsed = st["step"], st["elapsed_s"]
    log_path = rdir / "log.jsonl"
    _truncate_log(log_path, step)
    schedule = set(checkpoint_steps(cfg))
    ds = BumpDataset(cfg.lattice)
    M = len(ds)
    amp = cfg.precision == "bf16"

    def save(kind):
        st = _state(cfg, step, model, ema, opt, gen, elapsed)
        if kind == "ckpt":
            atomic_torch_save(rdir / f"ckpt_{step:07d}.pt", st)
        atomic_torch_save(last, st)

    if step == 0 and 0 in schedule and not (rdir / "ckpt_0000000.pt").exists():
        save("ckpt")
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.name}", disable=not progress, dynamic_ncols=True)
    model.train()
    done_here = 0
    t_last, n_last = time.perf_counter(), 0
    with open(log_path, "a") as log:
        while step < (cfg.steps if until is None else until):
            if stop_after is not None and done_here >= stop_after:
                break
            t0 = time.perf_counter()
            epoch, pos = divmod(step * cfg.batch_size, M)
            idx = _batch_indices(cfg, epoch, pos, M)
            x0, c = ds.batch(idx, device=device)
            for g in opt.param_groups:
                g["lr"] = _lr_at(cfg, step)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = diff(x0, c, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            decay = min(cfg.ema_decay, (1 + step) / (10 + step)) if cfg.ema_warmup else cfg.ema_decay
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - decay)
            step += 1
            done_here += 1
            elapsed += time.perf_counter() - t0
            n_last += cfg.batch_size
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                ips = n_last / max(now - t_last, 1e-9)
                t_last, n_last = now, 0
                rec = {"step": step, "epoch": step * cfg.batch_size / M, "images_seen": step * cfg.batch_size,
                       "loss": loss.item(), "lr": _lr_at(cfg, step - 1), "images_per_s": ips,
                       "elapsed_s": elapsed, "time": time.time()}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{rec['loss']:.4f}", img_s=f"{ips:.0f}")
            bar.update(1)
            if step in schedule:
                save("ckpt")
            elif step % cfg.save_every == 0:
                save("last")
    bar.close()
    if done_here and step < cfg.steps and step not in schedule and step % cfg.save_every:
        save("last")  # stopped between resume points: keep the work done
    if step >= cfg.steps:
        atomic_write_text(rdir / "DONE", f"{step}\n")
    return rdir


def _batch_indices(cfg, epoch, pos, M):
    """Indices of the batch that starts at position ``pos`` of epoch ``epoch`` (wrapping into the next)."""
    out, need = [], cfg.batch_size
    while need > 0:
        perm = torch.randperm(M, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
        take = perm[pos:pos + need]
        out.append(take)
        need -= take.numel()
        epoch, pos = epoch + 1, 0
    return torch.cat(out)


def _truncate_log(log_path: Path, step: int):
    """Drop log lines past ``step`` (left by an interrupted run) so that a resumed log stays consistent."""
    if not log_path.exists():
        return
    keep = []
    for line in log_path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("step", 0) <= step:
            keep.append(line)
    atomic_write_text(log_path, "".join(k + "\n" for k in keep))

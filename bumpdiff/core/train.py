"""Training over learning: a dense-early checkpoint schedule, resume. The run's configuration, its checkpoint steps
and its folder are :mod:`bumpdiff.core.config` (no torch), re-exported here.

A run lives in ``data/runs/<name>-<key>`` where the key is the identity of its :class:`TrainConfig`
(:mod:`bumpdiff.common.identity`: execution fields such as device, threads and logging do not enter it). It holds
``config.json``, ``log.jsonl`` (one line per logged step: loss, images/s, wall-clock seconds),
``last.pt`` (the resume point) and ``ckpt_<step>.pt`` at every scheduled step. Each checkpoint holds
the model and EMA weights, the optimiser, the step, the RNG state, the config and the provenance (commit,
device, package versions) as plain types, so
``torch.load(path, weights_only=True)`` works. Every write is atomic.

Determinism: the batch order of epoch e is a permutation drawn from a generator seeded by (seed, e),
and t and ε come from one generator whose state is checkpointed, so a resumed run gives the same weights
as an uninterrupted one (bitwise on CPU).
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..common import paths
from ..common.checks import check_range
from ..common.files import atomic_write_json, atomic_write_text, atomic_write_with
from ..common.log import get_logger
from ..common.runtime import resolve_device, seed_everything
from .config import TrainConfig, checkpoint_steps, run_dir
from .data import BumpDataset, dataset_for
from .diffusion import Diffusion
from .model import UNet, bf16_conv_mode
from .provenance import provenance

__all__ = ["TrainConfig", "train", "run_dir", "load_checkpoint",
           "list_checkpoints", "load_model", "checkpoint_steps"]

log = get_logger()


def _lr_at(cfg, step):
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.lr_schedule == "cosine" and step >= cfg.warmup_steps:
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * warm


@dataclass
class _Run:
    """The live state of a training run: what a checkpoint saves and a resume restores."""

    cfg: TrainConfig
    model: torch.nn.Module
    ema: torch.nn.Module
    opt: torch.optim.Optimizer
    diffusion: Diffusion
    gen: torch.Generator
    device: torch.device
    step: int = 0
    elapsed: float = 0.0
    # read once when the process starts training: the code that runs is the code of that moment, even if the
    # checkout changes while a long run goes on (a commit made meanwhile must not be credited with it)
    prov: dict = field(default_factory=dict)

    @classmethod
    def build(cls, cfg: TrainConfig, device: torch.device) -> _Run:
        seed_everything(cfg.seed)
        model = UNet(cfg.model).to(device)
        ema = copy.deepcopy(model).requires_grad_(False)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
                                eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
        return cls(cfg, model, ema, opt, Diffusion(model, cfg.diffusion).to(device),
                   torch.Generator().manual_seed(cfg.seed), device, prov=_process_provenance(device))

    def restore(self, path: Path) -> None:
        st = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(st["model"])
        self.ema.load_state_dict(st["ema"])
        self.opt.load_state_dict(st["optimizer"])
        self.gen.set_state(st["rng"].cpu())  # the CPU generator's state, wherever the checkpoint was mapped
        self.step, self.elapsed = st["step"], st["elapsed_s"]

    def state(self) -> dict:
        cfg = self.cfg
        return {"step": self.step, "epoch": self.step * cfg.batch_size / cfg.images_per_epoch,
                "images_seen": self.step * cfg.batch_size, "elapsed_s": self.elapsed,
                "model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.opt.state_dict(),
                "rng": self.gen.get_state(), "config": cfg.to_dict(), "provenance": self.prov}

    def train_step(self, ds: BumpDataset) -> torch.Tensor:
        """One optimiser step on the next batch of the run's fixed batch order; returns the loss."""
        cfg = self.cfg
        epoch, pos = divmod(self.step * cfg.batch_size, len(ds))
        x0, c = ds.batch(_batch_indices(cfg, epoch, pos, len(ds)), device=self.device)
        for g in self.opt.param_groups:
            g["lr"] = _lr_at(cfg, self.step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss = self.diffusion(x0, c, self.gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.ema_update()
        self.step += 1
        return loss

    def ema_update(self) -> None:
        cfg, s = self.cfg, self.step
        decay = min(cfg.ema_decay, (1 + s) / (10 + s)) if cfg.ema_warmup else cfg.ema_decay
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                pe.lerp_(pm, 1 - decay)


_PROCESS_PROVENANCE: dict = {}


def _process_provenance(device) -> dict:
    """The provenance of this process's code, read at its first training call on ``device``: a process that trains a
    run chunk by chunk (analysing each checkpoint in between) runs the code it imported at its start, so a commit
    made while it runs must not be credited with its later checkpoints (one reading per project root and device)."""
    key = (str(paths.root()), str(device))
    if key not in _PROCESS_PROVENANCE:
        _PROCESS_PROVENANCE[key] = provenance(device, reads_results=False)
    return _PROCESS_PROVENANCE[key]


def load_checkpoint(path, map_location="cpu", mmap: bool = False) -> dict:
    """Load a checkpoint with ``weights_only=True`` (it holds only tensors and plain types); ``mmap`` maps the
    tensors instead of reading them, for a look at its step or provenance."""
    return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)


def list_checkpoints(run_path) -> list[tuple[int, Path]]:
    """(step, path) of every scheduled checkpoint in a run directory, by step."""
    out = []
    for p in Path(run_path).glob("ckpt_*.pt"):
        try:
            out.append((int(p.stem.split("_")[1]), p))
        except ValueError:
            continue
    return sorted(out)


def load_model(path_or_state, which: str = "ema", device="cpu") -> tuple[Diffusion, dict]:
    """A :class:`Diffusion` with the checkpoint's ``"ema"`` (default) or ``"model"`` weights, in eval mode."""
    if which not in ("ema", "model"):
        raise ValueError(f"which must be 'ema' or 'model', got {which!r}")
    state = load_checkpoint(path_or_state) if not isinstance(path_or_state, dict) else path_or_state
    cfg = TrainConfig.from_dict(state["config"])
    model = UNet(cfg.model)
    model.load_state_dict(state[which])
    diff = Diffusion(model, cfg.diffusion).to(resolve_device(device) if isinstance(device, str) else device)
    diff.eval()
    return diff, state


def _open_run(cfg: TrainConfig, run_path: Path | None) -> Path:
    """The run folder, created with its config.json, or checked against it when it exists."""
    run_path = Path(run_path) if run_path is not None else run_dir(cfg)
    run_path.mkdir(parents=True, exist_ok=True)
    cfg_path = run_path / "config.json"
    if cfg_path.exists():
        on_disk = TrainConfig.from_dict(json.loads(cfg_path.read_text()))
        if on_disk.key() != cfg.key():
            raise ValueError(f"{run_path} holds a run with a different config (key {on_disk.key()}, asked for "
                             f"{cfg.key()}); refusing to mix runs")
    else:
        atomic_write_json(cfg_path, cfg.to_dict())
    return run_path


def _warn_slow_bf16(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.precision == "bf16" and device.type == "cpu" and bf16_conv_mode() == "emulated":
        log.info(f"note: precision bf16 on a CPU without native bf16 convolutions "
              f"({torch.backends.cpu.get_cpu_capability()}): they run as fp32 convolutions on bf16-rounded values "
              "(same arithmetic as a bf16 kernel, other kernels than an AVX-512 CPU, so not the same bits; "
              "docs/SPEC.md, 'Training')")


def _save(run: _Run, run_path: Path, checkpoint: bool) -> None:
    """The resume point ``last.pt`` and, at a scheduled step, the checkpoint ``ckpt_<step>.pt`` (same state)."""
    state = run.state()
    if checkpoint:
        atomic_write_with(run_path / f"ckpt_{run.step:07d}.pt", lambda tmp: torch.save(state, tmp))
    atomic_write_with(run_path / "last.pt", lambda tmp: torch.save(state, tmp))


def _log_record(cfg: TrainConfig, run: _Run, loss: torch.Tensor, epoch_size: int, images_per_s: float) -> dict:
    """One line of the run's ``log.jsonl``, after step ``run.step``."""
    return {"step": run.step, "epoch": run.step * cfg.batch_size / epoch_size, "images_seen": run.step * cfg.batch_size,
            "loss": loss.item(), "lr": _lr_at(cfg, run.step - 1), "images_per_s": images_per_s,
            "elapsed_s": run.elapsed, "time": time.time()}


def train(cfg: TrainConfig, run_path: Path | None = None, progress: bool = True, stop_after: int | None = None,
          until: int | None = None) -> Path:
    """Train (or resume) the run for ``cfg``; returns its run directory.

    ``stop_after`` stops after that many steps of this call (used to test interruption); ``until`` stops once
    the run reaches that step (to train in chunks, e.g. up to the next checkpoint). Either way the run is
    resumed, bitwise identically on the same machine, by calling :func:`train` again with the same config.
    """
    if until is not None:
        check_range("until", until, lo=0, hi=cfg.steps, integer=True)
    run_path = _open_run(cfg, run_path)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    _warn_slow_bf16(cfg, device)
    run = _Run.build(cfg, device)
    if (run_path / "last.pt").exists():
        run.restore(run_path / "last.pt")
    log_path = run_path / "log.jsonl"
    _truncate_log(log_path, run.step)
    schedule = set(checkpoint_steps(cfg))
    ds = dataset_for(cfg)

    if run.step == 0 and 0 in schedule and not (run_path / "ckpt_0000000.pt").exists():
        _save(run, run_path, checkpoint=True)
    end = cfg.steps if until is None else until
    bar = tqdm(total=cfg.steps, initial=run.step, desc=f"train {cfg.name}", disable=not progress, dynamic_ncols=True)
    run.model.train()
    done_here, t_last, n_last = 0, time.perf_counter(), 0
    with open(log_path, "a") as log:
        while run.step < end and (stop_after is None or done_here < stop_after):
            t0 = time.perf_counter()
            loss = run.train_step(ds)
            done_here += 1
            run.elapsed += time.perf_counter() - t0
            n_last += cfg.batch_size
            if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                now = time.perf_counter()
                rec = _log_record(cfg, run, loss, len(ds), n_last / max(now - t_last, 1e-9))
                t_last, n_last = now, 0
                log.write(json.dumps(rec) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{rec['loss']:.4f}", img_s=f"{rec['images_per_s']:.0f}")
            bar.update(1)
            if run.step in schedule or run.step % cfg.save_every == 0:
                _save(run, run_path, checkpoint=run.step in schedule)
    bar.close()
    if done_here and run.step < cfg.steps and run.step not in schedule and run.step % cfg.save_every:
        _save(run, run_path, checkpoint=False)  # stopped between resume points: keep the work done
    if run.step >= cfg.steps:
        atomic_write_text(run_path / "DONE", f"{run.step}\n")
    return run_path


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

"""Training and sampling throughput of bumpdiff's UNet against a peer UNet of the same parameter count.

The peer is ``diffusers.UNet2DModel`` (optional extra ``bench``), sized by a width search to within a few
per cent of bumpdiff's parameter count for each profile, with attention at the same resolutions. Both are
timed in one process on the same device, same batch, same precision (the profile's), with AdamW:

- training: images/s of forward + ε-MSE backward + optimiser step (batch = the profile's batch size);
- sampling: image-steps/s of a no-grad forward (one sampler step) at batch 256.

Also reported: forward GFLOP per image of each model (equal parameter counts need not mean equal work).

Usage: ``python benchmarks/throughput.py [--profiles cpu paper] [--archs film additive] [--precision profile|fp32|bf16]
[--device auto] [--repeats 5] [--json data/results/benchmarks/<name>.json]``. On a CPU without AVX-512, bf16 is
emulated (tens of times slower): measure there with ``--precision fp32`` and say so.
Conditioning: bumpdiff gets (t, μx, μy); the peer gets t only (diffusers has no real-valued 2-D condition),
so the peer does slightly less work per step.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from bumpdiff.common.runtime import resolve_device
from bumpdiff.core.model import UNet
from bumpdiff.core.provenance import provenance
from bumpdiff.experiments.profiles import get_profile


def peer_unet(cfg, target_params):
    from diffusers import UNet2DModel

    def build(scale):
        w = [max(8, int(round(scale * x / 8)) * 8) for x in cfg.model.widths]
        # bumpdiff: attention at 16, 8, 4 (attn flags of blocks 1-3); diffusers levels are 32, 16, 8, 4
        down = ["DownBlock2D"] + ["AttnDownBlock2D" if a else "DownBlock2D" for a in cfg.model.attn]
        up = ["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.model.attn)] + ["UpBlock2D"]
        return UNet2DModel(sample_size=32, in_channels=1, out_channels=1, layers_per_block=1,
                           block_out_channels=tuple(w), down_block_types=tuple(down), up_block_types=tuple(up),
                           norm_num_groups=8, attention_head_dim=max(8, w[-1] // cfg.model.heads))

    lo, hi = 0.3, 3.0
    for _ in range(25):
        mid = (lo + hi) / 2
        n = sum(p.numel() for p in build(mid).parameters())
        lo, hi = (mid, hi) if n < target_params else (lo, mid)
    m = build((lo + hi) / 2)
    return m


def forward_gflops(model, call, device):
    """Forward GFLOP per image at batch 1 (torch.utils.flop_counter: matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 1, 32, 32, device=device)
    t = torch.full((1,), 500, device=device)
    c = torch.full((1, 2), 16.0, device=device)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        call(model, x, t, c)
    return fc.get_total_flops() / 1e9


def bench(model, call, batch, device, amp, repeats, train=True):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if train else None
    x = torch.randn(batch, 1, 32, 32, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    c = torch.rand(batch, 2, device=device) * 32
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            if train:
                model.train()
                loss = F.mse_loss(call(model, x, t, c).float(), x)
            else:
                model.eval()
                with torch.no_grad():
                    call(model, x, t, c)
        if train:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    return batch / times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", nargs="*", default=["cpu", "paper"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--archs", nargs="*", default=["film"], choices=["film", "additive"])
    ap.add_argument("--precision", default="profile", choices=["profile", "fp32", "bf16"])
    ap.add_argument("--what", nargs="*", default=["train", "sample"], choices=["train", "sample"])
    a = ap.parse_args()
    if a.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {a.repeats}")
    device = resolve_device(a.device)
    rows = []
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device: {device} ({where}), torch {torch.__version__}")
    for prof, arch in [(p, arch) for p in a.profiles for arch in a.archs]:
        cfg = get_profile(prof).train
        cfg = replace(cfg, model=replace(cfg.model, arch=arch))
        if a.precision != "profile":
            cfg = replace(cfg, precision=a.precision)
        amp = cfg.precision == "bf16"
        ours = UNet(cfg.model).to(device)
        n_ours = ours.num_parameters()
        peer = peer_unet(cfg, n_ours).to(device)
        n_peer = sum(p.numel() for p in peer.parameters())
        f_ours = lambda m, x, t, c: m(x, t, c)
        f_peer = lambda m, x, t, c: m(x, t).sample
        res = {"profile": prof, "arch": arch, "params_bumpdiff": n_ours, "params_peer": n_peer,
               "precision": cfg.precision,
               "gflop_bumpdiff": forward_gflops(ours, f_ours, device),
               "gflop_peer": forward_gflops(peer, f_peer, device)}
        for what in ("train", "sample"):
            for who, model, f in (("bumpdiff", ours, f_ours), ("peer", peer, f_peer)):
                res[f"{what}_{who}"] = (bench(model, f, cfg.batch_size if what == "train" else 256, device, amp,
                                              a.repeats, train=what == "train") if what in a.what else None)
        rows.append(res)
    print("\n| profile | arch | params bumpdiff / peer | forward GFLOP/img bumpdiff / peer | precision "
          "| train img/s bumpdiff | peer | ratio | sample img-steps/s bumpdiff | peer | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    def ratio(a, b):
        return "—" if a is None else f"{a:.0f} | {b:.0f} | {a / b:.2f}×"
    for r in rows:
        print(f"| {r['profile']} | {r['arch']} | {r['params_bumpdiff']/1e6:.2f} M / {r['params_peer']/1e6:.2f} M | "
              f"{r['gflop_bumpdiff']:.3f} / {r['gflop_peer']:.3f} | {r['precision']} | "
              f"{ratio(r['train_bumpdiff'], r['train_peer'])} | {ratio(r['sample_bumpdiff'], r['sample_peer'])} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": str(device), "rows": rows, "repeats": a.repeats,
                       "provenance": provenance(device)}, f, indent=2)


if __name__ == "__main__":
    main()

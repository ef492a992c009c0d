"""A trained UNet as an ONNX graph, for runtimes without PyTorch (the site's in-browser explorer runs it with
onnxruntime-web), and the check that the graph computes what the model does.

The graph takes ``x`` (B, C, N, N) float32, ``t`` (B,) int64 and ``centers`` (B, 2) float32, with the batch size
free, and returns ``eps`` (B, C, N, N), the model's noise prediction, and ``latent`` (B, D), the flattened output of
one named layer (``down3``, the study's layer 4, by default) from the same pass. Export needs the ``onnx`` package;
the check needs ``onnxruntime`` (both in the ``site`` extra).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..common.checks import check_range
from ..common.files import atomic_write_with
from .config import resolve_layer
from .model import UNet

__all__ = ["export_onnx", "onnx_error", "OPSET"]

#: the ONNX opset of exported graphs (onnxruntime-web 1.2x runs it)
OPSET = 17


class _WithLatent(nn.Module):
    """``(eps, latent)`` of a UNet in one pass: the graph that is exported."""

    def __init__(self, model: UNet, layer: str):
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, x, t, centers):
        with self.model.capture((self.layer,)) as store:
            eps = self.model(x, t, centers)
        return eps, store[self.layer].flatten(1)


def _example(model: UNet, batch: int, seed: int):
    n, ch = model.cfg.image_size, model.cfg.in_channels
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, ch, n, n, generator=g), torch.randint(0, 1000, (batch,), generator=g),
            torch.rand(batch, 2, generator=g) * n)


def export_onnx(model: UNet, path, layer: str = "down3") -> Path:
    """Write ``model`` (fp32, eval mode) as an ONNX graph to ``path`` (atomically) and return the path (module
    docstring for the graph's inputs and outputs)."""
    layer = resolve_layer(layer)
    model = model.float().eval()
    wrapped = _WithLatent(model, layer).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notice
        return atomic_write_with(Path(path), lambda tmp: torch.onnx.export(
            wrapped, _example(model, 2, 0), str(tmp), dynamo=False, opset_version=OPSET,
            input_names=["x", "t", "centers"], output_names=["eps", "latent"],
            dynamic_axes={"x": {0: "batch"}, "t": {0: "batch"}, "centers": {0: "batch"}, "eps": {0: "batch"},
                          "latent": {0: "batch"}}))


def onnx_error(path, model: UNet, layer: str = "down3", batch: int = 8, seed: int = 0) -> dict:
    """The largest absolute difference between the ONNX graph at ``path`` (run by onnxruntime on the CPU) and
    ``model`` on one random batch: ``{"eps": float, "latent": float, "batch": int}``."""
    import onnxruntime as ort  # imported here: an optional package (the site extra), needed only for the check

    check_range("batch", batch, lo=1, integer=True)
    model = model.float().eval()
    x, t, c = _example(model, batch, seed)
    with torch.no_grad():
        eps, latent = _WithLatent(model, resolve_layer(layer))(x, t, c)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(["eps", "latent"], {"x": x.numpy(), "t": t.numpy(), "centers": c.numpy()})
    return {"eps": float(np.abs(got[0] - eps.numpy()).max()), "latent": float(np.abs(got[1] - latent.numpy()).max()),
            "batch": batch}

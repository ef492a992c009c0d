"""What a run or a result *is*, as opposed to how it was computed.

Every config is a frozen dataclass. Its **identity** is the part of it that changes results; its key is a
short hash of that identity together with :data:`SCHEMA`, the version of these rules. Two kinds of field
stay out of the identity:

- **execution** fields (:func:`execution`): where and how a computation runs — device, threads, logging
  cadence, how often a resume point is written, which checkpoints an analysis visits. They never change a
  number, so changing them must not make a result look stale.
- **added** fields (:func:`added`): a field introduced after results were committed declares its *neutral*
  value, the value that reproduces the behaviour from before it existed. While a config holds that value the
  field is left out of the identity, so adding it leaves every existing key unchanged; any other value is
  part of the key. The neutral value is fixed for good: changing the field's *default* later does not move
  it, so old and new defaults never share a key.

``tests/test_identity.py`` fails when a config gains a field that is neither in the frozen list of schema-1
fields (:data:`SCHEMA_FIELDS`) nor declared with :func:`added` or :func:`execution`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

__all__ = ["SCHEMA", "SCHEMA_FIELDS", "execution", "added", "identity", "key", "canonical_json"]

#: Version of the identity rules. Bump it only when the meaning of a stored result changes for every key.
SCHEMA = 1

#: The identity-bearing fields each config had when the schema was frozen (schema 1). A field that is
#: added later must be declared with :func:`added` (or :func:`execution`), which the tests check.
SCHEMA_FIELDS: dict[str, tuple[str, ...]] = {
    "TrainConfig": ("seed", "lattice", "model", "diffusion", "lr", "weight_decay", "adam_beta1", "adam_beta2",
                    "adam_eps", "warmup_steps", "grad_clip", "batch_size", "steps", "ema_decay", "ema_warmup",
                    "ckpt_every_early", "ckpt_early_until", "ckpt_every_late", "precision"),
    "Lattice": ("n", "sigma", "dx", "dy"),
    "ModelConfig": ("image_size", "in_channels", "widths", "attn", "mid_attn", "heads", "embed_dim", "cond_dim",
                    "groups", "max_period", "t_scale", "mu_scale", "dropout"),
    "DiffusionConfig": ("timesteps", "beta_start", "beta_end", "schedule", "clip_denoised"),
    "AnalysisConfig": ("n_samples", "sampler", "sampler_steps", "eta", "tol", "layer", "t", "mode",
                       "max_conditions", "seed", "weights", "keep_samples"),
    "EarlyStop": ("threshold", "keys"),
    "LayerSweep": ("layers", "timesteps", "mode", "seed", "max_conditions", "weights"),
    "SamplerComparison": ("samplers", "n", "seed", "tol", "weights"),
    "Atlas": ("layers", "timesteps", "sampling_layer", "sampling_steps", "sampling_conditions", "umap", "pca_dims",
              "seed", "max_conditions", "weights"),
    "Commitment": ("n_samples", "sampler_steps", "tol", "seed", "weights"),
    "Spectrum": ("layers", "t", "max_conditions", "top_k", "n_eigenvalues", "seed", "weights"),
    # the follow-up study's configs, new in schema 1 (their first fields)
    "StripeLattice": ("n", "sigma", "d", "kind", "shape", "band", "rim", "kept", "seed"),
    "StripeAnalysis": ("n_per_section", "sampler", "sampler_steps", "eta", "tol", "seed", "weights", "keep_samples"),
    "Topology": ("layers", "t", "max_conditions", "n_landmarks", "maxdim", "torus_radii", "max_features",
                 "n_lifetimes", "seed", "weights"),
}

_ROLE = "bumpdiff_role"
_NEUTRAL = "bumpdiff_neutral"


def execution(default: Any, **kw):
    """A dataclass field that says how a computation runs, never what it computes (not in the identity)."""
    return dataclasses.field(default=default, metadata={_ROLE: "execution"}, **kw)


def added(default: Any, neutral: Any = dataclasses.MISSING, **kw):
    """A field added after results were committed. ``neutral`` (default: ``default``) is the value that
    reproduces the behaviour from before the field existed; it is left out of the identity while it holds."""
    neutral = default if neutral is dataclasses.MISSING else neutral
    return dataclasses.field(default=default, metadata={_ROLE: "added", _NEUTRAL: neutral}, **kw)


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return identity(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return v.item()
    return v


def identity(cfg: Any) -> dict:
    """The identity of a config dataclass as plain JSON types (nested configs included)."""
    if not (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)):
        raise TypeError(f"identity() needs a dataclass instance, got {type(cfg).__name__}")
    out = {}
    for f in dataclasses.fields(cfg):
        role = f.metadata.get(_ROLE)
        if role == "execution":
            continue
        value = getattr(cfg, f.name)
        if role == "added" and _plain(value) == _plain(f.metadata[_NEUTRAL]):
            continue
        out[f.name] = _plain(value)
    return out


def canonical_json(obj: Any) -> str:
    """Sorted, compact JSON: the text that is hashed (and compared)."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))


def key(kind: str, *parts: Any, length: int = 10) -> str:
    """A short stable key for a result of ``kind`` made from ``parts`` (configs are reduced to their identity,
    keys of other results and plain values are taken as they are), under the current :data:`SCHEMA`."""
    blob = canonical_json({"schema": SCHEMA, "kind": kind, "parts": [_plain(p) for p in parts]})
    return hashlib.sha256(blob.encode()).hexdigest()[:length]

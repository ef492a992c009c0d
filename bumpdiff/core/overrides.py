"""``key=value`` overrides of a config dataclass (``bumpdiff train --set lattice.dx=0.1``): parsed by the type of the
value they replace, applied together, so values that must agree can change at once."""
from __future__ import annotations

from dataclasses import fields, replace

__all__ = ["apply_overrides"]


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


def apply_overrides(cfg, overrides):
    """Apply ``key=value`` overrides (dotted keys for nested configs, e.g. ``lattice.dx=0.1``). They are applied
    together, so values that must agree can change at once (``lattice.n=16 model.image_size=16``)."""
    changes: dict = {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override must look like key=value, got {item!r}")
        key, text = item.split("=", 1)
        keys, obj, where = key.strip().split("."), cfg, changes
        for i, k in enumerate(keys):
            names = {f.name for f in fields(obj)}
            if k not in names:
                raise ValueError(f"unknown config key {k!r} for {type(obj).__name__}; valid keys: {sorted(names)}")
            obj = getattr(obj, k)
            if i < len(keys) - 1:
                where = where.setdefault(k, {})
        where[keys[-1]] = _parse_value(text.strip(), obj)
    return _rebuild(cfg, changes)


def _rebuild(obj, changes: dict):
    return replace(obj, **{k: _rebuild(getattr(obj, k), v) if isinstance(v, dict) else v
                           for k, v in changes.items()}) if changes else obj

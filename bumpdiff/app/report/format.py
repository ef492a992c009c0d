"""Markdown building blocks of the report: tables, number formats, provenance cells."""
from __future__ import annotations


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _f(v, fmt=".2f"):
    return "—" if v is None else format(v, fmt)


def _ms(mean, sd):
    return "never" if mean is None else f"{mean:,.0f}" + ("" if sd is None else f" ± {sd:,.0f}")


def _prov(p: dict | None) -> str:
    if not p:
        return "—"
    return f"{p['commit']}{'+dirty' if p.get('dirty') else ''}"


def _host(training_provenance: dict, bundle: dict) -> str:
    """The machine a run was trained on and, for a bf16 run, which convolutions did its arithmetic (``native``
    oneDNN kernels or the ``emulated`` fp32 ones: the two round differently, so a retrain on the other kind of CPU
    cannot be the same bits)."""
    device, conv = training_provenance.get("device", "—"), training_provenance.get("bf16_conv")
    if conv and bundle["config"].get("precision") == "bf16":
        return f"{device}, {conv} bf16 convolutions"
    return device


def _pair(r: dict, what: str) -> list[str]:
    a, b = r.get(f"{what}_bumpdiff"), r.get(f"{what}_peer")
    return ["not measured", "—"] if a is None or b is None else [f"{a:.0f} / {b:.0f}", f"{a / b:.2f}×"]


def _at(recs, step):
    return next(r for r in recs if r["step"] == step)


def _sweep_table(rows: list[dict]) -> str:
    return _table(["layer", "t", "kNN R² x", "kNN R² y", "UMAP R² x", "UMAP R² y", "intrinsic dim.", "trustworthiness"],
                  [[f"`{r['layer']}`", r["t"], _f(r["knn_r2_x"]), _f(r["knn_r2_y"]), _f(r["r2_x"]), _f(r["r2_y"]),
                    _f(r["intrinsic_dim"], ".1f"), _f(r["trustworthiness"], ".3f")] for r in rows])


def _count(done: int, n: int, what: str) -> str:
    """A section heading's run count: "3 seeds" when all are there, "2 of 3 seeds so far" otherwise."""
    return f"{n} {what}" if done == n else f"{done} of {n} {what} so far"


def _onset(r: dict | None) -> str:
    return "never" if r is None else f"{r['step']:,} ({r['images_seen']:,} images)"


def _analysed(bundle: dict) -> str:
    steps = sorted(r["step"] for r in bundle["checkpoints"])
    return f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,}–{steps[-1]:,} ({len(steps)})"

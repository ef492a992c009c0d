"""What the shipped checkpoints read under the calibrated rule: the only reading of a profile's latents when no
checkpoints of its runs are at hand (from the committed noise calibration, with the sampler calibration's reference
accuracy where it has reached them); reads only."""
from __future__ import annotations

from ...analysis.calibration import REFERENCE_SAMPLER
from ...analysis.phases import LATENT_THRESHOLDS, latent_call
from ...store.calibrations import load_calibration
from ...store.reading import MissingResult

__all__ = ["shipped_latent_calls", "shipped_sentence", "meanwhile"]


def shipped_latent_calls(profile: str) -> list[dict] | None:
    """Per shipped checkpoint of ``profile``, read from the committed noise calibration (None when not computed):
    its set, step and the phase it was shipped as, the calibrated call of layer 4 with the geodesic order and the
    neighbourhood agreement behind it under the `independent` read-out (K = 1) and the trial-averaged `mean` one
    (K = the calibration's images per condition), and its DDPM-1000 accuracy where the sampler calibration has
    reached it (None otherwise). The only reading of a profile's latents there is when no checkpoints of its runs are
    at hand."""
    try:
        cal = load_calibration("noise", profile, quiet=True)
    except MissingResult:
        return None
    try:
        ref = {(r["set"], r["step"]): r["accuracy"] for r in load_calibration("sampler", profile, quiet=True)["rows"]
               if r["sampler"] == REFERENCE_SAMPLER}
    except MissingResult:
        ref = {}

    def read(m):
        return {"call": latent_call(m), "order": m["geodesic_order"], "agreement": m["neighbourhood_agreement"]}

    return [{"set": r["set"], "step": r["step"], "label": r["label"],
             "independent": read(r["mean_by_trials"]["1"]), "mean": read(r["mean_by_trials"][str(cal["trials"])]),
             "reference_accuracy": ref.get((r["set"], r["step"]))} for r in cal["rows"]]


def shipped_sentence(profile: str) -> str:
    """What the shipped checkpoints at or past the generation-C onset (shipped as C, and the finals) say of the claim
    under the calibrated rule, from :func:`shipped_latent_calls`; empty when the noise calibration is not computed."""
    rows = shipped_latent_calls(profile)
    if not rows:
        return ""
    late = [r for r in rows if r["label"] in ("C", "final")]
    if not late:
        return f"no `{profile}` checkpoint is shipped as C or as final"

    def cell(r):
        i, m = r["independent"], r["mean"]
        ref = "" if r["reference_accuracy"] is None else f"; DDPM-1000 accuracy {r['reference_accuracy']:.2f}"
        return (f"{r['set']} step {r['step']:,} (shipped as {r['label']}): {i['call']} / {m['call']} (geodesic order "
                f"{i['order']:.2f} / {m['order']:.2f}, agreement {i['agreement']:.2f} / {m['agreement']:.2f}{ref})")

    ordered = [r for r in late if "C" in (r["independent"]["call"], r["mean"]["call"])]
    t = LATENT_THRESHOLDS
    said = ("none of them carries an ordered latent" if not ordered else
            f"{len(ordered)} of {len(late)} carry an ordered latent under at least one read-out")
    return (f"at the shipped checkpoints, the only `{profile}` weights at hand (`python -m bumpdiff calibrate noise "
            f"--profile {profile}`), layer 4 at the checkpoints shipped as C and at the final ones under the "
            f"calibrated rule (`independent` / `mean`; C needs geodesic order ≥ {t.order_c:g} and agreement ≥ "
            f"{t.local_c:g}): "
            + "; ".join(cell(r) for r in late) + f" — {said}")


def meanwhile(profile: str) -> str:
    """The end of a sentence saying a profile's runs are not recomputed: what its shipped checkpoints read meanwhile
    (:func:`shipped_sentence`), or just the full stop when nothing is computed there either."""
    said = shipped_sentence(profile)
    return f". Meanwhile, {said}." if said else "."

"""Finding the stripes of a generated image and scoring it against its requested SOS or 1-D stripe
(:mod:`bumpdiff.core.stripes` for the conventions).

Each axis is read from a robust profile: the column profile is the median over rows of each column (a horizontal
stripe covers a few rows only, so the median ignores it; a vertical stripe lifts every row of its column), the row
profile likewise. On the image mapped back to [0, 2] (I + 1), a stripe lifts its profile to about 1 over a
background of 0; the profile is cut at ``threshold`` = 0.5 (half a stripe's height), each run above it is one
stripe, and its centre is the sub-pixel peak of a parabola through the log-profile at the run's maximum and its two
neighbours (exact for a Gaussian stripe), in frame coordinates.

Per axis the request says whether a stripe should be seen (its coordinate in the window) and the verdict is one
of: ``correct`` (one stripe, within ``tol`` of the request), ``wrong`` (one stripe, farther), ``multiple`` (more than
one), ``missing`` (none where one is requested), ``spurious`` (one or more where none is requested: the coordinate
is in the hidden margin), or ``absent`` (none, rightly). A sample is correct when both axes are correct or rightly
absent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.arrays import to_numpy
from ..common.checks import check_range
from ..core.stripes import margin_for, visible

__all__ = ["detect_stripes", "score_stripes", "StripeScore", "AXIS_LABELS", "axis_verdicts"]

AXIS_LABELS = ("correct", "absent", "wrong", "multiple", "missing", "spurious")


def _peaks(profile: np.ndarray, threshold: float, margin: int) -> list[float]:
    """Sub-pixel centres (frame coordinates) of the runs of ``profile`` above ``threshold``."""
    above = profile > threshold
    out = []
    i, n = 0, len(profile)
    while i < n:
        if not above[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and above[j + 1]:
            j += 1
        k = i + int(np.argmax(profile[i:j + 1]))
        offset = 0.0
        if 0 < k < n - 1:
            lo, mid, hi = np.log(np.clip(profile[k - 1:k + 2], 1e-6, None))
            curv = lo - 2 * mid + hi
            if curv < 0:
                offset = float(np.clip(0.5 * (lo - hi) / curv, -0.5, 0.5))
        out.append(margin + k + 0.5 + offset)
        i = j + 1
    return out


def detect_stripes(images, threshold: float = 0.5, margin: int | None = None) -> tuple[list, list]:
    """``(xs, ys)``: for each image (M, 1, n, n) in [−1, 1], the frame coordinates of its vertical stripes (from the
    column profile) and of its horizontal stripes (row profile) (module docstring)."""
    check_range("threshold", threshold, lo=0, hi=2, lo_open=True, hi_open=True)
    a = to_numpy(images).astype(np.float64)
    if a.ndim != 4 or a.shape[1] != 1 or a.shape[2] != a.shape[3]:
        raise ValueError(f"images must be (M, 1, n, n), got {a.shape}")
    m = margin_for(a.shape[-1]) if margin is None else margin
    v = a[:, 0] + 1.0
    cols = np.median(v, axis=1)   # (M, n): per column, the median over rows
    rows = np.median(v, axis=2)   # (M, n): per row, the median over columns
    return ([_peaks(c, threshold, m) for c in cols], [_peaks(r, threshold, m) for r in rows])


def axis_verdicts(found: list[list[float]], requested, wanted, tol: float) -> np.ndarray:
    """The verdict of one axis per sample (module docstring) from the stripes ``found``, the requested coordinates
    and whether a stripe is ``wanted`` (visible) on that axis."""
    out = []
    for f, r, w in zip(found, np.asarray(requested, dtype=float), np.asarray(wanted, dtype=bool)):
        if not w:
            out.append("absent" if not f else "spurious")
        elif not f:
            out.append("missing")
        elif len(f) > 1:
            out.append("multiple")
        else:
            out.append("correct" if abs(f[0] - r) <= tol else "wrong")
    return np.array(out, dtype=object)


@dataclass
class StripeScore:
    """Per-sample verdicts of a batch and its fractions."""

    x: np.ndarray            # verdict of the vertical stripe (μx), per sample
    y: np.ndarray            # verdict of the horizontal stripe (μy), per sample
    correct: np.ndarray      # both axes right, per sample
    tol: float

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.correct) else float("nan")

    def summary(self) -> dict:
        """Accuracy, per-axis accuracy and the fraction of each verdict per axis, as plain floats."""
        ok = ("correct", "absent")
        out = {"accuracy": self.accuracy, "n": int(len(self.correct)), "tol": float(self.tol),
               "acc_x": float(np.isin(self.x, ok).mean()), "acc_y": float(np.isin(self.y, ok).mean())}
        for axis, v in (("x", self.x), ("y", self.y)):
            out |= {f"{axis}_{lab}": float((v == lab).mean()) for lab in AXIS_LABELS}
        return out


def score_stripes(images, requested, tol: float = 1.0, threshold: float = 0.5) -> StripeScore:
    """Score generated images (M, 1, n, n) against their requested labels (M, 2, frame coordinates)."""
    check_range("tol", tol, lo=0, lo_open=True)
    req = np.asarray(requested, dtype=float).reshape(-1, 2)
    n = to_numpy(images).shape[-1]
    m = margin_for(n)
    xs, ys = detect_stripes(images, threshold, m)
    if len(xs) != len(req):
        raise ValueError(f"images and requested must match: {len(xs)} images, {len(req)} labels")
    vx = axis_verdicts(xs, req[:, 0], visible(req[:, 0], n, m), tol)
    vy = axis_verdicts(ys, req[:, 1], visible(req[:, 1], n, m), tol)
    ok = ("correct", "absent")
    return StripeScore(vx, vy, np.isin(vx, ok) & np.isin(vy, ok), tol)

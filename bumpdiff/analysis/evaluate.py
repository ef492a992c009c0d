"""Generation accuracy: find the bumps in generated images and score them against the requested centres.

Detection (:func:`detect`), for images in [-1, 1] mapped to intensity v = (x + 1) / 2 in [0, 1]:

1. threshold at half the bump height (``threshold=0.5`` of the unit peak) and label the connected
   components of each image (8-connectivity);
2. keep a component as a bump when its mass above threshold, Σ(v − threshold), is at least ``min_mass``
   and its area at most ``max_area`` pixels. A rendered σ = 1 bump covers 4-6 pixels above half height
   with a mass of 0.9-1.0 (0.3 when clipped to one pixel by a canvas corner), so speckles of residual
   sampling noise that barely cross the threshold, and large blobs (pure noise, smeared mass), are not
   bumps;
3. a bump is bright on a dark background: in an image whose median intensity exceeds ``max_background``
   (a field of noise, or a grey image) no component counts as a bump;
4. estimate each bump's centre with sub-pixel precision by a weighted least-squares fit of a spherical
   Gaussian to the log-intensities of the 5×5 window around its brightest pixel (Caruana's method with
   v² weights, which down-weights dim noisy pixels); pixels off the canvas simply drop out, so bumps clipped
   by the border are still fitted. Should the fit fail (no peak), the intensity-weighted centroid is used.

Scoring (:func:`score`): each sample is *none* (no bump), *multiple* (two or more), *single-wrong* (one
bump, more than ``tol`` pixels from the request on either axis) or *correct* (one bump within ``tol`` on
both axes). ``acc_x`` and ``acc_y`` count single-bump samples whose x (resp. y) is within ``tol``, over all
samples.

Periodic canvases (``periodic=True``, for a :class:`~bumpdiff.core.data.Lattice` with ``periodic``): the image is
padded by wrapping it round (``PERIODIC_PAD`` pixels on every side), so a bump cut by an edge is whole again;
the steps above run on the padded image (the background test on the image itself), and a bump is kept once, in
the copy whose brightest pixel lies on the original canvas; its centre is taken modulo N. Errors are measured
the shorter way round (:func:`bumpdiff.core.data.wrap`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..common.arrays import to_numpy
from ..common.checks import check_range
from ..core.lattice import check_centers, wrap

__all__ = ["detect", "score", "breakdown", "axis_error", "PERIODIC_PAD", "Detections", "Score",
           "LABELS"]

LABELS = ("none", "multiple", "single_wrong", "correct")
_STRUCT = np.zeros((3, 3, 3), dtype=bool)
_STRUCT[1] = True  # 8-connectivity within each image, never across images
PERIODIC_PAD = 6   # wider than a bump above half height plus the fit window, so one copy of each bump is whole


@dataclass
class Detections:
    """Bumps found in a batch: ``counts[b]`` bumps in image b; for each bump its image index, centre (x, y),
    area (pixels above threshold) and peak intensity (in [0, 1] units)."""

    counts: np.ndarray
    image: np.ndarray
    centers: np.ndarray
    area: np.ndarray
    peak: np.ndarray


def _as_numpy(images) -> np.ndarray:
    x = np.asarray(to_numpy(images), dtype=np.float32)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {x.shape}")
        x = x[:, 0]
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"images must be (B, 1, H, W), (B, H, W) or (H, W), got shape {np.shape(images)}")
    return x


def detect(images, threshold: float = 0.5, min_mass: float = 0.15, max_area: int = 25,
           max_background: float = 0.25, window: int = 2, periodic: bool = False) -> Detections:
    """Find the bumps in each image of a batch. See the module docstring for the method (and for
    ``periodic``)."""
    check_range("threshold", threshold, lo=0, hi=1, lo_open=True, hi_open=True)
    check_range("min_mass", min_mass, lo=0)
    check_range("max_area", max_area, lo=1, integer=True)
    check_range("max_background", max_background, lo=0, hi=1)
    check_range("window", window, lo=1, integer=True)
    x = _as_numpy(images)
    B, H, W = x.shape
    if not np.all(np.isfinite(x)):
        raise ValueError("images must be finite (no NaN or inf)")
    v = (x + 1.0) * 0.5
    dark_image = np.median(v.reshape(B, -1), axis=1) <= max_background
    p = 0
    if periodic:
        if window + 1 > PERIODIC_PAD or min(H, W) < PERIODIC_PAD:
            raise ValueError(f"window must be at most {PERIODIC_PAD - 1} and the images at least {PERIODIC_PAD} "
                             f"pixels for periodic detection, got window={window} and {H}×{W} images")
        p = PERIODIC_PAD
        v = np.pad(v, ((0, 0), (p, p), (p, p)), mode="wrap")
    lab, nlab = ndimage.label(v > threshold, structure=_STRUCT)
    empty = Detections(np.zeros(B, int), np.zeros(0, int), np.zeros((0, 2)), np.zeros(0, int), np.zeros(0))
    if nlab == 0:
        return empty
    flat_lab = lab.ravel()
    on = np.flatnonzero(flat_lab)
    L = flat_lab[on]
    area = np.bincount(L, minlength=nlab + 1)
    mass = np.bincount(L, weights=v.ravel()[on] - threshold, minlength=nlab + 1)
    # brightest pixel of each component: sort the labelled pixels by (label, value), take the last per label
    order = np.lexsort((v.ravel()[on], L))
    last = np.r_[np.flatnonzero(np.diff(L[order])), order.size - 1]
    peak_flat = on[order[last]]
    labels_present = L[order[last]]
    keep = (mass[labels_present] >= min_mass) & (area[labels_present] <= max_area)
    peak_flat, labels_present = peak_flat[keep], labels_present[keep]
    if peak_flat.size == 0:
        return empty
    b, r, c = np.unravel_index(peak_flat, v.shape)
    ok = dark_image[b]
    if p:  # one copy of each bump: the one whose brightest pixel is on the original canvas
        ok &= (r >= p) & (r < p + H) & (c >= p) & (c < p + W)
    if not ok.all():
        peak_flat, labels_present, b, r, c = peak_flat[ok], labels_present[ok], b[ok], r[ok], c[ok]
        if peak_flat.size == 0:
            return empty
    centers = _fit_centers(v, b, r, c, window)
    if p:
        centers = np.mod(centers - p, [W, H])
    counts = np.bincount(b, minlength=B)
    return Detections(counts, b, centers, area[labels_present], v[b, r, c].astype(float))


def _fit_centers(v, b, r, c, w):
    """Weighted log-Gaussian fit around each peak; returns (K, 2) centres (x, y) in pixel coordinates."""
    B, H, W = v.shape
    off = np.arange(-w, w + 1)
    dr, dc = np.meshgrid(off, off, indexing="ij")
    rr = r[:, None] + dr.ravel()[None]
    cc = c[:, None] + dc.ravel()[None]
    inside = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
    vals = v[b[:, None], np.clip(rr, 0, H - 1), np.clip(cc, 0, W - 1)]
    floor = 0.02
    use = inside & (vals > floor)
    # coordinates relative to the peak pixel centre, for conditioning
    X = dc.ravel()[None].astype(float) * np.ones_like(vals)
    Y = dr.ravel()[None].astype(float) * np.ones_like(vals)
    wts = np.where(use, np.clip(vals, floor, None) ** 2, 0.0)
    A = np.stack([np.ones_like(X), X, Y, X**2 + Y**2], axis=-1)          # (K, n, 4)
    logv = np.log(np.clip(vals, floor, None))
    AtW = A * wts[..., None]
    M = np.einsum("kni,knj->kij", AtW, A) + 1e-9 * np.eye(4)
    rhs = np.einsum("kni,kn->ki", AtW, logv)
    cx = cy = None
    with np.errstate(all="ignore"):
        try:
            sol = np.linalg.solve(M, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            sol = np.full((len(b), 4), np.nan)
        d = sol[:, 3]
        cx = -sol[:, 1] / (2 * d)
        cy = -sol[:, 2] / (2 * d)
        # fallback: intensity-weighted centroid of the pixels above the floor
        wsum = np.where(use, vals, 0).sum(1)
        fx = (np.where(use, vals, 0) * X).sum(1) / wsum
        fy = (np.where(use, vals, 0) * Y).sum(1) / wsum
    bad = ~(np.isfinite(cx) & np.isfinite(cy) & (d < 0) & (np.abs(cx) <= w) & (np.abs(cy) <= w))
    cx = np.where(bad, fx, cx)
    cy = np.where(bad, fy, cy)
    return np.stack([c + 0.5 + cx, r + 0.5 + cy], axis=1)


@dataclass
class Score:
    """The generation breakdown of a batch of samples; the four fractions sum to 1."""

    accuracy: float
    frac_none: float
    frac_multiple: float
    frac_single_wrong: float
    acc_x: float
    acc_y: float
    n: int
    tol: float
    labels: np.ndarray = field(repr=False)          # (B,) strings from LABELS
    n_bumps: np.ndarray = field(repr=False)         # (B,) int
    estimated: np.ndarray = field(repr=False)       # (B, 2) centre of the single bump, NaN otherwise
    requested: np.ndarray = field(repr=False)       # (B, 2)

    @property
    def frac_correct(self) -> float:
        return self.accuracy

    def summary(self) -> dict:
        """The scalar part, as plain floats (for JSON)."""
        return {k: float(getattr(self, k)) for k in
                ("accuracy", "frac_none", "frac_multiple", "frac_single_wrong", "acc_x", "acc_y", "tol")} | {
                    "n": int(self.n)}


def _labels(n_bumps: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """The label of each sample from its number of bumps and whether its single bump is within tolerance."""
    return np.where(n_bumps == 0, "none", np.where(n_bumps > 1, "multiple",
                    np.where(correct, "correct", "single_wrong")))


def score(images, requested_centers, tol: float = 1.0, periodic: bool = False, **detect_kw) -> Score:
    """Classify every sample as none / multiple / single_wrong / correct against its requested centre
    (``periodic``: on a wrapped canvas, errors the shorter way round; module docstring)."""
    check_range("tol", tol, lo=0, lo_open=True)
    x = _as_numpy(images)
    req = to_numpy(requested_centers).astype(float)
    if req.shape != (x.shape[0], 2):
        raise ValueError(f"requested_centers must have shape ({x.shape[0]}, 2) to match images, got {req.shape}")
    check_centers(req, x.shape[-1])
    det = detect(x, periodic=periodic, **detect_kw)
    B = x.shape[0]
    est = np.full((B, 2), np.nan)
    single = det.counts == 1
    idx = np.flatnonzero(single[det.image])
    est[det.image[idx]] = det.centers[idx]
    err = axis_error(est, req, x.shape[-1] if periodic else None)
    ok_x = single & (err[:, 0] <= tol)
    ok_y = single & (err[:, 1] <= tol)
    correct = ok_x & ok_y
    labels = _labels(det.counts, correct)
    mean = lambda m: float(np.mean(m)) if B else float("nan")
    return Score(accuracy=mean(correct), frac_none=mean(det.counts == 0), frac_multiple=mean(det.counts > 1),
                 frac_single_wrong=mean(single & ~correct), acc_x=mean(ok_x), acc_y=mean(ok_y), n=B, tol=float(tol),
                 labels=labels, n_bumps=det.counts, estimated=est, requested=req)


def axis_error(estimated, requested, period=None) -> np.ndarray:
    """|estimated − requested| per axis; on a canvas of side ``period`` (periodic), the shorter way round."""
    d = np.asarray(estimated, dtype=float) - np.asarray(requested, dtype=float)
    return np.abs(d if period is None else wrap(d, period))


def breakdown(n_bumps, estimated, requested, tol: float = 1.0, period: float | None = None) -> dict:
    """Labels and accuracy recomputed from stored detections (number of bumps, estimated and requested centres)
    at another tolerance, with the rule of :func:`score` (``period``: the canvas side of a periodic lattice):
    ``{"labels": (B,) array, "accuracy": float}``."""
    check_range("tol", tol, lo=0, lo_open=True)
    nb = np.asarray(n_bumps)
    err = axis_error(estimated, requested, period)
    correct = (nb == 1) & np.all(err <= tol, axis=1)
    return {"labels": _labels(nb, correct), "accuracy": float(np.mean(correct)) if len(nb) else float("nan")}

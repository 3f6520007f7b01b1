"""Constraint checks: does an augmentation keep the image medically meaningful?

For every transform of the modality's catalogue and every draw on every phantom case, measured
with :mod:`mira.metrics.quality` (no private re-implementations):

* **image quality before/after**: SNR (dB) in the largest organ, CNR between the two largest
  organs (both inside the organs eroded by 2 pixels, so partial-volume edges, where a linearly
  interpolated image and a nearest-neighbour label map legitimately disagree, are excluded),
  entropy (bits) over the modality window;
* **value range**: every output value inside the profile's ``value_range`` (CT [-1024, 3071] HU);
* **label set**: no new label values, and every organ present before (>= ``min_pixels``) is
  still present;
* **anatomical integrity**: ``dice`` = mean Dice over organs between the original label map and
  the transformed label map mapped *back* through the exact inverse of the drawn spatial transform
  (nearest neighbour both ways; 1 for intensity transforms); ``volume_error`` = largest relative
  difference between an organ's volume after and its volume before times the transform's expected
  volume ratio (``|det A|`` for an affine, the angular stretch for a sector change, 1 otherwise);
  ``positions_kept`` = fraction of organ pairs whose centroid order along each axis is unchanged
  (pairs clearly separated along that axis, > 20% of their distance);
* **pathology preservation**: ``lesion_cnr_ratio`` = CNR(lesion core vs a 3-pixel ring of tissue
  starting 1 pixel outside it) after / before.

A draw violates a criterion when it crosses the configured tolerance (:class:`Tolerances`); the
aggregated table counts violations per criterion in ``flags`` (e.g. ``dice 3/12``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..metrics.quality import cnr, entropy_bits, snr_db
from ..modalities import ModalityProfile
from .catalogue import Entry, catalogue_for, lesion_labels, organ_labels
from .modality_specific import RandomSectorAngle
from .sample import Sample
from .spatial import RandomAffine, affine_matrix, resample_chain

log = logging.getLogger(__name__)

METRICS = ("snr_before", "snr_after", "cnr_before", "cnr_after", "entropy_before", "entropy_after", "in_range",
           "labels_preserved", "dice", "volume_change", "volume_error", "positions_kept", "lesion_cnr_ratio")


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of the constraint checks (config ``augment.constraints.tolerances``)."""

    dice_min: float = 0.9
    volume_error_max: float = 0.1
    positions_kept_min: float = 1.0
    lesion_cnr_ratio_min: float = 0.5
    snr_drop_db_max: float = 10.0

    @classmethod
    def from_mapping(cls, m: dict[str, Any] | None) -> "Tolerances":
        m = dict(m or {})
        known = set(cls.__dataclass_fields__)
        bad = set(m) - known
        if bad:
            raise ParameterError(f"unknown tolerance(s) {sorted(bad)} (known: {sorted(known)})")
        return cls(**{k: float(v) for k, v in m.items()})


def _finite(x: float) -> float:
    return float(x) if x is not None and np.isfinite(x) else float("nan")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.logical_and(a, b).sum()) / s


def _centroid(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    return np.array(ndi.center_of_mass(mask)) * np.asarray(spacing)


def _core(mask: np.ndarray, iterations: int = 2) -> np.ndarray:
    """``mask`` eroded by ``iterations`` pixels (partial-volume edges excluded), or ``mask`` if that empties it."""
    core = ndi.binary_erosion(mask, iterations=iterations)
    return core if core.sum() >= 4 else mask


def _lesion_masks(label: np.ndarray, lesions: Sequence[int], gap_px: int = 1, ring_px: int = 3):
    """Lesion core and a ring of host tissue ``gap_px``..``gap_px + ring_px`` pixels outside it."""
    les = np.isin(label, lesions)
    if les.sum() < 4:
        return None
    near = ndi.binary_dilation(les, iterations=gap_px)
    ring = ndi.binary_dilation(les, iterations=gap_px + ring_px) & ~near & (label > 0) & ~les
    if ring.sum() < 4:
        return None
    return _core(les, 1), ring


def expected_volume_ratio(records: Sequence[tuple[type, dict]], ndim: int) -> float:
    """Volume ratio (in pixels) a spatial chain should produce: ``|det A|`` for affines, the sector
    stretch, the squared magnification change of an X-ray projection geometry, else 1."""
    ratio = 1.0
    for cls, params in records:
        if "magnification_ratio" in params:          # ProjectionGeometry: the object covers M^2 more pixels
            ratio *= float(params["magnification_ratio"]) ** ndim
        elif issubclass(cls, RandomAffine):
            fwd, _ = affine_matrix(params, ndim)
            ratio *= abs(float(np.linalg.det(fwd)))
        elif issubclass(cls, RandomSectorAngle):
            half = float(params["sector"]["half_angle_deg"])
            ratio *= (half + params["change_deg"] / 2.0) / half
    return ratio


def _intensity_metrics(out: dict[str, float], before: Sample, after: Sample, by_size: list[int],
                       profile: ModalityProfile) -> None:
    """SNR of the largest organ and CNR of the two largest, before and after (into ``out``)."""
    if by_size:
        k = by_size[0]
        if (after.label == k).sum() >= 4:
            out["snr_before"] = _finite(snr_db(before.image, _core(before.label == k), profile))
            out["snr_after"] = _finite(snr_db(after.image, _core(after.label == k), profile))
    if len(by_size) >= 2:
        a, b = by_size[:2]
        if (after.label == a).sum() >= 4 and (after.label == b).sum() >= 4:
            out["cnr_before"] = _finite(cnr(before.image, _core(before.label == a), _core(before.label == b)))
            out["cnr_after"] = _finite(cnr(after.image, _core(after.label == a), _core(after.label == b)))


def _volume_metrics(out: dict[str, float], before: Sample, after: Sample, back: np.ndarray, organs: list[int],
                    spatial: list[tuple[type, dict]]) -> None:
    """Round-trip Dice and the worst volume change / error against the expected ratio (into ``out``)."""
    out["dice"] = float(np.mean([_dice(before.label == o, back == o) for o in organs]))
    ratio = expected_volume_ratio(spatial, before.ndim)
    changes, errors = [], []
    for o in organs:
        v0, v1 = float((before.label == o).sum()), float((after.label == o).sum())
        changes.append(abs(v1 / v0 - 1.0))
        errors.append(abs(v1 / (v0 * ratio) - 1.0))
    out["volume_change"] = float(max(changes))
    out["volume_error"] = float(max(errors))


def _positions_kept(before: Sample, after: Sample, organs: list[int]) -> float:
    """Fraction of clear pairwise organ orderings along each axis that the transform keeps."""
    kept, total = 0, 0
    c0 = {o: _centroid(before.label == o, before.spacing) for o in organs}
    c1 = {o: (_centroid(after.label == o, after.spacing) if (after.label == o).any() else None) for o in organs}
    for i, a in enumerate(organs):
        for b in organs[i + 1:]:
            d0 = c0[a] - c0[b]
            dist = float(np.linalg.norm(d0))
            for ax in range(before.ndim):
                if abs(d0[ax]) > max(0.2 * dist, 2 * before.spacing[ax]):
                    total += 1
                    if (c1[a] is not None and c1[b] is not None
                            and np.sign(c1[a][ax] - c1[b][ax]) == np.sign(d0[ax])):
                        kept += 1
    return kept / total if total else float("nan")


def _lesion_cnr_ratio(out: dict[str, float], before: Sample, after: Sample) -> None:
    """Lesion-to-host CNR after over before (into ``out``; 0 when the lesion is lost)."""
    lesions = lesion_labels(before.legend)
    if lesions:
        m0 = _lesion_masks(before.label, lesions)
        if m0 is not None:
            c_before = cnr(before.image, *m0)
            m1 = _lesion_masks(after.label, lesions)
            if m1 is None:
                out["lesion_cnr_ratio"] = 0.0
            elif np.isfinite(c_before) and c_before > 0:
                out["lesion_cnr_ratio"] = _finite(cnr(after.image, *m1) / c_before)


def measure(before: Sample, after: Sample, records: Sequence[tuple[type, dict]], profile: ModalityProfile,
            min_pixels: int = 30) -> dict[str, float]:
    """All constraint metrics of one transformed sample (see module docstring)."""
    out: dict[str, float] = {k: float("nan") for k in METRICS}
    lo, hi = profile.value_range
    imgs = list(after.channels().values())
    out["in_range"] = float(all(float(a.min()) >= lo - 1e-3 and float(a.max()) <= hi + 1e-3 for a in imgs))
    out["entropy_before"] = entropy_bits(before.image, profile)
    out["entropy_after"] = entropy_bits(after.image, profile)
    if before.label is None or after.label is None:
        return out
    organs = organ_labels(before.legend, before.label, min_pixels)
    present_after = set(np.unique(after.label).tolist())
    out["labels_preserved"] = float(present_after <= set(np.unique(before.label).tolist())
                                    and all(o in present_after for o in organs))
    by_size = sorted(organs, key=lambda v: -int((before.label == v).sum()))
    _intensity_metrics(out, before, after, by_size, profile)
    spatial = [(c, p) for c, p in records if c.spatial]
    if spatial:
        back = resample_chain(Sample(image=np.zeros(after.shape, np.float32), label=after.label, spacing=after.spacing,
                                     modality=after.modality, legend=after.legend), spatial, inverse=True).label
    else:
        back = after.label
    if organs:
        _volume_metrics(out, before, after, back, organs, spatial)
    if len(organs) >= 2:
        out["positions_kept"] = _positions_kept(before, after, organs)
    _lesion_cnr_ratio(out, before, after)
    return out


def violations(row: dict[str, float], tol: Tolerances) -> list[str]:
    """Names of the criteria one measurement violates."""
    bad = []

    def lt(key, limit):
        v = row.get(key, float("nan"))
        return v == v and v < limit  # NaN never violates

    if row.get("in_range", 1.0) == 0.0:
        bad.append("range")
    if row.get("labels_preserved", 1.0) == 0.0:
        bad.append("labels")
    if lt("dice", tol.dice_min):
        bad.append("dice")
    v = row.get("volume_error", float("nan"))
    if v == v and v > tol.volume_error_max:
        bad.append("volume")
    if lt("positions_kept", tol.positions_kept_min - 1e-9):
        bad.append("positions")
    if lt("lesion_cnr_ratio", tol.lesion_cnr_ratio_min):
        bad.append("lesion_cnr")
    sb, sa = row.get("snr_before", float("nan")), row.get("snr_after", float("nan"))
    if sb == sb and sa == sa and sb - sa > tol.snr_drop_db_max:
        bad.append("snr")
    return bad


def check_constraints(samples: Sequence[Sample], profile: ModalityProfile, rng: np.random.Generator, *,
                      draws: int = 3, tolerances: Tolerances | None = None, entries: Sequence[Entry] | None = None,
                      min_pixels: int = 30) -> tuple[list[dict], list[dict]]:
    """Run the catalogue on ``samples``; return (per-draw rows, aggregated rows per transform)."""
    tol = tolerances or Tolerances()
    if not samples:
        raise ParameterError("constraint checks need at least one sample")
    ents = list(entries) if entries is not None else catalogue_for(profile, samples)
    from .base import TRANSFORMS

    per_draw: list[dict] = []
    for ent in ents:
        for s in samples:
            for d in range(int(draws)):
                out = ent.transform(s, rng)
                recs = [(TRANSFORMS[h["transform"]], h["params"]) for h in out.history[len(s.history):]]
                row = measure(s, out, recs, profile, min_pixels)
                row.update(transform=ent.name, family=ent.family, case_id=str(s.meta.get("case_id", "")), draw=d,
                           within_profile=ent.within_profile)
                row["violations"] = ",".join(violations(row, tol))
                per_draw.append(row)
        log.info("%s/%s: %d draws measured", profile.name, ent.name, len(samples) * draws)
    return per_draw, aggregate(per_draw, tol)


def _finite_summary(rows: Sequence[dict], key: str, fn) -> float:
    """``fn`` over the finite values of ``key`` in ``rows``; NaN when there are none."""
    vals = np.array([r[key] for r in rows], dtype=float)
    vals = vals[np.isfinite(vals)]
    return float(fn(vals)) if vals.size else float("nan")


def aggregate(per_draw: Sequence[dict], tol: Tolerances) -> list[dict]:
    """One row per transform: means (worst cases where noted) and violation counts."""
    out = []
    names = list(dict.fromkeys(r["transform"] for r in per_draw))
    for name in names:
        rows = [r for r in per_draw if r["transform"] == name]
        n = len(rows)

        def mean(key, rows=rows):
            return _finite_summary(rows, key, np.mean)

        def worst(key, fn, rows=rows):
            return _finite_summary(rows, key, fn)

        counts: dict[str, int] = {}
        for r in rows:
            for v in filter(None, r["violations"].split(",")):
                counts[v] = counts.get(v, 0) + 1
        agg = {
            "transform": name, "family": rows[0]["family"], "within_profile": rows[0]["within_profile"], "n": n,
            "snr_before": mean("snr_before"), "snr_after": mean("snr_after"),
            "cnr_before": mean("cnr_before"), "cnr_after": mean("cnr_after"),
            "entropy_before": mean("entropy_before"), "entropy_after": mean("entropy_after"),
            "in_range": bool(all(r["in_range"] == 1.0 for r in rows)),
            "labels_preserved": bool(all(r["labels_preserved"] != 0.0 for r in rows)),
            "dice_mean": mean("dice"), "dice_min": worst("dice", np.min),
            "volume_change_max": worst("volume_change", np.max), "volume_error_max": worst("volume_error", np.max),
            "positions_kept_min": worst("positions_kept", np.min),
            "lesion_cnr_ratio_mean": mean("lesion_cnr_ratio"),
            "lesion_cnr_ratio_min": worst("lesion_cnr_ratio", np.min),
            "flags": "; ".join(f"{k} {v}/{n}" for k, v in sorted(counts.items())) or "none",
        }
        agg["ok"] = not counts
        out.append(agg)
    return out


def tolerances_dict(tol: Tolerances) -> dict[str, float]:
    return asdict(tol)


def format_markdown(rows: Sequence[dict], title: str, tol: Tolerances, n_cases: int, draws: int) -> str:
    """Markdown table of the aggregated rows, with a header saying what is compared."""
    cols = [("transform", "transform"), ("snr_before", "SNR before (dB)"), ("snr_after", "SNR after (dB)"),
            ("cnr_before", "CNR before"), ("cnr_after", "CNR after"), ("entropy_before", "entropy before (bits)"),
            ("entropy_after", "entropy after (bits)"), ("dice_mean", "Dice (round trip)"),
            ("volume_error_max", "max volume error"), ("positions_kept_min", "positions kept (min)"),
            ("lesion_cnr_ratio_mean", "lesion CNR ratio"), ("in_range", "in range"), ("flags", "flags")]

    def fmt(v):
        if isinstance(v, bool):
            return "yes" if v else "**no**"
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.3g}"
        return str(v) if v != "" else "-"

    lines = [f"### {title}", "",
             f"{n_cases} cases x {draws} draws per transform; means over draws (volume error: worst draw; "
             f"positions: worst draw). Tolerances: Dice >= {tol.dice_min}, volume error <= {tol.volume_error_max}, "
             f"positions kept >= {tol.positions_kept_min}, lesion CNR ratio >= {tol.lesion_cnr_ratio_min}, "
             f"SNR drop <= {tol.snr_drop_db_max} dB. `flags` counts the draws violating each criterion; "
             "`elastic_textbook` (alpha=800, sigma=6 px, no profile limit) is shown for comparison only.", "",
             "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        name = r["transform"] + ("" if r.get("within_profile", True) else " (outside profile)")
        lines.append("| " + " | ".join([name] + [fmt(r[k]) for k, _ in cols[1:]]) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["Tolerances", "measure", "violations", "check_constraints", "aggregate", "format_markdown",
           "expected_volume_ratio", "METRICS"]

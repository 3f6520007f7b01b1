"""``task_change``: does restoration help a downstream model? Paired change in Dice, accuracy and AUC.

The task-oriented evaluation of :mod:`mira.evaluate.task_study` for any model and any images. One
model (segmentation or classification, :mod:`mira.evaluate.models`) is applied unchanged to the
**clean** image of every case, its **degraded** version and each **restored** version; the change
from one condition to another is computed **paired per case** (the same cases, the same bootstrap
resample for both conditions) with a percentile-bootstrap interval:

* segmentation: Dice per label (:func:`mira.evaluate.segmentation.dice_per_label`; NaN for a
  label in neither map, left out of means) against the case's reference label map, averaged over
  the labels present in the reference; ``delta_dice_vs_<ref>`` = mean over cases of
  ``Dice(condition) - Dice(ref)`` and ``delta_dice_pct_vs_<ref>`` the same in percent of ``Dice(ref)``,
  cases resampled with replacement (:func:`segmentation_summary`);
* classification: accuracy at ``threshold`` and ROC AUC (:func:`mira.evaluate.auc_score`) with
  their bootstrap intervals (:func:`mira.evaluate.bootstrap_ci`); ``delta_<m>_vs_<ref>`` the paired
  difference, cases resampled within each class (so AUC stays defined). When several pairs come
  from one image or patient (a ``group`` key per pair, e.g. patches of one image), the bootstrap
  resamples whole groups instead (cluster bootstrap: pairs of one group are not independent, and
  resampling them one by one would give intervals that are too narrow); a resample that lacks a
  class is left out of the AUC interval.

``ref`` is ``clean`` (what the degradation costs, what the restoration leaves of it) and, for
restored images, ``degraded`` (what the restoration buys). The pipeline's task study computes its
Dice rows with :func:`dice_rows`, the function this study calls per condition.

Pairs
-----
``pairs`` is a sequence of mappings ``{"clean": image, "degraded": image, "restored": {method:
image}, "label": label map, "case_id": str}`` (``label`` on the grid of the degraded and restored
images; ``clean_label`` / ``degraded_label`` where a grid differs; ``target`` or ``class_label``:
the class for classification), or the :class:`mira.degrade.pairs.Pair` objects of a
:class:`mira.degrade.pairs.PairedDataset` (iterate the folder: clean = its reference, labels from
the pair). Restored images may also come separately: ``restored={method: [image per pair]}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..seeding import rng_for
from .classifier import accuracy_score, auc_score, bootstrap_ci
from .models import Preprocess, predict_scores, segment
from .segmentation import dice_per_label

TASKS = ("segmentation", "classification")


def dice_rows(model: Any, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], case_ids: Sequence[str], *,
              legend: Mapping[int, str] | None = None, base: Mapping[str, Any] | None = None,
              preprocess: Preprocess | None = None, threshold: float = 0.5) -> list[dict]:
    """Tidy Dice rows ``{**base, case_id, label, label_name, dice}``: one per non-zero label of each reference.

    ``model``: see :mod:`mira.evaluate.models` (mira's loaded U-Net, a torch module, a callable).
    """
    legend, rows = dict(legend or {}), []
    for cid, pred, ref in zip(case_ids, segment(model, images, preprocess, threshold), labels):
        labs = [int(v) for v in np.unique(ref) if v != 0]
        for lab, d in dice_per_label(pred, np.asarray(ref), labs).items():
            rows.append({**dict(base or {}), "case_id": cid, "label": lab, "label_name": legend.get(lab, str(lab)),
                         "dice": d})
    return rows


def _cases(pairs: Any, restored: Mapping[str, Sequence[np.ndarray]] | None) -> list[dict]:
    """Every pair as ``{case_id, images: {(condition, method): image}, labels: {...}, target}``."""
    out = []
    for i, p in enumerate(pairs):
        if hasattr(p, "reference") and hasattr(p, "degraded"):  # a mira Pair
            p = {"case_id": p.case_id, "clean": p.reference, "degraded": p.degraded, "label": p.reference_label,
                 "degraded_label": p.label, "target": p.class_label}
        if not isinstance(p, Mapping) or "clean" not in p or "degraded" not in p:
            raise ParameterError(f"pair {i}: expected a mapping with 'clean' and 'degraded' images or a mira Pair")
        lab = p.get("label")
        images = {("clean", "clean"): p["clean"], ("degraded", "degraded"): p["degraded"]}
        labels = {("clean", "clean"): p.get("clean_label", lab), ("degraded", "degraded"): p.get("degraded_label", lab)}
        extra = {m: imgs[i] for m, imgs in (restored or {}).items()}
        for m, img in {**dict(p.get("restored") or {}), **extra}.items():
            images[("restored", str(m))] = img
            labels[("restored", str(m))] = lab
        target = next((p[k] for k in ("target", "class_label") if p.get(k) is not None), None)
        cid = str(p.get("case_id", f"case{i:03d}"))
        out.append({"case_id": cid, "images": images, "labels": labels, "target": target,
                    "group": str(p["group"]) if p.get("group") is not None else cid})
    if not out:
        raise ParameterError("task_change: no pairs")
    return out


def _conditions(cases: list[dict]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(k for c in cases for k in c["images"]))


def _interval(diffs: np.ndarray, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0 * 100
    d = diffs[np.isfinite(diffs)]
    return (float(np.percentile(d, a)), float(np.percentile(d, 100 - a))) if d.size else (np.nan, np.nan)


def _auc_rows(scores: np.ndarray, n_pos: int) -> np.ndarray:
    """AUC of every row of ``scores`` whose first ``n_pos`` columns are the positives."""
    from scipy.stats import rankdata

    n_neg = scores.shape[1] - n_pos
    return (rankdata(scores, axis=1)[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _segmentation(model, cases, legend, preprocess, threshold) -> pd.DataFrame:
    rows = []
    for cond, meth in _conditions(cases):
        have = [c for c in cases if (cond, meth) in c["images"]]
        if any(c["labels"][(cond, meth)] is None for c in have):
            raise ParameterError(f"task_change: segmentation needs a label map for every {meth} image")
        rows += dice_rows(model, [c["images"][(cond, meth)] for c in have], [c["labels"][(cond, meth)] for c in have],
                          [c["case_id"] for c in have], legend=legend, base={"condition": cond, "method": meth},
                          preprocess=preprocess, threshold=threshold)
    return pd.DataFrame(rows, columns=["condition", "method", "case_id", "label", "label_name", "dice"])


def segmentation_summary(per_case: pd.DataFrame, *, n_boot: int = 1000, level: float = 0.95,
                         seed: int = 0) -> pd.DataFrame:
    """The segmentation summary of :func:`task_change` from its per-case Dice table.

    ``per_case``: ``condition, method, case_id, dice`` rows (one per label; the method of the clean
    condition is ``clean``, of the degraded one ``degraded``). Per condition/method: ``n`` cases,
    ``dice_mean``, ``dice_sd`` (ddof 1) of the per-case mean Dice, and against ``ref`` = ``clean`` (and
    ``degraded`` for restored images) the paired changes over cases with percentile-bootstrap bounds
    (``_lo`` / ``_hi``; cases resampled with ``rng_for(seed, "task-change", method, ref)``):
    ``delta_dice_vs_<ref>`` (Dice, -1..1) and ``delta_dice_pct_vs_<ref>`` (percent of the reference
    Dice, mean over cases of ``100 (Dice - Dice_ref) / Dice_ref``; cases with ``Dice_ref = 0`` left out).
    """
    means = per_case.groupby(["condition", "method", "case_id"], sort=False)["dice"].mean().reset_index()
    wide = means.pivot_table(index="case_id", columns="method", values="dice", sort=False, dropna=False)
    rows = []
    for (cond, meth), g in means.groupby(["condition", "method"], sort=False):
        d = g["dice"].dropna()
        row = {"condition": cond, "method": meth, "n": len(d), "dice_mean": float(d.mean()) if len(d) else np.nan,
               "dice_sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0}
        for ref in ("clean", "degraded"):
            if meth == ref or ref not in wide or (ref == "degraded" and cond != "restored"):
                continue
            both = wide[[meth, ref]].dropna()
            pct = 100.0 * (both[meth] - both[ref]) / both[ref].where(both[ref] > 0)
            diffs = {"dice": (both[meth] - both[ref]).to_numpy(), "dice_pct": pct.dropna().to_numpy()}
            for name, diff in diffs.items():
                stream = ("task-change", meth, ref) if name == "dice" else ("task-change-pct", meth, ref)
                idx = rng_for(seed, *stream).integers(0, len(diff), size=(n_boot, len(diff)))
                lo, hi = _interval(diff[idx].mean(axis=1), level) if len(diff) else (np.nan, np.nan)
                row.update({f"delta_{name}_vs_{ref}": float(diff.mean()) if len(diff) else np.nan,
                            f"delta_{name}_vs_{ref}_lo": lo, f"delta_{name}_vs_{ref}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def _classification(model, cases, preprocess, threshold) -> pd.DataFrame:
    if any(c["target"] is None for c in cases):
        raise ParameterError("task_change: classification needs a 'target' (class 0/1) for every pair")
    rows = []
    for cond, meth in _conditions(cases):
        have = [c for c in cases if (cond, meth) in c["images"]]
        scores = predict_scores(model, [c["images"][(cond, meth)] for c in have], preprocess)
        for c, s in zip(have, scores):
            rows.append({"condition": cond, "method": meth, "case_id": c["case_id"], "group": c["group"],
                         "target": int(c["target"]), "score": float(s),
                         "correct": bool((s >= threshold) == int(c["target"]))})
    return pd.DataFrame(rows, columns=["condition", "method", "case_id", "group", "target", "score", "correct"])


def _group_weights(groups: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """``(n_boot, n)`` multiplicities of the items when whole groups are resampled with replacement."""
    codes, inverse = np.unique(groups, return_inverse=True)
    drawn = rng.integers(0, len(codes), (n_boot, len(codes)))
    counts = np.stack([np.bincount(row, minlength=len(codes)) for row in drawn])
    return counts[:, inverse].astype(np.float64)


def _weighted_scores(y: np.ndarray, p: np.ndarray, w: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and AUC (Mann-Whitney, ties 1/2) of ``p`` under every row of item weights ``w``."""
    pos, neg = y == 1, y == 0
    cmp = (p[pos][:, None] > p[neg][None, :]) + 0.5 * (p[pos][:, None] == p[neg][None, :])
    wp, wn = w[:, pos], w[:, neg]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.einsum("bi,ij,bj->b", wp, cmp, wn) / (wp.sum(axis=1) * wn.sum(axis=1))
        acc = (w * ((p >= threshold) == y)).sum(axis=1) / w.sum(axis=1)
    return acc, auc


def _cluster_ci(y, p, groups, rng, n_boot, level, threshold) -> dict[str, float]:
    """:func:`bootstrap_ci` with whole groups resampled."""
    acc, auc = _weighted_scores(y, p, _group_weights(groups, rng, n_boot), threshold)
    (alo, ahi), (ulo, uhi) = _interval(acc, level), _interval(auc, level)
    return {"accuracy_lo": alo, "accuracy_hi": ahi, "auc_lo": ulo, "auc_hi": uhi}


def _cluster_deltas(y, a, b, groups, rng, n_boot, level, threshold) -> dict[str, float]:
    """:func:`_paired_class_deltas` with whole groups resampled (the same resample for ``a`` and ``b``)."""
    w = _group_weights(groups, rng, n_boot)
    (acc_a, auc_a), (acc_b, auc_b) = _weighted_scores(y, a, w, threshold), _weighted_scores(y, b, w, threshold)
    (alo, ahi), (ulo, uhi) = _interval(acc_a - acc_b, level), _interval(auc_a - auc_b, level)
    return {"accuracy": float(np.mean((a >= threshold) == y) - np.mean((b >= threshold) == y)),
            "auc": auc_score(y, a) - auc_score(y, b), "accuracy_lo": alo, "accuracy_hi": ahi,
            "auc_lo": ulo, "auc_hi": uhi}


def _paired_class_deltas(y, a, b, rng, n_boot, level, threshold) -> dict[str, float]:
    """Paired differences ``a - b`` of accuracy and AUC, bootstrap stratified by class."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    acc_d = float(np.mean((a >= threshold) == y) - np.mean((b >= threshold) == y))
    out = {"accuracy": acc_d, "auc": auc_score(y, a) - auc_score(y, b)}
    if not len(pos) or not len(neg):
        return {**out, "accuracy_lo": np.nan, "accuracy_hi": np.nan, "auc_lo": np.nan, "auc_hi": np.nan}
    idx = np.concatenate([pos[rng.integers(0, len(pos), (n_boot, len(pos)))],
                          neg[rng.integers(0, len(neg), (n_boot, len(neg)))]], axis=1)
    yb = y[idx]
    acc = np.mean((a[idx] >= threshold) == yb, axis=1) - np.mean((b[idx] >= threshold) == yb, axis=1)
    auc = _auc_rows(a[idx], len(pos)) - _auc_rows(b[idx], len(pos))
    (alo, ahi), (ulo, uhi) = _interval(acc, level), _interval(auc, level)
    return {**out, "accuracy_lo": alo, "accuracy_hi": ahi, "auc_lo": ulo, "auc_hi": uhi}


def _class_summary(per_case: pd.DataFrame, n_boot: int, level: float, seed: int, threshold: float) -> pd.DataFrame:
    score = per_case.pivot_table(index="case_id", columns="method", values="score", sort=False)
    target = per_case.groupby("case_id", sort=False)["target"].first()
    group = per_case.groupby("case_id", sort=False)["group"].first()
    clustered = group.nunique() < len(group)  # several pairs per group: resample whole groups
    rows = []
    for (cond, meth), g in per_case.groupby(["condition", "method"], sort=False):
        y, p = g["target"].to_numpy(int), g["score"].to_numpy(float)
        rng = rng_for(seed, "task-change-ci", meth)
        ci = (_cluster_ci(y, p, g["group"].to_numpy(), rng, n_boot, level, threshold) if clustered
              else bootstrap_ci(y, p, rng, n_boot, level))
        row = {"condition": cond, "method": meth, "n": len(g), "accuracy": accuracy_score(y, p, threshold),
               "accuracy_lo": ci["accuracy_lo"], "accuracy_hi": ci["accuracy_hi"], "auc": auc_score(y, p),
               "auc_lo": ci["auc_lo"], "auc_hi": ci["auc_hi"]}
        for ref in ("clean", "degraded"):
            if meth == ref or ref not in score or (ref == "degraded" and cond != "restored"):
                continue
            both = score[[meth, ref]].dropna()
            args = (target[both.index].to_numpy(int), both[meth].to_numpy(), both[ref].to_numpy())
            brng = rng_for(seed, "task-change", meth, ref)
            d = (_cluster_deltas(*args, group[both.index].to_numpy(), brng, n_boot, level, threshold) if clustered
                 else _paired_class_deltas(*args, brng, n_boot, level, threshold))
            for k, v in d.items():  # accuracy, accuracy_lo, ... -> delta_accuracy_vs_<ref>, delta_accuracy_vs_<ref>_lo
                m, _, bound = k.partition("_")
                row[f"delta_{m}_vs_{ref}" + (f"_{bound}" if bound else "")] = v
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class TaskChange:
    """Result of :func:`task_change`.

    Attributes
    ----------
    per_case : DataFrame
        Segmentation: ``condition, method, case_id, label, label_name, dice`` (one row per label);
        classification: ``condition, method, case_id, group, target, score, correct``.
    summary : DataFrame
        One row per condition/method: ``n``; ``dice_mean``, ``dice_sd`` or ``accuracy``, ``auc`` with
        ``_lo`` / ``_hi`` bounds; the paired changes ``delta_<m>_vs_clean`` (and ``_vs_degraded`` for
        restored images; segmentation also ``delta_dice_pct_vs_<ref>``) with their ``_lo`` / ``_hi``
        bootstrap bounds.
    task : str
        ``segmentation`` or ``classification``.
    """

    per_case: pd.DataFrame
    summary: pd.DataFrame
    task: str


def task_change(model: Any, pairs: Any, *, task: str = "segmentation",
                restored: Mapping[str, Sequence[np.ndarray]] | None = None, preprocess: Preprocess | None = None,
                legend: Mapping[int, str] | None = None, threshold: float = 0.5, n_boot: int = 1000,
                level: float = 0.95, seed: int = 0) -> TaskChange:
    """Apply ``model`` to clean, degraded and restored images; the paired change of its task metric.

    Parameters
    ----------
    model : torch.nn.Module, object or callable
        Segmentation: image ``(H, W)`` -> label map, class-probability map ``(C, H, W)`` or
        foreground probability; a torch module is called on ``(1, 1, H, W)`` on its device; mira's
        loaded U-Net (:func:`mira.evaluate.segmentation.load_unet`) segments in its own window.
        Classification: a batch ``(n, H, W)`` -> ``p(class 1)`` per image (or class probabilities /
        logits, or ``predict_proba``). See :mod:`mira.evaluate.models`.
    pairs : sequence
        The cases (module docstring): mappings or the pairs of a :class:`mira.degrade.pairs.PairedDataset`.
    task : {"segmentation", "classification"}
    restored : mapping of str to sequence of ndarray, optional
        Restored images per method, one per pair (added to the pairs' own ``restored``).
    preprocess : callable, optional
        ``image -> model input`` (e.g. a window to 0..1), applied to every image.
    legend : mapping of int to str, optional
        Label names of the per-case table.
    threshold : float
        Decision threshold on ``p(class 1)`` (classification) or on a one-channel foreground map.
    n_boot : int
        Bootstrap resamples, >= 1.
    level : float
        Confidence level of the intervals, in (0, 1).
    seed : int
        Seeds the bootstrap (``rng_for(seed, "task-change", method, ref)``): the same arguments give
        the same tables.

    Returns
    -------
    TaskChange
    """
    if task not in TASKS:
        raise ParameterError(f"task must be one of {TASKS}, got {task!r}")
    if int(n_boot) < 1 or not 0 < level < 1:
        raise ParameterError(f"need n_boot >= 1 and 0 < level < 1 (got {n_boot}, {level})")
    cases = _cases(pairs, restored)
    if task == "segmentation":
        per_case = _segmentation(model, cases, legend, preprocess, threshold)
        return TaskChange(per_case, segmentation_summary(per_case, n_boot=int(n_boot), level=level, seed=seed),
                          task)
    per_case = _classification(model, cases, preprocess, threshold)
    return TaskChange(per_case, _class_summary(per_case, int(n_boot), level, seed, threshold), task)


__all__ = ["TASKS", "dice_rows", "segmentation_summary", "TaskChange", "task_change"]

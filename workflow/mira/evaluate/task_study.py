"""Task-oriented evaluation (``TaskOrientedEvaluation`` of the textbook chapter on medical image augmentation
and restoration): does restoration help segmentation?

A U-Net trained on clean training phantoms (:mod:`mira.evaluate.segmentation`) segments

* the **clean** test images (the test split of the dataset: the ceiling),
* the **degraded** test images: the restoration stage's ``input`` folder (the unrestored noisy image)
  for noise degradations, and its ``bicubic`` folder (the low-resolution image interpolated to the
  reference grid) for super-resolution,
* every **restored** folder (contract :mod:`mira.study.restore_stage`: its ``restore.json`` names the
  degradation, level and method; each holds the reference label map on its grid).

Dice per label and case against the reference label map goes into a tidy table
(:data:`DICE_COLUMNS`). :func:`task_summary` averages it: the mean Dice over the labels present
in each case, then mean and sd over cases, per (modality, degradation, level, method); the
**change from degraded to restored** in percent of the degraded Dice,
``100 (Dice_restored - Dice_degraded) / Dice_degraded``, paired per case; and beside it the
method's PSNR gain over the degraded input, so a table row shows whether a restoration that wins
PSNR also helps the task. :func:`dice_change_table` condenses it per (modality, method).
"""
from __future__ import annotations

import logging
import os
from typing import Iterable, Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_text
from ..dataset import Dataset
from ..errors import InputError
from ..modalities import ModalityProfile
from .segmentation import dice_per_label, load_unet

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)

DICE_COLUMNS = ["source", "modality", "degradation", "level", "method", "condition", "case_id", "label", "label_name",
                "dice"]
BASELINES = {"input": "degraded", "bicubic": "degraded"}
SR_DEGRADATION = "downsample"


def restored_parts(folder: PathLike) -> dict[str, str]:
    """``source, modality, split, degradation, level, method`` of a restored folder (its ``restore.json``)."""
    from ..study.restore_stage import FOLDER_KEYS, read_info

    info = read_info(folder)
    missing = [k for k in FOLDER_KEYS if k not in info]
    if missing:
        raise InputError(f"{folder}: restore.json lacks {missing}")
    return {k: str(info[k]) for k in FOLDER_KEYS}


def _dice_rows(seg, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], case_ids: Sequence[str],
               legend: dict[int, str], base: dict) -> list[dict]:
    rows = []
    preds = seg.segment(images)
    for cid, pred, ref in zip(case_ids, preds, labels):
        labs = [int(v) for v in np.unique(ref) if v != 0]
        for lab, d in dice_per_label(pred, ref, labs).items():
            rows.append({**base, "case_id": cid, "label": lab, "label_name": legend.get(lab, str(lab)), "dice": d})
    return rows


def run_task_study(model: PathLike, clean_dir: PathLike, restored_dirs: Iterable[PathLike], out_csv: PathLike,
                   profile: ModalityProfile, *, source: str) -> pd.DataFrame:
    """Segment clean, degraded and restored test images; write and return the tidy Dice table.

    ``profile`` is the resolved profile of the study's modality (the U-Net's input window); every
    restored folder must be of that modality (read from its ``restore.json``).
    """
    modality = profile.name
    seg = load_unet(model, profile=profile)
    legend = seg.legend
    ds = Dataset(clean_dir)
    cases = [c for c in ds if c.label is not None]
    if not cases:
        raise InputError(f"{clean_dir}: no labelled test cases for the task study")
    rows = _dice_rows(seg, [c.image for c in cases], [c.label for c in cases], [c.record.case_id for c in cases],
                      legend, {"source": source, "modality": modality, "degradation": "none", "level": "clean",
                               "method": "clean", "condition": "clean"})
    for folder in restored_dirs:
        info = restored_parts(folder)
        if info["modality"] != modality:
            raise InputError(f"{folder}: a {info['modality']} folder in the {modality} task study")
        rds = Dataset(folder)
        rc = [c for c in rds if c.label is not None]
        if not rc:
            log.warning("%s: no label maps, skipped", folder)
            continue
        cond = BASELINES.get(info["method"], "restored")
        rows += _dice_rows(seg, [c.image for c in rc], [c.label for c in rc], [c.record.case_id for c in rc], legend,
                           {"source": source, "modality": modality, "degradation": info["degradation"],
                            "level": info["level"], "method": info["method"], "condition": cond})
        log.info("%s: %d cases", folder, len(rc))
    df = pd.DataFrame(rows, columns=DICE_COLUMNS)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return df


def _case_means(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["source", "modality", "degradation", "level", "method", "condition", "case_id"]
    return df.groupby(keys, sort=False)["dice"].mean().reset_index()


def task_summary(dice: pd.DataFrame, restore_metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (source, modality, degradation, level, method): mean Dice (labels then cases), sd, n, the
    paired change vs the degraded baseline in percent, and the PSNR gain over the baseline."""
    cm = _case_means(dice)
    rows = []
    clean = cm[cm["condition"] == "clean"].groupby(["source", "modality"])["dice"].mean()
    restored = cm[cm["condition"] != "clean"]
    for (src, mod, deg, lvl), g in restored.groupby(["source", "modality", "degradation", "level"], sort=False):
        base = g[g["condition"] == "degraded"]
        base_s = base.groupby("case_id")["dice"].mean()
        base_method = base["method"].iloc[0] if len(base) else ""
        for meth, m in g.groupby("method", sort=False):
            d = m.set_index("case_id")["dice"]
            common = d.index.intersection(base_s.index)
            change = 100.0 * (d[common] - base_s[common]) / base_s[common].where(base_s[common] > 0)
            rows.append({"source": src, "modality": mod, "degradation": deg, "level": lvl, "method": meth,
                         "condition": m["condition"].iloc[0], "n": int(d.notna().sum()), "dice_mean": float(d.mean()),
                         "dice_sd": float(d.std(ddof=1)) if d.notna().sum() > 1 else 0.0,
                         "dice_clean": float(clean.get((src, mod), np.nan)), "baseline": base_method,
                         "dice_baseline": float(base_s.mean()) if len(base_s) else float("nan"),
                         "dice_change_pct": float(np.nanmean(change)) if change.notna().any() else float("nan"),
                         "dice_change_pct_sd": float(np.nanstd(change, ddof=1)) if change.notna().sum() > 1 else 0.0})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    if restore_metrics is not None and not restore_metrics.empty:
        ps = restore_metrics[restore_metrics["metric"] == "psnr"]
        ps = ps[np.isfinite(ps["value"])]
        mean_psnr = ps.groupby(["source", "modality", "degradation", "level", "method"])["value"].mean()
        out["psnr_mean"] = [float(mean_psnr.get((r.source, r.modality, r.degradation, r.level, r.method), np.nan))
                            for r in out.itertuples()]
        out["psnr_gain"] = [r.psnr_mean - float(mean_psnr.get((r.source, r.modality, r.degradation, r.level,
                                                                r.baseline), np.nan))
                            for r in out.itertuples()]
        # does the PSNR winner of the row group also win Dice?
        out["psnr_winner"] = False
        out["dice_winner"] = False
        for _, g in out.groupby(["source", "modality", "degradation", "level"], sort=False):
            for col, flag in (("psnr_mean", "psnr_winner"), ("dice_mean", "dice_winner")):
                v = g[col]
                if v.notna().any():  # ties: every method at the best value
                    out.loc[g.index[np.isclose(v, v.max(), rtol=0, atol=1e-12)], flag] = True
    return out


def per_label_table(dice: pd.DataFrame) -> pd.DataFrame:
    """Mean Dice per label (columns) for every (source, modality, degradation, level, method)."""
    keys = ["source", "modality", "degradation", "level", "method"]
    t = dice.groupby(keys + ["label_name"], sort=False)["dice"].mean().reset_index()
    return t.pivot_table(index=keys, columns="label_name", values="dice", sort=False).reset_index()


def dice_change_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (source, modality, method) over every restored folder: mean Dice change (%) and PSNR gain (dB)."""
    s = summary[summary["condition"] == "restored"]
    if s.empty:
        return pd.DataFrame(columns=["source", "modality", "method", "folders", "dice_change_pct", "psnr_gain",
                                     "helps_dice", "psnr_winner_in", "dice_winner_in"])
    agg = {"folders": ("dice_change_pct", "size"), "dice_change_pct": ("dice_change_pct", "mean"),
           "dice_change_pct_min": ("dice_change_pct", "min"), "dice_change_pct_max": ("dice_change_pct", "max")}
    if "psnr_gain" in s:
        agg.update(psnr_gain=("psnr_gain", "mean"), psnr_winner_in=("psnr_winner", "sum"),
                   dice_winner_in=("dice_winner", "sum"))
    out = s.groupby(["source", "modality", "method"], sort=False).agg(**agg).reset_index()
    out["helps_dice"] = out["dice_change_pct"] > 0
    return out


def _change(mean: float, sd: float) -> str:
    return f"{mean:+.1f} ± {sd:.1f}" if np.isfinite(mean) else "n/a (degraded Dice 0)"


def task_markdown(summary: pd.DataFrame, change: pd.DataFrame, labels: pd.DataFrame) -> str:
    """The task study's tables with a short reading guide."""
    lines = ["# Task-oriented evaluation: segmentation Dice on clean, degraded and restored images", "",
             "A U-Net trained on clean training phantoms segments the test images; Dice per label against the "
             "reference label map, averaged over the labels present in each case, then mean ± sd over cases. "
             "Change = paired per-case change of the restored Dice relative to the degraded one (`input` for noise, "
             "`bicubic` for super-resolution), in percent. PSNR gain = the method's mean PSNR minus the baseline's. "
             "P = best PSNR of the row group, D = best Dice.", ""]
    if summary.empty:
        return "\n".join(lines + ["(no results)"]) + "\n"
    lines += ["| source | modality | degradation | level | method | n | Dice | clean Dice | change (%) | "
              "PSNR gain (dB) | wins |",
              "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in summary.itertuples():
        wins = ("P" if getattr(r, "psnr_winner", False) else "") + ("D" if getattr(r, "dice_winner", False) else "")
        pg = getattr(r, "psnr_gain", np.nan)
        lines.append(f"| {r.source} | {r.modality} | {r.degradation} | {r.level} | {r.method} | {r.n} | "
                     f"{r.dice_mean:.3f} ± {r.dice_sd:.3f} | {r.dice_clean:.3f} | "
                     f"{'-' if r.condition == 'degraded' else _change(r.dice_change_pct, r.dice_change_pct_sd)} | "
                     f"{'-' if r.condition == 'degraded' or not np.isfinite(pg) else f'{pg:+.2f}'} | {wins} |")
    lines += ["", "## Dice change per method (mean over degradations and levels)", ""]
    lines.append(change.to_markdown(index=False, floatfmt=".2f") if not change.empty else "(no restored folders)")
    lines += ["", "## Dice per label", ""]
    lines.append(labels.to_markdown(index=False, floatfmt=".3f") if not labels.empty else "(none)")
    return "\n".join(lines) + "\n"


def write_task_tables(dice_csvs: Sequence[PathLike], restore_metrics_csv: PathLike | None, out_csv: PathLike,
                      out_change_csv: PathLike, out_labels_csv: PathLike, out_md: PathLike) -> dict[str, int]:
    """Combine the per-modality Dice tables into the summary, per-method change and per-label tables."""
    from ..study.report.restoration_tables import read_tidy

    frames = [pd.read_csv(p, dtype={"case_id": str, "level": str}) for p in dice_csvs]
    dice = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DICE_COLUMNS)
    rm = read_tidy(restore_metrics_csv) if restore_metrics_csv else None
    summ = task_summary(dice, rm)
    change = dice_change_table(summ) if not summ.empty else dice_change_table(pd.DataFrame(columns=["condition"]))
    labels = per_label_table(dice) if not dice.empty else pd.DataFrame()
    for frame, path in ((summ, out_csv), (change, out_change_csv), (labels, out_labels_csv)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out_md, task_markdown(summ, change, labels))
    return {"rows": len(summ), "methods": len(change)}


__all__ = ["DICE_COLUMNS", "restored_parts", "run_task_study", "task_summary", "per_label_table", "dice_change_table",
           "task_markdown", "write_task_tables"]

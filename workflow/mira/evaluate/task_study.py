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

The Dice rows are those of the library's :func:`mira.evaluate.task_change` (:func:`dice_rows`), which
also gives the paired changes with bootstrap intervals, and a classification branch, for any model.
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
from .segmentation import load_unet
from .task_change import dice_rows, segmentation_summary

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
    """The Dice rows of one folder: :func:`mira.evaluate.task_change.dice_rows` (the library's task study)."""
    return dice_rows(seg, images, labels, case_ids, legend=legend, base=base)


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


#: Interval columns of the task summary: the paired change vs the degraded baseline (percent and Dice)
#: and vs the clean image (Dice), each with its bootstrap bounds (``_lo`` / ``_hi``).
CHANGE_COLUMNS = ["dice_change_pct", "dice_change_pct_lo", "dice_change_pct_hi", "delta_dice_vs_degraded",
                  "delta_dice_vs_degraded_lo", "delta_dice_vs_degraded_hi", "delta_dice_vs_clean",
                  "delta_dice_vs_clean_lo", "delta_dice_vs_clean_hi"]


def _group_summary(clean: pd.DataFrame, g: pd.DataFrame, n_boot: int, level: float, seed: int) -> pd.DataFrame:
    """:func:`mira.evaluate.task_change.segmentation_summary` of one (degradation, level): its folders' Dice
    rows beside the clean ones, the baseline folder as the ``degraded`` condition."""
    base = g[g["condition"] == "degraded"]
    base_method = str(base["method"].iloc[0]) if len(base) else ""
    per_case = pd.concat([clean, g], ignore_index=True)[["condition", "method", "case_id", "dice"]]
    per_case.loc[per_case["condition"] == "degraded", "method"] = "degraded"
    out = segmentation_summary(per_case, n_boot=n_boot, level=level, seed=seed)
    out = out[out["condition"] != "clean"].copy()
    out.loc[out["condition"] == "degraded", "method"] = base_method
    # the baseline against itself: no change
    for ref in ("delta_dice_vs_degraded", "delta_dice_pct_vs_degraded"):
        out.loc[out["condition"] == "degraded", [ref, f"{ref}_lo", f"{ref}_hi"]] = 0.0
    out = out.rename(columns={"delta_dice_pct_vs_degraded": "dice_change_pct",
                              "delta_dice_pct_vs_degraded_lo": "dice_change_pct_lo",
                              "delta_dice_pct_vs_degraded_hi": "dice_change_pct_hi"})
    out["baseline"] = base_method
    out["dice_baseline"] = float(out.loc[out["condition"] == "degraded", "dice_mean"].iloc[0]) if len(base) else np.nan
    return out.reindex(columns=["method", "condition", "n", "dice_mean", "dice_sd", "baseline", "dice_baseline",
                                *CHANGE_COLUMNS])


def task_summary(dice: pd.DataFrame, restore_metrics: pd.DataFrame | None = None, *, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per (source, modality, degradation, level, method): Dice and its paired changes with bootstrap intervals.

    The summary of the library's :func:`mira.evaluate.task_change` (its
    :func:`~mira.evaluate.task_change.segmentation_summary`, on each (degradation, level)'s Dice rows
    beside the clean ones; the ``input`` / ``bicubic`` folder is the degraded image): mean Dice over the
    labels present, then ``dice_mean`` / ``dice_sd`` over cases, ``n`` cases; ``dice_change_pct`` the
    paired change vs the degraded baseline in percent of its Dice, ``delta_dice_vs_degraded`` and
    ``delta_dice_vs_clean`` in Dice (-1..1), each with ``_lo`` / ``_hi`` percentile-bootstrap bounds at
    confidence ``level`` (``n_boot`` resamples of cases seeded by ``seed``). With ``restore_metrics``
    (tidy restoration metrics): the method's mean PSNR, its gain over the baseline (dB), and which
    method of the group wins PSNR and which Dice.
    """
    cm = dice.groupby(["source", "modality", "degradation", "level", "method", "condition", "case_id"],
                      sort=False)["dice"].mean().reset_index()
    frames = []
    for (src, mod), sm in cm.groupby(["source", "modality"], sort=False):
        clean = dice[(dice["source"] == src) & (dice["modality"] == mod) & (dice["condition"] == "clean")]
        rest = dice[(dice["source"] == src) & (dice["modality"] == mod) & (dice["condition"] != "clean")]
        clean_mean = float(sm[sm["condition"] == "clean"]["dice"].mean())
        for (deg, lvl), g in rest.groupby(["degradation", "level"], sort=False):
            out = _group_summary(clean, g, int(n_boot), level, seed)
            out.insert(0, "source", src)
            out.insert(1, "modality", mod)
            out.insert(2, "degradation", deg)
            out.insert(3, "level", lvl)
            out.insert(9, "dice_clean", clean_mean)
            frames.append(out)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
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
    """Per (source, modality, method) over every restored folder: mean Dice change (%) and PSNR gain (dB);
    ``gain_in`` / ``loss_in``: folders whose change interval lies above / below 0."""
    s = summary[summary["condition"] == "restored"]
    if s.empty:
        return pd.DataFrame(columns=["source", "modality", "method", "folders", "dice_change_pct",
                                     "dice_change_pct_min", "dice_change_pct_max", "gain_in", "loss_in", "psnr_gain",
                                     "helps_dice", "psnr_winner_in", "dice_winner_in"])
    s = s.assign(gain_in=s["dice_change_pct_lo"] > 0, loss_in=s["dice_change_pct_hi"] < 0)
    agg = {"folders": ("dice_change_pct", "size"), "dice_change_pct": ("dice_change_pct", "mean"),
           "dice_change_pct_min": ("dice_change_pct", "min"), "dice_change_pct_max": ("dice_change_pct", "max"),
           "gain_in": ("gain_in", "sum"), "loss_in": ("loss_in", "sum")}
    if "psnr_gain" in s:
        agg.update(psnr_gain=("psnr_gain", "mean"), psnr_winner_in=("psnr_winner", "sum"),
                   dice_winner_in=("dice_winner", "sum"))
    out = s.groupby(["source", "modality", "method"], sort=False).agg(**agg).reset_index()
    out["helps_dice"] = out["dice_change_pct"] > 0
    return out


def _interval(mean: float, lo: float, hi: float, fmt: str = "+.1f") -> str:
    """``mean [lo, hi]``, or n/a."""
    if not np.isfinite(mean):
        return "n/a"
    bounds = f" [{lo:{fmt}}, {hi:{fmt}}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{mean:{fmt}}{bounds}"


def task_markdown(summary: pd.DataFrame, change: pd.DataFrame, labels: pd.DataFrame, level: float = 0.95) -> str:
    """The task study's tables with a short reading guide (``level``: confidence of the intervals)."""
    lines = ["# Task-oriented evaluation: segmentation Dice on clean, degraded and restored images", "",
             "A U-Net trained on clean training phantoms segments the test images; Dice per label against the "
             "reference label map, averaged over the labels present in each case, then mean ± sd over cases. "
             "Change = paired per-case change of the restored Dice relative to the degraded one (`input` for noise, "
             f"`bicubic` for super-resolution), in percent; Δ Dice vs clean = paired change from the clean image. "
             f"[lo, hi]: {100 * level:g} % percentile-bootstrap interval over cases "
             "(`mira.evaluate.task_change`). PSNR gain = the method's mean PSNR minus the baseline's. "
             "P = best PSNR of the row group, D = best Dice.", ""]
    if summary.empty:
        return "\n".join(lines + ["(no results)"]) + "\n"
    lines += ["| source | modality | degradation | level | method | n | Dice | clean Dice | change (%) [lo, hi] | "
              "Δ Dice vs clean [lo, hi] | PSNR gain (dB) | wins |",
              "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in summary.itertuples():
        wins = ("P" if getattr(r, "psnr_winner", False) else "") + ("D" if getattr(r, "dice_winner", False) else "")
        pg = getattr(r, "psnr_gain", np.nan)
        base = r.condition == "degraded"
        change_txt = "-" if base else _interval(r.dice_change_pct, r.dice_change_pct_lo, r.dice_change_pct_hi)
        vs_clean = _interval(r.delta_dice_vs_clean, r.delta_dice_vs_clean_lo, r.delta_dice_vs_clean_hi, "+.3f")
        lines.append(f"| {r.source} | {r.modality} | {r.degradation} | {r.level} | {r.method} | {r.n} | "
                     f"{r.dice_mean:.3f} ± {r.dice_sd:.3f} | {r.dice_clean:.3f} | {change_txt} | "
                     f"{vs_clean} | "
                     f"{'-' if base or not np.isfinite(pg) else f'{pg:+.2f}'} | {wins} |")
    lines += ["", "## Dice change per method (mean over degradations and levels; gain_in / loss_in: folders whose "
              "interval lies above / below 0)", ""]
    lines.append(change.to_markdown(index=False, floatfmt=".2f") if not change.empty else "(no restored folders)")
    lines += ["", "## Dice per label", ""]
    lines.append(labels.to_markdown(index=False, floatfmt=".3f") if not labels.empty else "(none)")
    return "\n".join(lines) + "\n"


def write_task_tables(dice_csvs: Sequence[PathLike], restore_metrics_csv: PathLike | None, out_csv: PathLike,
                      out_change_csv: PathLike, out_labels_csv: PathLike, out_md: PathLike, *, n_boot: int = 1000,
                      level: float = 0.95, seed: int = 0) -> dict[str, int]:
    """Combine the per-modality Dice tables into the summary (:func:`task_summary`, bootstrap ``n_boot``,
    ``level``, ``seed``), per-method change and per-label tables."""
    from ..study.report.restoration_tables import read_tidy

    frames = [pd.read_csv(p, dtype={"case_id": str, "level": str}) for p in dice_csvs]
    dice = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DICE_COLUMNS)
    rm = read_tidy(restore_metrics_csv) if restore_metrics_csv else None
    summ = task_summary(dice, rm, n_boot=n_boot, level=level, seed=seed)
    change = dice_change_table(summ) if not summ.empty else dice_change_table(pd.DataFrame(columns=["condition"]))
    labels = per_label_table(dice) if not dice.empty else pd.DataFrame()
    for frame, path in ((summ, out_csv), (change, out_change_csv), (labels, out_labels_csv)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out_md, task_markdown(summ, change, labels, level))
    return {"rows": len(summ), "methods": len(change)}


# ---- classification branch ------------------------------------------------------------------------

#: Columns of the classification table: per condition/method accuracy and AUC with bootstrap bounds, and
#: the paired changes vs the degraded baseline and vs the clean image (:func:`mira.evaluate.task_change`).
CLASSIFICATION_COLUMNS = ["source", "modality", "degradation", "level", "method", "condition", "n", "n_images",
                          *(f"{m}{b}" for m in ("accuracy", "auc") for b in ("", "_lo", "_hi")),
                          *(f"delta_{m}_vs_{ref}{b}" for ref in ("degraded", "clean") for m in ("accuracy", "auc")
                            for b in ("", "_lo", "_hi"))]


def _labelled_cases(folder: PathLike) -> dict:
    """``case_id -> Case`` of the labelled cases of a dataset folder."""
    return {c.record.case_id: c for c in Dataset(folder) if c.label is not None}


def _images(folder: PathLike) -> dict[str, np.ndarray]:
    """``case_id -> image`` (native units) of a dataset folder; label maps are not read."""
    from ..io import read_image

    ds = Dataset(folder)
    return {r.case_id: read_image(ds.folder / r.image, ndim=r.ndim)[0] for r in ds.records}


def _folder_groups(restored_dirs: Iterable[PathLike], modality: str) -> dict[tuple[str, str], dict]:
    """Per (degradation, level): its baseline folder (``input`` / ``bicubic``) and restored folders by method."""
    groups: dict[tuple[str, str], dict] = {}
    for folder in restored_dirs:
        info = restored_parts(folder)
        if info["modality"] != modality:
            raise InputError(f"{folder}: a {info['modality']} folder in the {modality} task study")
        g = groups.setdefault((info["degradation"], info["level"]), {"baseline": None, "restored": {}})
        if info["method"] in BASELINES:
            g["baseline"] = (info["method"], folder)
        else:
            g["restored"][info["method"]] = folder
    return groups


def _class_rows(tc, base: dict, baseline: str) -> list[dict]:
    """Rows of :data:`CLASSIFICATION_COLUMNS` from a classification :class:`~mira.evaluate.task_change.TaskChange`."""
    images = tc.per_case.assign(image=tc.per_case["case_id"].str.rsplit("_p", n=1).str[0])
    n_images = images.groupby("method", sort=False)["image"].nunique()
    rows = []
    for r in tc.summary.to_dict("records"):
        meth = baseline if r["condition"] == "degraded" else r["method"]
        rows.append({**base, **r, "method": meth, "n_images": int(n_images.get(r["method"], 0))})
    return rows


def run_task_classification(train_dir: PathLike, clean_dir: PathLike, restored_dirs: Iterable[PathLike],
                            out_csv: PathLike, profile: ModalityProfile, *, source: str, spec, settings=None,
                            per_image: int = 8, input_size: int | None = None, n_boot: int = 1000,
                            level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The classification branch on the study's folders; writes and returns :data:`CLASSIFICATION_COLUMNS` rows.

    mira's lesion classifier (:func:`mira.evaluate.task_classification.train_lesion_classifier`,
    network and loop ``settings``, patch geometry ``spec``) is trained on ``per_image`` patches per
    clean training image (generator ``rng_for(seed, "task-classifier", modality)``); per (degradation,
    level) :func:`~mira.evaluate.task_classification.classification_change` scores patches cut at the
    same positions (``rng_for(seed, "task-classification-sites", modality)``: the same in every group)
    from the clean test images, the baseline folder (the ``degraded`` condition) and every restored
    folder. The clean row is written once (degradation ``none``, level ``clean``). Without a lesion
    case or a lesion-free case in the training or test split, the table is empty (logged).
    """
    from ..seeding import rng_for
    from .task_classification import classification_change, train_lesion_classifier, usable

    modality = profile.name
    train, test = _labelled_cases(train_dir), _labelled_cases(clean_dir)
    legend = Dataset(clean_dir).legend or Dataset(train_dir).legend
    rows: list[dict] = []
    split_ok = [usable([c.label for c in cs.values()], [c.record.class_label for c in cs.values()], legend)
                for cs in (train, test)]
    if not all(split_ok):
        log.warning("%s %s: the training or test split lacks a lesion or a lesion-free case; no classification rows",
                    source, modality)
    else:
        tr = list(train.values())
        model = train_lesion_classifier([c.image for c in tr], [c.label for c in tr],
                                        [c.record.class_label for c in tr], legend, profile, spec,
                                        rng_for(seed, "task-classifier", modality), settings=settings,
                                        per_image=per_image, input_size=input_size)
        log.info("%s %s: classifier trained on %d patches", source, modality, model.n_train)
        for (deg, lvl), g in _folder_groups(restored_dirs, modality).items():
            if g["baseline"] is None:
                log.warning("%s %s %s: no baseline folder, skipped", modality, deg, lvl)
                continue
            folders = {"degraded": g["baseline"][1], **g["restored"]}
            loaded = {k: _images(f) for k, f in folders.items()}
            ids = [cid for cid in test if all(cid in v for v in loaded.values())]
            cases = [test[cid] for cid in ids]
            if not usable([c.label for c in cases], [c.record.class_label for c in cases], legend):
                continue
            tc = classification_change(model, [c.image for c in cases], [loaded["degraded"][i] for i in ids],
                                       {m: [loaded[m][i] for i in ids] for m in g["restored"]},
                                       [c.label for c in cases], [c.record.class_label for c in cases], ids, legend,
                                       profile, spec, rng_for(seed, "task-classification-sites", modality),
                                       per_image=per_image, n_boot=n_boot, level=level, seed=seed)
            new = _class_rows(tc, {"source": source, "modality": modality, "degradation": deg, "level": lvl},
                              g["baseline"][0])
            if not rows:  # the clean row once
                rows += [{**r, "degradation": "none", "level": "clean"} for r in new if r["condition"] == "clean"]
            rows += [r for r in new if r["condition"] != "clean"]
    df = pd.DataFrame(rows).reindex(columns=CLASSIFICATION_COLUMNS)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return df


def classification_markdown(table: pd.DataFrame, level: float = 0.95) -> str:
    """The classification table with a short reading guide."""
    lines = ["# Task-oriented evaluation: lesion classification on clean, degraded and restored images", "",
             "A lesion / no-lesion patch classifier trained on clean training phantoms scores patches cut at the same "
             "positions from the clean, degraded (`input` / `bicubic`) and restored test images. n = patches, "
             "n_images = test images they come from (several patches per image; patches of one image are correlated, "
             f"so whole images are resampled). [lo, hi]: {100 * level:g} % cluster-bootstrap interval over images "
             "(`mira.evaluate.task_change`). Δ = paired change.", ""]
    if table.empty:
        return "\n".join(lines + ["(no results: the classification branch needs lesion and lesion-free cases)"]) + "\n"
    lines += ["| source | modality | degradation | level | method | n | n_images | accuracy [lo, hi] | AUC [lo, hi] | "
              "Δ accuracy vs degraded | Δ AUC vs degraded | Δ AUC vs clean |",
              "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in table.to_dict("records"):
        iv = {m: _interval(r[m], r[f"{m}_lo"], r[f"{m}_hi"], ".3f" if m in ("accuracy", "auc") else "+.3f")
              if np.isfinite(r[m]) else "-" for m in ("accuracy", "auc", "delta_accuracy_vs_degraded",
                                                      "delta_auc_vs_degraded", "delta_auc_vs_clean")}
        lines.append(f"| {r['source']} | {r['modality']} | {r['degradation']} | {r['level']} | {r['method']} | "
                     f"{r['n']} | {r['n_images']} | {iv['accuracy']} | {iv['auc']} | "
                     f"{iv['delta_accuracy_vs_degraded']} | {iv['delta_auc_vs_degraded']} | "
                     f"{iv['delta_auc_vs_clean']} |")
    return "\n".join(lines) + "\n"


def write_task_classification_tables(parts: Sequence[PathLike], out_csv: PathLike, out_md: PathLike, *,
                                     level: float = 0.95) -> dict[str, int]:
    """Combine the per-modality classification tables (:func:`run_task_classification`) into one CSV and Markdown."""
    frames = [pd.read_csv(p, dtype={"level": str}) for p in parts]
    frames = [f for f in frames if not f.empty]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLASSIFICATION_COLUMNS)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out_md, classification_markdown(table, level))
    return {"rows": len(table)}


__all__ = ["DICE_COLUMNS", "CHANGE_COLUMNS", "CLASSIFICATION_COLUMNS", "restored_parts", "run_task_study",
           "task_summary", "per_label_table", "dice_change_table", "task_markdown", "write_task_tables",
           "run_task_classification", "classification_markdown", "write_task_classification_tables"]

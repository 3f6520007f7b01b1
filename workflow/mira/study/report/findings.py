"""The study's answers in plain words, from the tables (the findings document of the evaluation stage).

Three questions: which restoration method wins per modality and degradation; whether the PSNR
winner also helps segmentation; whether the augmentation claims of the textbook chapter on medical
image augmentation and restoration hold. Every sentence is generated from the tables, so it is true
of the run that produced it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from ...atomic import write_text
from ...evaluate.strategy_study import claims_statement
from ...sources import domain_of
from .restoration_tables import winners

PathLike = Union[str, os.PathLike]


def _read(path: PathLike | None) -> pd.DataFrame:
    if path is None or not Path(path).is_file() or Path(path).stat().st_size <= 1:
        return pd.DataFrame()
    return pd.read_csv(path, dtype={"level": str})


def restoration_findings(table: pd.DataFrame) -> list[str]:
    """One bullet per (source, modality, degradation, level): the best mean PSNR (dB), its gain over
    the unrestored input (or bicubic) and whether it is also the best SSIM (:func:`restoration_table` rows)."""
    if table.empty:
        return ["- No restoration results."]
    out = []
    w = winners(table, "psnr")
    ws = winners(table, "ssim").set_index(["source", "modality", "degradation", "level"])["method"]
    for r in w.itertuples():
        s_win = ws.get((r.source, r.modality, r.degradation, r.level), "?")
        base = table[(table.source == r.source) & (table.modality == r.modality) & (table.degradation == r.degradation)
                     & (table.level == r.level) & table.method.isin(["input", "bicubic"])]
        gain = f", {r.psnr - base['psnr_mean'].iloc[0]:+.2f} dB over {base['method'].iloc[0]}" if not base.empty else ""
        same = "also best SSIM" if s_win == r.method else f"best SSIM: {s_win}"
        out.append(f"- {r.source} ({domain_of(r.source)}) {r.modality.upper()} {r.degradation} {r.level}: "
                   f"**{r.method}** "
                   f"({r.psnr:.2f} dB{gain}; {same})")
    return out


def _num(v: float, unit: str) -> str:
    return f"{v:.4g} {unit}".strip() if np.isfinite(v) else "n/a"


def full_range_findings(table: pd.DataFrame) -> list[str]:
    """One bullet naming every method whose windowed PSNR gain over the baseline hides a full-range loss
    (full-range MAE worse, or MAE above the window much worse: :func:`restoration_domains.hidden_losses`)."""
    from ...modalities import get_profile
    from .restoration_domains import BASELINES, BONE_FACTOR, hidden_losses

    if table.empty or "mae_full_mean" not in table:
        return ["- Not measured: this run's restoration table has no full-range metrics."]
    hidden = hidden_losses(table)
    if hidden.empty:
        return ["- None: wherever a method's PSNR over the window beats the unrestored input (or bicubic), its "
                "full-range MAE is no worse and its MAE above the window (CT bone, metal) is below "
                f"{BONE_FACTOR:g}x the baseline's."]
    parts = []
    for r in hidden.itertuples():
        u = get_profile(r.modality).units
        base = BASELINES["sr" if r.degradation == "downsample" else "denoise"]
        parts.append(f"**{r.method}** ({r.source} {r.modality.upper()} {r.degradation} {r.level}: {r.gain_db:+.2f} dB "
                     f"in the window, full-range MAE {_num(r.mae_full, u)} vs {_num(r.mae_full_base, u)} of {base}, "
                     f"MAE above the window {_num(r.mae_above_window, u)} vs {_num(r.mae_above_window_base, u)}: "
                     f"{r.reason})")
    return ["- Windowed PSNR gain hides a full-range loss: " + "; ".join(parts) + "."]


def domain_findings(table: pd.DataFrame) -> list[str]:
    """One bullet per (modality, task, method) measured on real scans: its phantom and real mean PSNR gain
    over the baseline and its verdict per domain; a method below the baseline on a source is called
    out as **harmful on <source>** (:mod:`mira.study.report.restoration_domains`)."""
    from .restoration_domains import side_by_side, verdict_table

    if table.empty:
        return ["- No restoration results."]
    sbs = side_by_side(verdict_table(table))
    if "real_verdict" not in sbs or sbs["real_verdict"].isna().all():
        return ["- Only phantoms were restored: no result here is shown to hold on real scans (add a source "
                "under `inputs:`; it is degraded and restored by default)."]
    out = []
    for r in sbs.itertuples():
        real = str(r.real_verdict) if isinstance(r.real_verdict, str) else "not measured"
        phantom = str(r.phantom_verdict) if isinstance(r.phantom_verdict, str) else "not measured"
        real_txt = real if real in ("helps", "not measured") else f"**{real}**"
        out.append(f"- {r.modality.upper()} {r.task} {r.method}: phantoms {_gain(r.phantom_gain_mean_db)} "
                   f"({phantom}), real scans {_gain(r.real_gain_mean_db)} ({real_txt})")
    return out


def _gain(v: float) -> str:
    return f"{v:+.2f} dB" if isinstance(v, float) and np.isfinite(v) else "n/a"


def task_findings(task: pd.DataFrame, change: pd.DataFrame) -> list[str]:
    """One bullet per (source, modality) of the task study: in how many groups the PSNR winner is also
    the Dice winner, the PSNR winner's Dice change (%) and the largest mean Dice change."""
    if task.empty or "condition" not in task:
        return ["- No task-study results."]
    out = []
    for (src, mod), g in task[task["condition"] != "clean"].groupby(["source", "modality"], sort=False):
        groups = g.groupby(["degradation", "level"], sort=False)
        agree, total = 0, 0
        helped = []
        for (deg, lvl), h in groups:
            total += 1
            pw = h[h["psnr_winner"].astype(bool)]["method"].tolist() if "psnr_winner" in h else []
            dw = h[h["dice_winner"].astype(bool)]["method"].tolist() if "dice_winner" in h else []
            if set(pw) & set(dw):
                agree += 1
            if pw:
                row = h[h["method"] == pw[0]].iloc[0]
                if row["condition"] == "restored" and np.isfinite(row["dice_change_pct"]):
                    ci = (f" [{row['dice_change_pct_lo']:+.1f}, {row['dice_change_pct_hi']:+.1f}]"
                          if np.isfinite(row.get("dice_change_pct_lo", np.nan)) else "")
                    helped.append(f"{deg} {lvl}: {pw[0]} {row['dice_change_pct']:+.1f}%{ci} Dice")
        c = change[(change["source"] == src) & (change["modality"] == mod)] if not change.empty else change
        best = c.loc[c["dice_change_pct"].idxmax()] if not c.empty and c["dice_change_pct"].notna().any() else None
        clean = g["dice_clean"].iloc[0] if "dice_clean" in g else float("nan")
        txt = (f"- {src} {mod.upper()} (clean Dice {clean:.3f}): the PSNR winner is also the Dice winner in "
               f"{agree} of {total} degradation x level groups; PSNR winner's Dice change: "
               f"{'; '.join(helped) if helped else 'n/a'}")
        if best is not None:
            txt += f". Largest mean Dice change: {best['method']} {best['dice_change_pct']:+.1f}%"
        out.append(txt + ".")
    return out


def gan_findings(claims: pd.DataFrame) -> list[str]:
    """One bullet per modality where the strategy study trained with GAN samples: the accuracy and AUC
    change of 'gan' vs 'none' with the paired intervals (claims table of the strategy study)."""
    if claims.empty or "strategy" not in claims or not (claims["strategy"] == "gan").any():
        return []
    out = []
    for r in claims[claims["strategy"] == "gan"].itertuples():
        acc = f"{r.accuracy - r.accuracy_none:+.3f} {r.delta_accuracy_ci}" if "delta_accuracy_ci" in claims else "n/a"
        auc = f"{r.auc - r.auc_none:+.3f} {r.delta_auc_ci}" if "delta_auc_ci" in claims else "n/a"
        out.append(f"- GAN samples, {r.modality.upper()} ({r.size_per_class} training cases per class): accuracy "
                   f"change {acc}, AUC change {auc} vs no augmentation (paired CI; sample quality: the GAN table).")
    return out


def _largest(rows: pd.DataFrame) -> str:
    """``: method (degradation level, change), ...`` of the (up to) three largest AUC changes, or nothing."""
    top = rows.sort_values("delta_auc_vs_degraded", key=abs, ascending=False).head(3)
    return (": " + ", ".join(f"{r.method} ({r.degradation} {r.level}, {r.delta_auc_vs_degraded:+.3f})"
                             for r in top.itertuples())) if len(top) else ""


def classification_findings(table: pd.DataFrame) -> list[str]:
    """One bullet per (source, modality) of the task study's classification branch (``task_classification.csv``):
    the clean AUC, the degraded folder that costs most AUC, and the restored folders whose AUC change vs the
    degraded image has its interval above / below 0."""
    if table.empty or "condition" not in table:
        return ["- No classification results."]
    out = []
    for (src, mod), g in table.groupby(["source", "modality"], sort=False):
        clean, deg, rest = (g[g["condition"] == c] for c in ("clean", "degraded", "restored"))
        txt = f"- {src} {mod.upper()} lesion classifier (clean AUC {clean['auc'].mean():.3f})"
        if deg["delta_auc_vs_clean"].notna().any():
            w = deg.loc[deg["delta_auc_vs_clean"].idxmin()]
            txt += (f": the degradation costs up to {w['delta_auc_vs_clean']:+.3f} AUC "
                    f"[{w['delta_auc_vs_clean_lo']:+.3f}, {w['delta_auc_vs_clean_hi']:+.3f}] "
                    f"({w['degradation']} {w['level']})")
        up, down = (rest[rest["delta_auc_vs_degraded_lo"] > 0], rest[rest["delta_auc_vs_degraded_hi"] < 0])
        txt += (f"; restoration raises AUC over the degraded image (interval above 0) in {len(up)} of {len(rest)} "
                f"method x folder rows{_largest(up)}, and lowers it in {len(down)}{_largest(down)}.")
        out.append(txt)
    return out


def write_findings(restoration_csv: PathLike | None, task_csv: PathLike | None, change_csv: PathLike | None,
                   claims_csv: PathLike | None, out_md: PathLike, *, classification_csv: PathLike | None = None) -> str:
    """Write the findings document; returns its text."""
    table, task, change, claims = (_read(p) for p in (restoration_csv, task_csv, change_csv, claims_csv))
    classification = _read(classification_csv)
    lines = ["# Findings", "",
             "Generated from this run's tables (see the Restoration, Task-oriented evaluation and Augmentation "
             "strategies sections for the numbers, n and spread).", "",
             "## Which restoration method wins (best mean PSNR per modality, degradation and level)", "",
             *restoration_findings(table), "",
             "## Does a PSNR gain in the window hide damage outside it (full range, bone, metal)?", "",
             *full_range_findings(table), "",
             "## Does it hold on real scans? (mean PSNR gain over the unrestored input / bicubic, phantoms vs real)",
             "", *domain_findings(table), "",
             "## Does the PSNR winner help the downstream segmentation?", "", *task_findings(task, change), "",
             "## Does restoration help lesion classification?", "", *classification_findings(classification), "",
             "## Does augmentation buy what the textbook chapter on medical image augmentation and restoration "
             "says?", "",
             claims_statement(claims) if not claims.empty else "- No strategy-study results.", *gan_findings(claims),
             ""]
    text = "\n".join(lines)
    write_text(out_md, text)
    return text


__all__ = ["classification_findings", "domain_findings", "full_range_findings", "gan_findings", "restoration_findings",
           "task_findings", "write_findings"]

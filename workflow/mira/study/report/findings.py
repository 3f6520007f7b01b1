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
                    helped.append(f"{deg} {lvl}: {pw[0]} {row['dice_change_pct']:+.1f}% Dice")
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


def write_findings(restoration_csv: PathLike | None, task_csv: PathLike | None, change_csv: PathLike | None,
                   claims_csv: PathLike | None, out_md: PathLike) -> str:
    """Write the findings document; returns its text."""
    table, task, change, claims = (_read(p) for p in (restoration_csv, task_csv, change_csv, claims_csv))
    lines = ["# Findings", "",
             "Generated from this run's tables (see the Restoration, Task-oriented evaluation and Augmentation "
             "strategies sections for the numbers, n and spread).", "",
             "## Which restoration method wins (best mean PSNR per modality, degradation and level)", "",
             *restoration_findings(table), "",
             "## Does it hold on real scans? (mean PSNR gain over the unrestored input / bicubic, phantoms vs real)",
             "", *domain_findings(table), "",
             "## Does the PSNR winner help the downstream segmentation?", "", *task_findings(task, change), "",
             "## Does augmentation buy what the textbook chapter on medical image augmentation and restoration "
             "says?", "",
             claims_statement(claims) if not claims.empty else "- No strategy-study results.", ""]
    text = "\n".join(lines)
    write_text(out_md, text)
    return text


__all__ = ["domain_findings", "restoration_findings", "task_findings", "write_findings"]

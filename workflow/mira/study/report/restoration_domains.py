"""Phantom vs real: does each restoration method hold on real scans, and where does it do harm?

Input: the wide restoration table (:func:`mira.study.report.restoration_tables.restoration_table`),
one row per (source, modality, degradation, level, method) with the mean PSNR over the test cases.
Each source is a *domain*: ``phantom`` (mira's synthetic data) or ``real`` (a source of ``inputs:``;
:func:`mira.sources.domain_of`). A method is **harmful** on a (source, degradation, level) group when
its mean PSNR is below that of the group's baseline: the unrestored ``input`` for denoising, the
``bicubic`` upsampling for super-resolution (doing nothing, or the cheapest interpolation, would
have been better).

* :func:`verdict_table` -- per (domain, modality, method): groups, mean PSNR gain over the baseline
  (dB), smallest gain, groups won (best mean PSNR), and the verdict ``helps`` / ``harmful on ...``;
* :func:`harmful_groups` -- every group where a method is below its baseline (the findings' list);
* :func:`verdicts_markdown` -- the verdict table as Markdown, phantom and real side by side;
* :func:`hidden_losses` -- every group where a method's windowed PSNR gain over the baseline hides a
  full-range loss: its full-range MAE is worse than the baseline's, or its MAE above the window (CT
  bone and metal) is :data:`BONE_FACTOR` times the baseline's or more.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...sources import domain_of

#: Columns of :func:`verdict_table`.
VERDICT_COLUMNS = ("domain", "modality", "task", "method", "groups", "sources", "gain_mean_db", "gain_min_db", "wins",
                   "harmful_on", "verdict")
SR_DEGRADATION = "downsample"
BASELINES = {"denoise": "input", "sr": "bicubic"}
#: A method whose MAE above the window is this many times its baseline's (or more) damages bone/metal.
BONE_FACTOR = 1.5
#: Columns of :func:`hidden_losses` (MAE in the modality's native units).
HIDDEN_COLUMNS = ("source", "modality", "degradation", "level", "method", "gain_db", "mae_full", "mae_full_base",
                  "mae_above_window", "mae_above_window_base", "reason")


def _task(degradation: str) -> str:
    return "sr" if degradation == SR_DEGRADATION else "denoise"


def gains(table: pd.DataFrame) -> pd.DataFrame:
    """Per row of the wide table (not the baselines): ``domain``, ``task``, ``gain_db`` (method - baseline
    mean PSNR in its group) and ``won`` (best mean PSNR of its group, baseline included)."""
    cols = ["source", "modality", "degradation", "level", "method", "psnr_mean"]
    if table.empty or "psnr_mean" not in table:
        return pd.DataFrame(columns=cols + ["domain", "task", "gain_db", "won"])
    rows = []
    for key, g in table.groupby(["source", "modality", "degradation", "level"], sort=False):
        task = _task(key[2])
        base = g[g["method"] == BASELINES[task]]["psnr_mean"]
        if base.empty or not np.isfinite(base.iloc[0]):
            continue
        best = g["psnr_mean"].max()
        for r in g[g["method"] != BASELINES[task]].itertuples():
            rows.append({**dict(zip(cols, (*key, r.method, r.psnr_mean))), "domain": domain_of(key[0]), "task": task,
                         "gain_db": float(r.psnr_mean - base.iloc[0]), "won": bool(np.isclose(r.psnr_mean, best))})
    return pd.DataFrame(rows, columns=cols + ["domain", "task", "gain_db", "won"])


def harmful_groups(table: pd.DataFrame) -> pd.DataFrame:
    """Every (source, modality, degradation, level, method) whose mean PSNR is below its baseline's."""
    g = gains(table)
    return g[g["gain_db"] < 0].reset_index(drop=True)


def _harm_label(h: pd.DataFrame) -> str:
    """``source (degradation level, ...)`` per source of the harmful rows of one method."""
    parts = []
    for src, s in h.groupby("source", sort=False):
        where = ", ".join(f"{d} {lv} {gain:+.2f} dB" for d, lv, gain in zip(s["degradation"], s["level"], s["gain_db"]))
        parts.append(f"{src} ({where})")
    return "; ".join(parts)


def verdict_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per (domain, modality, task, method): how the method does against its baseline over all groups.

    ``gain_mean_db`` is the mean over the (source, degradation, level) groups of the method's mean PSNR
    gain over the baseline; ``gain_min_db`` the worst group; ``wins`` the groups where it has the best
    mean PSNR; ``harmful_on`` names every source (with degradation, level and gain) where it is below
    the baseline; ``verdict`` is ``helps`` when it never is, else ``harmful on <sources>``.
    """
    g = gains(table)
    rows = []
    for (dom, mod, task, meth), s in g.groupby(["domain", "modality", "task", "method"], sort=False):
        harm = s[s["gain_db"] < 0]
        rows.append({"domain": dom, "modality": mod, "task": task, "method": meth, "groups": len(s),
                     "sources": ", ".join(dict.fromkeys(s["source"])), "gain_mean_db": float(s["gain_db"].mean()),
                     "gain_min_db": float(s["gain_db"].min()), "wins": int(s["won"].sum()),
                     "harmful_on": _harm_label(harm),
                     "verdict": "helps" if harm.empty else "harmful on " + ", ".join(dict.fromkeys(harm["source"]))})
    out = pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
    order = {"phantom": 0, "real": 1}
    return out.sort_values(["modality", "task", "method", "domain"], key=lambda c: c.map(order) if c.name == "domain"
                           else c, kind="stable").reset_index(drop=True)


def side_by_side(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per (modality, task, method): the phantom and real gains and verdicts next to each other."""
    keys = ["modality", "task", "method"]
    parts = []
    for dom in ("phantom", "real"):
        d = verdicts[verdicts["domain"] == dom][keys + ["groups", "gain_mean_db", "gain_min_db", "wins", "verdict"]]
        parts.append(d.rename(columns={c: f"{dom}_{c}" for c in d.columns if c not in keys}))
    return parts[0].merge(parts[1], on=keys, how="outer")


def _fmt(v: float) -> str:
    return f"{v:+.2f}" if isinstance(v, float) and np.isfinite(v) else "n/a"


def verdicts_markdown(verdicts: pd.DataFrame) -> str:
    """Markdown: phantom and real side by side per method, then every group where a method does harm."""
    lines = ["# Restoration on phantoms and on real scans", "",
             "Mean PSNR gain (dB) over the baseline (the unrestored `input` for denoising, `bicubic` for "
             "super-resolution), averaged over the (source, degradation, level) groups of each domain; min = worst "
             "group; wins = groups where the method has the best mean PSNR. *phantom*: mira's synthetic data; "
             "*real*: the scans of `inputs:` (degraded with the same physics). A method is **harmful** on a source "
             "where it scores below the baseline.", "",
             "| modality | task | method | phantom gain (min) | phantom wins | phantom verdict | real gain (min) | "
             "real wins | real verdict |", "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |"]
    sbs = side_by_side(verdicts)
    for _, r in sbs.iterrows():
        cells = []
        for dom in ("phantom", "real"):
            n = r.get(f"{dom}_groups")
            if not isinstance(n, (int, float, np.integer, np.floating)) or not np.isfinite(n):
                cells += ["n/a", "n/a", "not measured"]
                continue
            verdict = str(r[f"{dom}_verdict"])
            cells += [f"{_fmt(r[f'{dom}_gain_mean_db'])} ({_fmt(r[f'{dom}_gain_min_db'])})",
                      f"{int(r[f'{dom}_wins'])} of {int(n)}", verdict if verdict == "helps" else f"**{verdict}**"]
        lines.append(f"| {r['modality']} | {r['task']} | {r['method']} | " + " | ".join(cells) + " |")
    harm = verdicts[verdicts["harmful_on"].astype(bool)]
    lines += ["", "## Where a method does harm", ""]
    lines += [f"- {r.method} ({r.modality.upper()} {r.task}, {r.domain}): harmful on {r.harmful_on}"
              for r in harm.itertuples()] or ["- Every method is at least as good as its baseline on every source."]
    return "\n".join(lines) + "\n"


def _col(row: pd.Series, name: str) -> float:
    v = row.get(name, np.nan)
    return float(v) if isinstance(v, (int, float, np.integer, np.floating)) else float("nan")


def _hidden_reason(r: pd.Series, base: pd.Series, bone_factor: float) -> str:
    """Why row ``r`` hides a full-range loss against ``base`` ("" when it does not)."""
    why = []
    full, full_b = _col(r, "mae_full_mean"), _col(base, "mae_full_mean")
    if np.isfinite(full) and np.isfinite(full_b) and full > full_b:
        why.append("full-range MAE worse")
    bone, bone_b = _col(r, "mae_above_window_mean"), _col(base, "mae_above_window_mean")
    if np.isfinite(bone) and np.isfinite(bone_b) and bone > bone_b and bone >= bone_factor * bone_b:
        why.append("MAE above the window worse")
    return ", ".join(why)


def hidden_losses(table: pd.DataFrame, bone_factor: float = BONE_FACTOR) -> pd.DataFrame:
    """Every (source, modality, degradation, level, method) whose windowed PSNR gain hides a full-range loss.

    A method (not the baseline: ``input`` for denoising, ``bicubic`` for super-resolution) is listed when
    its mean PSNR over the window is above the baseline's (``gain_db`` > 0) and yet its mean full-range
    MAE is worse than the baseline's, or its mean MAE above the window (CT bone and metal) is worse and at
    least ``bone_factor`` times the baseline's. Needs the wide table's ``mae_full_mean`` /
    ``mae_above_window_mean`` columns; without them (older runs) nothing is listed.
    """
    cols = list(HIDDEN_COLUMNS)
    if table.empty or "psnr_mean" not in table:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in table.groupby(["source", "modality", "degradation", "level"], sort=False):
        b = g[g["method"] == BASELINES[_task(key[2])]]
        if b.empty or not np.isfinite(b["psnr_mean"].iloc[0]):
            continue
        base = b.iloc[0]
        for _, r in g[g["method"] != base["method"]].iterrows():
            gain = float(r["psnr_mean"] - base["psnr_mean"])
            reason = _hidden_reason(r, base, bone_factor) if gain > 0 else ""
            if reason:
                rows.append({**dict(zip(cols[:4], key)), "method": r["method"], "gain_db": gain,
                             "mae_full": _col(r, "mae_full_mean"), "mae_full_base": _col(base, "mae_full_mean"),
                             "mae_above_window": _col(r, "mae_above_window_mean"),
                             "mae_above_window_base": _col(base, "mae_above_window_mean"), "reason": reason})
    return pd.DataFrame(rows, columns=cols)


__all__ = ["BONE_FACTOR", "HIDDEN_COLUMNS", "VERDICT_COLUMNS", "gains", "harmful_groups", "hidden_losses",
           "side_by_side", "verdict_table", "verdicts_markdown"]

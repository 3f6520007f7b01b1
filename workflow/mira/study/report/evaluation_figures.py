"""Curves and distributions of the evaluation stage, drawn from its tables (never recomputed).

* :func:`severity_curves` -- PSNR and SSIM (mean +- sd) against severity level / SR scale, per method.
* :func:`box_plots` -- per-case PSNR distribution per method at one level.
* :func:`strategy_figure` -- accuracy and AUC against training-set size per augmentation strategy
  (with confidence bands), and learning curves at the smallest size.
* :func:`dice_change_figure` -- Dice change per restoration method, and PSNR gain against Dice change.

Each has a ``build_*_figure`` returning ``(Figure, count)`` from in-memory tables; the writer reads
the CSV, builds and saves. The comparison grid is in :mod:`.grids`, training curves in
:mod:`.training_curves`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from .figures import Figure, colours, empty_figure, plt, save_figure

PathLike = Union[str, os.PathLike]

LEVEL_ORDER = {"mild": 0, "moderate": 1, "severe": 2}


def _level_key(level: str) -> float:
    if level in LEVEL_ORDER:
        return LEVEL_ORDER[level]
    if level.startswith("x") and level[1:].isdigit():
        return 10 + int(level[1:])
    return 99


def _save(built: tuple[Figure, int], out_png: PathLike) -> int:
    fig, n = built
    save_figure(fig, out_png)
    return n


# ------------------------------------------------------------------------------------------------
# severity curves and box plots


def build_severity_figure(table: pd.DataFrame, source: str, modality: str) -> tuple[Figure, int]:
    """PSNR (dB, top) and SSIM (bottom), mean +- sd vs level per method, one column per degradation.

    Parameters
    ----------
    table : pandas.DataFrame
        The restoration table (:func:`mira.study.report.restoration_tables.restoration_table`).
    source, modality : str
        The rows to draw.

    Returns
    -------
    (matplotlib.figure.Figure, int)
        The figure and the number of degradations (columns); 0 and a note when there are no rows.
    """
    t = table[(table["source"] == source) & (table["modality"] == modality)]
    if t.empty:
        return empty_figure(f"no restoration results for {source} {modality}"), 0
    degs = list(dict.fromkeys(t["degradation"]))
    cols = colours(list(dict.fromkeys(t["method"])))
    fig, axes = plt.subplots(2, len(degs), figsize=(3.6 * len(degs), 5.4), squeeze=False)
    for j, deg in enumerate(degs):
        g = t[t["degradation"] == deg]
        levels = sorted(set(g["level"]), key=_level_key)
        xs = {lv: i for i, lv in enumerate(levels)}
        for i, metric in enumerate(("psnr", "ssim")):
            ax = axes[i, j]
            for meth, m in g.groupby("method", sort=False):
                m = m.sort_values("level", key=lambda s: s.map(_level_key))
                ax.errorbar([xs[v] for v in m["level"]], m[f"{metric}_mean"], yerr=m[f"{metric}_sd"], marker="o",
                            ms=3, lw=1, capsize=2, color=cols[meth], label=meth)
            ax.set_xticks(range(len(levels)))
            ax.set_xticklabels(levels, fontsize=7)
            ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(deg, fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=7, frameon=False)
    fig.suptitle(f"{source} {modality.upper()}: fidelity vs severity (mean ± sd over test cases)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return fig, len(degs)


def severity_curves(table_csv: PathLike, out_png: PathLike, source: str, modality: str) -> int:
    """Write :func:`build_severity_figure` of the restoration table ``table_csv``; returns the column count."""
    return _save(build_severity_figure(pd.read_csv(table_csv, dtype={"level": str}), source, modality), out_png)


def build_box_figure(metrics: pd.DataFrame, source: str, modality: str, level: str = "moderate",
                     sr_level: str = "x2", metric: str = "psnr") -> tuple[Figure, int]:
    """Per-case ``metric`` per method (box plot with the cases as dots), one panel per degradation.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Tidy per-case rows (``source, modality, degradation, level, method, case_id, metric, value``).
    source, modality : str
        The rows to draw.
    level, sr_level : str
        The noise level and the super-resolution scale (``downsample``) shown.
    metric : str
        ``psnr`` (dB), ``ssim`` or ``mae``.

    Returns
    -------
    (matplotlib.figure.Figure, int)
        The figure and the number of panels; 0 and a note when there are no finite values.
    """
    df = metrics[(metrics["source"] == source) & (metrics["modality"] == modality) & (metrics["metric"] == metric)]
    df = df[((df["degradation"] != "downsample") & (df["level"] == level)) |
            ((df["degradation"] == "downsample") & (df["level"] == sr_level))]
    df = df[np.isfinite(df["value"])]
    if df.empty:
        return empty_figure(f"no {metric} results for {source} {modality}"), 0
    degs = list(dict.fromkeys(df["degradation"]))
    fig, axes = plt.subplots(1, len(degs), figsize=(max(3.5, 0.55 * df["method"].nunique() + 1.5) * len(degs), 3.6),
                             squeeze=False)
    rng = np.random.default_rng(0)  # jitter of the dots only
    for j, deg in enumerate(degs):
        g = df[df["degradation"] == deg]
        meths = list(dict.fromkeys(g["method"]))
        data = [g[g["method"] == m]["value"].to_numpy() for m in meths]
        ax = axes[0, j]
        ax.boxplot(data, showfliers=False)
        for k, v in enumerate(data):
            ax.plot(k + 1 + rng.uniform(-0.12, 0.12, len(v)), v, ".", ms=3, color="0.3", alpha=0.7)
        ax.set_xticks(range(1, len(meths) + 1))
        ax.set_xticklabels(meths, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{deg} {g['level'].iloc[0]}", fontsize=9)
        ax.set_ylabel(metric.upper() + (" (dB)" if metric == "psnr" else ""), fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{source} {modality.upper()}: per-case {metric.upper()} per method", fontsize=9)
    fig.tight_layout()
    return fig, len(degs)


def box_plots(metrics_csv: PathLike, out_png: PathLike, source: str, modality: str, level: str = "moderate",
              sr_level: str = "x2", metric: str = "psnr") -> int:
    """Write :func:`build_box_figure` of the tidy metrics ``metrics_csv``; returns the panel count."""
    df = pd.read_csv(metrics_csv, dtype={"case_id": str, "level": str})
    return _save(build_box_figure(df, source, modality, level, sr_level, metric), out_png)


# ------------------------------------------------------------------------------------------------
# augmentation strategies


def _strategy_row(axes, i: int, mod: str, g: pd.DataFrame, hist: pd.DataFrame | None, strategies: list[str],
                  cols: dict[str, tuple]) -> None:
    """Row ``i`` of the strategy figure: accuracy and AUC vs size (CI bands), learning curves."""
    for strat in strategies:
        m = g[g["strategy"] == strat].sort_values("size_per_class")
        if m.empty:
            continue
        style = dict(color=cols[strat], lw=2.2 if strat == "none" else 1.2, ls="--" if strat == "none" else "-")
        for j, metric in enumerate(("accuracy", "auc")):
            ax = axes[i, j]
            ax.plot(m["size_per_class"], m[f"{metric}_mean"], marker="o", ms=3, label=strat, **style)
            if m[f"{metric}_lo"].notna().any():
                ax.fill_between(m["size_per_class"], m[f"{metric}_lo"], m[f"{metric}_hi"], color=cols[strat],
                                alpha=0.12)
        if hist is not None:
            h = hist[(hist["modality"] == mod) & (hist["strategy"] == strat)]
            if not h.empty:
                h0 = h[h["size_per_class"] == h["size_per_class"].min()]
                c = h0.groupby("step")["eval_accuracy"].mean()
                axes[i, 2].plot(c.index, c.values, label=strat, **style)
    for j, yl in enumerate(("held-out accuracy", "held-out ROC AUC")):
        ax = axes[i, j]
        ax.set_xscale("log", base=2)
        sizes = sorted(set(g["size_per_class"]))
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(v) for v in sizes])
        ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("training cases per class", fontsize=8)
        ax.set_ylabel(yl, fontsize=8)
        ax.set_title(f"{mod.upper()}: {yl} vs training size", fontsize=9)
        ax.grid(alpha=0.3)
    axes[i, 2].set_xlabel("gradient step", fontsize=8)
    axes[i, 2].set_ylabel("held-out accuracy", fontsize=8)
    axes[i, 2].set_title(f"{mod.upper()}: learning curves at the smallest size (mean over seeds)", fontsize=8)
    axes[i, 2].grid(alpha=0.3)


def build_strategy_figure(summary: pd.DataFrame, history: pd.DataFrame | None = None) -> tuple[Figure, int]:
    """Accuracy and AUC vs training-set size per strategy (CI bands), and held-out accuracy vs step
    at the smallest size: one row of three panels per modality.

    Parameters
    ----------
    summary : pandas.DataFrame
        The strategy study's summary (``modality, strategy, size_per_class`` and
        ``accuracy_/auc_`` ``mean, lo, hi``).
    history : pandas.DataFrame, optional
        Its training history (``modality, strategy, size_per_class, step, eval_accuracy``).

    Returns
    -------
    (matplotlib.figure.Figure, int)
        The figure and the number of modalities (rows); 0 and a note without results.
    """
    if summary.empty:
        return empty_figure("no strategy results"), 0
    mods = list(dict.fromkeys(summary["modality"]))
    strategies = list(dict.fromkeys(summary["strategy"]))
    cols = colours(strategies)
    fig, axes = plt.subplots(len(mods), 3, figsize=(13, 3.6 * len(mods)), squeeze=False)
    for i, mod in enumerate(mods):
        _strategy_row(axes, i, mod, summary[summary["modality"] == mod], history, strategies, cols)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig, len(mods)


def strategy_figure(summary_csv: PathLike, history_csv: PathLike | None, out_png: PathLike) -> int:
    """Write :func:`build_strategy_figure` from the study's CSVs; returns the number of modalities."""
    s = pd.read_csv(summary_csv)
    hist = None
    if not s.empty and history_csv is not None and Path(history_csv).is_file() and Path(history_csv).stat().st_size > 1:
        hist = pd.read_csv(history_csv)
    return _save(build_strategy_figure(s, hist), out_png)


# ------------------------------------------------------------------------------------------------
# task study


def _dice_bars(a1, r: pd.DataFrame, mods: list[str], meths: list[str], cols: dict[str, tuple]) -> None:
    """Mean Dice change (%) per method, one bar per modality, dots = each degradation x level."""
    width = 0.8 / max(1, len(mods))
    for k, mod in enumerate(mods):
        g = r[r["modality"] == mod]
        for i, meth in enumerate(meths):
            v = g[g["method"] == meth]["dice_change_pct"].dropna()
            if v.empty:
                continue
            x = i + (k - (len(mods) - 1) / 2) * width
            a1.bar(x, v.mean(), width=width * 0.9, color=cols[mod], alpha=0.75, label=mod.upper() if i == 0 else None)
            a1.plot(np.full(len(v), x), v, ".", color="0.2", ms=3)
    a1.axhline(0, color="k", lw=0.8)
    a1.set_xticks(range(len(meths)))
    a1.set_xticklabels(meths, rotation=40, ha="right", fontsize=7)
    a1.set_ylabel("Dice change vs degraded (%)", fontsize=8)
    a1.set_title("Does restoration help segmentation? (bars: mean; dots: each degradation x level)", fontsize=8)
    a1.legend(fontsize=7)
    a1.grid(alpha=0.3, axis="y")


def build_dice_change_figure(task: pd.DataFrame) -> tuple[Figure, int]:
    """Left: mean Dice change (%) per method and modality (bars; dots = each degradation/level).
    Right: PSNR gain (dB) against Dice change for every restored folder.

    Parameters
    ----------
    task : pandas.DataFrame
        The task-study table (``condition, modality, method, dice_change_pct``, optional ``psnr_gain``).

    Returns
    -------
    (matplotlib.figure.Figure, int)
        The figure and the number of modalities; 0 and a note without restored folders.
    """
    if task.empty or "condition" not in task or (task["condition"] == "restored").sum() == 0:
        return empty_figure("no restored folders in the task study"), 0
    r = task[task["condition"] == "restored"]
    mods = list(dict.fromkeys(r["modality"]))
    cols = colours(mods)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    _dice_bars(a1, r, mods, list(dict.fromkeys(r["method"])), cols)
    if "psnr_gain" in r:
        for mod in mods:
            g = r[r["modality"] == mod]
            a2.scatter(g["psnr_gain"], g["dice_change_pct"], s=14, color=cols[mod], label=mod.upper())
        a2.axhline(0, color="k", lw=0.8)
        a2.axvline(0, color="k", lw=0.8)
        a2.set_xlabel("PSNR gain over degraded (dB)", fontsize=8)
        a2.set_ylabel("Dice change (%)", fontsize=8)
        a2.set_title("PSNR gain vs Dice change (each method x folder)", fontsize=8)
        a2.grid(alpha=0.3)
        a2.legend(fontsize=7)
    else:
        a2.axis("off")
    fig.tight_layout()
    return fig, len(mods)


def dice_change_figure(task_csv: PathLike, out_png: PathLike) -> int:
    """Write :func:`build_dice_change_figure` of the task table ``task_csv``; returns the number of modalities."""
    return _save(build_dice_change_figure(pd.read_csv(task_csv, dtype={"level": str})), out_png)


__all__ = ["build_severity_figure", "severity_curves", "build_box_figure", "box_plots", "build_strategy_figure",
           "strategy_figure", "build_dice_change_figure", "dice_change_figure"]

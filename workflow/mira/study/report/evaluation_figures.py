"""Figures of the evaluation stage. Every figure is drawn from tables and result folders on disk,
never by recomputing a result, so the ``figures`` target can redraw all of them cheaply.

* :func:`comparison_grid` -- clean, degraded and every method's output of one test case, each with a
  zoomed inset (around the lesion when there is one) and, below, the difference to the clean reference.
* :func:`severity_curves` -- PSNR and SSIM (mean +- sd) against severity level / SR scale, per method.
* :func:`box_plots` -- per-case PSNR distribution per method at one level.
* :func:`training_curves` -- every network's training curves: restoration networks, the U-Net, the
  strategy classifiers.
* :func:`strategy_figure` -- accuracy and AUC against training-set size per augmentation strategy
  (with confidence bands), and learning curves at the smallest size.
* :func:`dice_change_figure` -- Dice change per restoration method, and PSNR gain against Dice change.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from ..dataset import Dataset
from ..errors import InputError
from ..report.figures import plt, save_figure, window

PathLike = Union[str, os.PathLike]

LEVEL_ORDER = {"mild": 0, "moderate": 1, "severe": 2}


def _level_key(level: str) -> float:
    if level in LEVEL_ORDER:
        return LEVEL_ORDER[level]
    if level.startswith("x") and level[1:].isdigit():
        return 10 + int(level[1:])
    return 99


def _empty(path: PathLike, text: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
    ax.axis("off")
    save_figure(fig, path)


def _colours(names: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


# ------------------------------------------------------------------------------------------------
# visual comparison


def zoom_box(label: np.ndarray | None, shape: tuple[int, int], fraction: float = 0.25,
             prefer: Sequence[int] = ()) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the zoom window: ``fraction`` of the image side, centred on the
    largest connected region of the ``prefer`` labels (the lesions) when present, else of the
    label value with the fewest pixels, else on the image centre."""
    from scipy import ndimage as ndi

    h, w = shape
    side = max(8, int(round(fraction * min(h, w))))
    cy, cx = h // 2, w // 2
    if label is not None and (label > 0).any():
        mask = np.isin(label, list(prefer)) if prefer else np.zeros(label.shape, bool)
        if not mask.any():
            vals, counts = np.unique(label[label > 0], return_counts=True)
            mask = label == int(vals[np.argmin(counts)])
        comps, n = ndi.label(mask)
        sizes = ndi.sum(mask, comps, range(1, n + 1))
        ys, xs = np.nonzero(comps == int(np.argmax(sizes)) + 1)
        cy, cx = int(np.mean(ys)), int(np.mean(xs))
    y0 = int(np.clip(cy - side // 2, 0, max(0, h - side)))
    x0 = int(np.clip(cx - side // 2, 0, max(0, w - side)))
    return y0, y0 + side, x0, x0 + side


def _nearest_up(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ry, rx = shape[0] / img.shape[0], shape[1] / img.shape[1]
    yi = np.minimum((np.arange(shape[0]) / ry).astype(int), img.shape[0] - 1)
    xi = np.minimum((np.arange(shape[1]) / rx).astype(int), img.shape[1] - 1)
    return img[np.ix_(yi, xi)]


def comparison_grid(paired_dir: PathLike, restored_dirs: Sequence[PathLike], out_png: PathLike, case_id: str = "",
                    zoom_fraction: float = 0.25, diff_fraction: float = 0.1) -> str:
    """Visual comparison of one test case (module docstring). Returns the case id drawn.

    The degraded image of a super-resolution pair is shown nearest-neighbour enlarged to the
    reference grid. Differences (image - clean) use a symmetric colour scale of +-``diff_fraction``
    of the modality's window width. Titles give the case's PSNR / SSIM.
    """
    from ..degrade.pairs import PairedDataset
    from ..metrics.fidelity import psnr, ssim
    from matplotlib.patches import Rectangle

    pairs = PairedDataset(paired_dir)
    if not pairs.rows:
        raise InputError(f"{paired_dir}: no cases")
    rows = pairs.rows
    row = next((r for r in rows if r["case_id"] == case_id), None) if case_id else None
    if row is None:
        row = next((r for r in rows if str(r.get("class_label")) == "1"), rows[0])
    pair = pairs.load(row)
    mod = row["modality"]
    ref = pair.reference if pair.reference.ndim == 2 else pair.reference[pair.reference.shape[0] // 2]
    deg = pair.degraded if pair.degraded.ndim == 2 else pair.degraded[pair.degraded.shape[0] // 2]
    if deg.shape != ref.shape:
        deg = _nearest_up(deg, ref.shape)
    lab = pair.reference_label if pair.reference_label is not None else pair.label
    if lab is not None and lab.ndim == 3:
        lab = lab[lab.shape[0] // 2]
    panels = [("clean", ref), (f"degraded ({row['degradation']} {row['level']})", deg)]
    for folder in restored_dirs:
        if Path(folder).name == "input":  # the unrestored input is the degraded panel already
            continue
        ds = Dataset(folder)
        rec = next((r for r in ds.records if r.case_id == row["case_id"]), None)
        if rec is None:
            continue
        img = ds.load(rec).image
        img = img if img.ndim == 2 else img[img.shape[0] // 2]
        if img.shape == ref.shape:
            panels.append((Path(folder).name, img))
    vmin, vmax = window(ref, mod)
    d = diff_fraction * (vmax - vmin)
    from .cohort import lesion_values

    y0, y1, x0, x1 = zoom_box(lab if lab is not None and lab.shape == ref.shape else None, ref.shape, zoom_fraction,
                              prefer=lesion_values(pairs.dataset.legend))
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.9), squeeze=False)
    for j, (name, img) in enumerate(panels):
        ax = axes[0, j]
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.8))
        ins = ax.inset_axes([0.58, 0.58, 0.42, 0.42])
        ins.imshow(img[y0:y1, x0:x1], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        ins.set_xticks([])
        ins.set_yticks([])
        for sp in ins.spines.values():
            sp.set_edgecolor("yellow")
        title = name if j == 0 else f"{name}\n{psnr(ref, img, mod):.2f} dB / {ssim(ref, img, mod):.3f}"
        ax.set_title(title, fontsize=7)
        ax.axis("off")
        dax = axes[1, j]
        if j == 0:
            dax.axis("off")
            dax.text(0.5, 0.5, f"difference to clean\n(±{d:g} {'HU' if mod == 'ct' else ''})", ha="center",
                     va="center", fontsize=7, transform=dax.transAxes)
            continue
        im = dax.imshow(img.astype(np.float64) - ref, cmap="RdBu_r", vmin=-d, vmax=d, interpolation="nearest")
        dax.axis("off")
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.7, fraction=0.02, pad=0.01)
    fig.suptitle(f"{mod.upper()} {row['degradation']} {row['level']}: case {row['case_id']} "
                 f"(window {vmin:g}..{vmax:g}; PSNR dB / SSIM vs clean)", fontsize=8)
    save_figure(fig, out_png)
    return row["case_id"]


# ------------------------------------------------------------------------------------------------
# curves and distributions


def severity_curves(table_csv: PathLike, out_png: PathLike, source: str, modality: str) -> int:
    """PSNR and SSIM (mean +- sd) vs level per method, one column per degradation (from the restoration table)."""
    t = pd.read_csv(table_csv, dtype={"level": str})
    t = t[(t["source"] == source) & (t["modality"] == modality)]
    if t.empty:
        _empty(out_png, f"no restoration results for {source} {modality}")
        return 0
    degs = list(dict.fromkeys(t["degradation"]))
    colours = _colours(list(dict.fromkeys(t["method"])))
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
                            ms=3, lw=1, capsize=2, color=colours[meth], label=meth)
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
    save_figure(fig, out_png)
    return len(degs)


def box_plots(metrics_csv: PathLike, out_png: PathLike, source: str, modality: str, level: str = "moderate",
              sr_level: str = "x2", metric: str = "psnr") -> int:
    """Per-case ``metric`` per method (box plot with the cases as dots), one panel per degradation."""
    df = pd.read_csv(metrics_csv, dtype={"case_id": str, "level": str})
    df = df[(df["source"] == source) & (df["modality"] == modality) & (df["metric"] == metric)]
    df = df[((df["degradation"] != "downsample") & (df["level"] == level)) |
            ((df["degradation"] == "downsample") & (df["level"] == sr_level))]
    df = df[np.isfinite(df["value"])]
    if df.empty:
        _empty(out_png, f"no {metric} results for {source} {modality}")
        return 0
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
    save_figure(fig, out_png)
    return len(degs)


def training_curves(out_png: PathLike, restore_histories: Sequence[PathLike] = (), unet_histories: Sequence[PathLike] = (),
                    strategy_history: PathLike | None = None) -> int:
    """Training curves of every network of the study (one panel per family; module docstring)."""
    panels = []
    if restore_histories:
        panels += ["restore_loss", "restore_val"]
    if unet_histories:
        panels += ["unet_loss", "unet_val"]
    hist = None
    if strategy_history is not None and Path(strategy_history).is_file() and Path(strategy_history).stat().st_size > 1:
        hist = pd.read_csv(strategy_history)
        if not hist.empty:
            panels += ["clf_loss", "clf_auc"]
    if not panels:
        _empty(out_png, "no training histories")
        return 0
    ncol = 2
    nrow = (len(panels) + 1) // 2
    fig, axes = plt.subplots(nrow, ncol, figsize=(10, 3.2 * nrow), squeeze=False)
    ax_of = {p: axes[i // 2, i % 2] for i, p in enumerate(panels)}
    for h in restore_histories:
        p = Path(h)
        df = pd.read_csv(p)
        lab = f"{p.parent.parent.name} {p.parent.name}"
        x = df["epoch"] if "epoch" in df else np.arange(1, len(df) + 1)
        if "train_loss" in df:
            ax_of["restore_loss"].semilogy(x, df["train_loss"], label=lab)
        if "val_psnr_db" in df:
            ax_of["restore_val"].plot(x, df["val_psnr_db"], marker=".", label=lab)
    for h in unet_histories:
        p = Path(h)
        df = pd.read_csv(p)
        lab = f"U-Net {p.parent.name}"
        ax_of["unet_loss"].plot(df["epoch"], df["train_loss"], label=lab)
        if "val_dice" in df:
            ax_of["unet_val"].plot(df["epoch"], df["val_dice"], marker=".", label=lab)
    if hist is not None and not hist.empty:
        n0 = int(hist["size_per_class"].min())
        h0 = hist[hist["size_per_class"] == n0]
        colours = _colours(list(dict.fromkeys(h0["strategy"])))
        for (mod, strat), g in h0.groupby(["modality", "strategy"], sort=False):
            m = g.groupby("step")[["train_loss", "eval_auc"]].mean().reset_index()
            lab = f"{mod} {strat}"
            ax_of["clf_loss"].semilogy(m["step"], m["train_loss"], color=colours[strat], label=lab)
            ax_of["clf_auc"].plot(m["step"], m["eval_auc"], color=colours[strat], marker=".", label=lab)
        ax_of["clf_loss"].set_title(f"strategy classifiers, {n0} cases/class: training loss (mean over seeds)", fontsize=8)
        ax_of["clf_auc"].set_title(f"strategy classifiers, {n0} cases/class: held-out AUC", fontsize=8)
        for k in ("clf_loss", "clf_auc"):
            ax_of[k].set_xlabel("gradient step", fontsize=8)
    titles = {"restore_loss": ("restoration networks: training loss", "epoch"),
              "restore_val": ("restoration networks: validation PSNR (dB)", "epoch"),
              "unet_loss": ("segmentation U-Net: training loss (CE + Dice)", "epoch"),
              "unet_val": ("segmentation U-Net: validation Dice", "epoch")}
    for k, (title, xl) in titles.items():
        if k in ax_of:
            ax_of[k].set_title(title, fontsize=8)
            ax_of[k].set_xlabel(xl, fontsize=8)
    for k, ax in ax_of.items():
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    for i in range(len(panels), nrow * ncol):
        axes[i // 2, i % 2].axis("off")
    fig.tight_layout()
    save_figure(fig, out_png)
    return len(panels)


def strategy_figure(summary_csv: PathLike, history_csv: PathLike | None, out_png: PathLike) -> int:
    """Accuracy and AUC vs training-set size per strategy (CI bands), and held-out accuracy vs step
    at the smallest size, one row per modality."""
    s = pd.read_csv(summary_csv)
    if s.empty:
        _empty(out_png, "no strategy results")
        return 0
    hist = None
    if history_csv is not None and Path(history_csv).is_file() and Path(history_csv).stat().st_size > 1:
        hist = pd.read_csv(history_csv)
    mods = list(dict.fromkeys(s["modality"]))
    strategies = list(dict.fromkeys(s["strategy"]))
    colours = _colours(strategies)
    fig, axes = plt.subplots(len(mods), 3, figsize=(13, 3.6 * len(mods)), squeeze=False)
    for i, mod in enumerate(mods):
        g = s[s["modality"] == mod]
        for strat in strategies:
            m = g[g["strategy"] == strat].sort_values("size_per_class")
            if m.empty:
                continue
            style = dict(color=colours[strat], lw=2.2 if strat == "none" else 1.2, ls="--" if strat == "none" else "-")
            for j, metric in enumerate(("accuracy", "auc")):
                ax = axes[i, j]
                ax.plot(m["size_per_class"], m[f"{metric}_mean"], marker="o", ms=3, label=strat, **style)
                if m[f"{metric}_lo"].notna().any():
                    ax.fill_between(m["size_per_class"], m[f"{metric}_lo"], m[f"{metric}_hi"], color=colours[strat],
                                    alpha=0.12)
            if hist is not None:
                h = hist[(hist["modality"] == mod) & (hist["strategy"] == strat)]
                if not h.empty:
                    h0 = h[h["size_per_class"] == h["size_per_class"].min()]
                    c = h0.groupby("step")["eval_accuracy"].mean()
                    axes[i, 2].plot(c.index, c.values, label=strat, **style)
        for j, (metric, yl) in enumerate((("accuracy", "held-out accuracy"), ("auc", "held-out ROC AUC"))):
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
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, out_png)
    return len(mods)


def dice_change_figure(task_csv: PathLike, out_png: PathLike) -> int:
    """Left: mean Dice change (%) per method and modality (bars; dots = each degradation/level).
    Right: PSNR gain against Dice change for every restored folder."""
    t = pd.read_csv(task_csv, dtype={"level": str})
    if t.empty or "condition" not in t or (t["condition"] == "restored").sum() == 0:
        _empty(out_png, "no restored folders in the task study")
        return 0
    r = t[t["condition"] == "restored"]
    mods = list(dict.fromkeys(r["modality"]))
    meths = list(dict.fromkeys(r["method"]))
    colours = _colours(mods)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    width = 0.8 / max(1, len(mods))
    for k, mod in enumerate(mods):
        g = r[r["modality"] == mod]
        for i, meth in enumerate(meths):
            v = g[g["method"] == meth]["dice_change_pct"].dropna()
            if v.empty:
                continue
            x = i + (k - (len(mods) - 1) / 2) * width
            a1.bar(x, v.mean(), width=width * 0.9, color=colours[mod], alpha=0.75, label=mod.upper() if i == 0 else None)
            a1.plot(np.full(len(v), x), v, ".", color="0.2", ms=3)
    a1.axhline(0, color="k", lw=0.8)
    a1.set_xticks(range(len(meths)))
    a1.set_xticklabels(meths, rotation=40, ha="right", fontsize=7)
    a1.set_ylabel("Dice change vs degraded (%)", fontsize=8)
    a1.set_title("Does restoration help segmentation? (bars: mean; dots: each degradation x level)", fontsize=8)
    a1.legend(fontsize=7)
    a1.grid(alpha=0.3, axis="y")
    if "psnr_gain" in r:
        for mod in mods:
            g = r[r["modality"] == mod]
            a2.scatter(g["psnr_gain"], g["dice_change_pct"], s=14, color=colours[mod], label=mod.upper())
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
    save_figure(fig, out_png)
    return len(mods)


__all__ = ["comparison_grid", "zoom_box", "severity_curves", "box_plots", "training_curves", "strategy_figure",
           "dice_change_figure"]

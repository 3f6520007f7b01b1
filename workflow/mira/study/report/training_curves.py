"""Training curves: the restoration networks' figure, and every network of the study in one figure.

* :func:`training_figure` -- validation PSNR and training loss per epoch of every restoration network.
* :func:`training_curves` -- one panel pair per family: restoration networks, the segmentation
  U-Net, the strategy classifiers (at the smallest training size, mean over seeds).

Curves are drawn per epoch or gradient step, never per wall second, so a figure is the same bytes
on every machine.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from .figures import Figure, colours, empty_figure, plt, save_figure

PathLike = Union[str, os.PathLike]

_TITLES = {"restore_loss": ("restoration networks: training loss", "epoch"),
           "restore_val": ("restoration networks: validation PSNR (dB)", "epoch"),
           "unet_loss": ("segmentation U-Net: training loss (CE + Dice)", "epoch"),
           "unet_val": ("segmentation U-Net: validation Dice", "epoch")}


def scores_psnr(history: PathLike) -> bool:
    """Whether a restoration network's ``history.csv`` holds validation PSNR (dB): not for a self-supervised
    run, whose sidecar beside it (``model.json``, ``score_kind: neg_ss_loss``) says it holds minus its loss."""
    import json

    side = Path(history).with_name("model.json")
    if not side.is_file():
        return True
    return json.loads(side.read_text(encoding="utf-8")).get("score_kind", "psnr_db") == "psnr_db"


def build_training_figure(histories: Sequence[PathLike]) -> Figure:
    """Validation PSNR (left) and training loss (right, log scale) per epoch, one line per network.

    Parameters
    ----------
    histories : sequence of path
        ``history.csv`` of each network (columns ``epoch``, ``val_psnr_db`` in dB, ``train_loss``),
        in ``<architecture>/<target>/`` folders (the line label).
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for h in histories:
        p = Path(h)
        df = pd.read_csv(p)
        label = f"{p.parent.parent.name} {p.parent.name}"
        if scores_psnr(p):  # a self-supervised run has no validation PSNR to draw
            a1.plot(df["epoch"], df["val_psnr_db"], marker=".", label=label)
        a2.semilogy(df["epoch"], df["train_loss"], label=label)
    a1.set_xlabel("epoch")
    a1.set_ylabel("validation PSNR (dB)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("training loss")
    if histories:
        a1.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def training_figure(histories: Sequence[PathLike], out_png: PathLike) -> int:
    """Write :func:`build_training_figure` to ``out_png``; returns the number of networks drawn."""
    save_figure(build_training_figure(histories), out_png)
    return len(histories)


def _strategy_history(path: PathLike | None) -> pd.DataFrame | None:
    """The strategy study's training history, or None when absent or empty."""
    if path is None or not Path(path).is_file() or Path(path).stat().st_size <= 1:
        return None
    hist = pd.read_csv(path)
    return None if hist.empty else hist


def _panel_names(restore: bool, unet: bool, classifiers: bool) -> list[str]:
    return ((["restore_loss", "restore_val"] if restore else []) + (["unet_loss", "unet_val"] if unet else [])
            + (["clf_loss", "clf_auc"] if classifiers else []))


def _draw_networks(ax_of: dict, restore_histories: Sequence[PathLike], unet_histories: Sequence[PathLike]) -> None:
    """Restoration networks (loss, validation PSNR) and U-Nets (loss, validation Dice)."""
    for h in restore_histories:
        p = Path(h)
        df = pd.read_csv(p)
        lab = f"{p.parent.parent.name} {p.parent.name}"
        x = df["epoch"] if "epoch" in df else np.arange(1, len(df) + 1)
        if "train_loss" in df:
            ax_of["restore_loss"].semilogy(x, df["train_loss"], label=lab)
        if "val_psnr_db" in df and scores_psnr(p):
            ax_of["restore_val"].plot(x, df["val_psnr_db"], marker=".", label=lab)
    for h in unet_histories:
        p = Path(h)
        df = pd.read_csv(p)
        lab = f"U-Net {p.parent.name}"
        ax_of["unet_loss"].plot(df["epoch"], df["train_loss"], label=lab)
        if "val_dice" in df:
            ax_of["unet_val"].plot(df["epoch"], df["val_dice"], marker=".", label=lab)


def _draw_classifiers(ax_of: dict, hist: pd.DataFrame) -> None:
    """Strategy classifiers at the smallest training size: loss and held-out AUC per gradient step."""
    n0 = int(hist["size_per_class"].min())
    h0 = hist[hist["size_per_class"] == n0]
    cols = colours(list(dict.fromkeys(h0["strategy"])))
    for (mod, strat), g in h0.groupby(["modality", "strategy"], sort=False):
        m = g.groupby("step")[["train_loss", "eval_auc"]].mean().reset_index()
        lab = f"{mod} {strat}"
        ax_of["clf_loss"].semilogy(m["step"], m["train_loss"], color=cols[strat], label=lab)
        ax_of["clf_auc"].plot(m["step"], m["eval_auc"], color=cols[strat], marker=".", label=lab)
    ax_of["clf_loss"].set_title(f"strategy classifiers, {n0} cases/class: training loss (mean over seeds)", fontsize=8)
    ax_of["clf_auc"].set_title(f"strategy classifiers, {n0} cases/class: held-out AUC", fontsize=8)
    for k in ("clf_loss", "clf_auc"):
        ax_of[k].set_xlabel("gradient step", fontsize=8)


def build_training_curves_figure(restore_histories: Sequence[PathLike] = (), unet_histories: Sequence[PathLike] = (),
                                 strategy_history: PathLike | None = None) -> tuple[Figure, int]:
    """Training curves of every network of the study, two panels per family (module docstring).

    Parameters
    ----------
    restore_histories : sequence of path
        Restoration networks' ``history.csv`` (``epoch``, ``train_loss``, ``val_psnr_db`` in dB).
    unet_histories : sequence of path
        Segmentation U-Nets' histories (``epoch``, ``train_loss``, ``val_dice``).
    strategy_history : path, optional
        The strategy study's history (``modality, strategy, size_per_class, step, train_loss, eval_auc``).

    Returns
    -------
    (matplotlib.figure.Figure, int)
        The figure (two columns, a row per panel pair) and the number of panels drawn (0: a note).
    """
    hist = _strategy_history(strategy_history)
    panels = _panel_names(bool(restore_histories), bool(unet_histories), hist is not None)
    if not panels:
        return empty_figure("no training histories"), 0
    ncol = 2
    nrow = (len(panels) + 1) // 2
    fig, axes = plt.subplots(nrow, ncol, figsize=(10, 3.2 * nrow), squeeze=False)
    ax_of = {p: axes[i // 2, i % 2] for i, p in enumerate(panels)}
    _draw_networks(ax_of, restore_histories, unet_histories)
    if hist is not None:
        _draw_classifiers(ax_of, hist)
    for k, (title, xl) in _TITLES.items():
        if k in ax_of:
            ax_of[k].set_title(title, fontsize=8)
            ax_of[k].set_xlabel(xl, fontsize=8)
    for ax in ax_of.values():
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    for i in range(len(panels), nrow * ncol):
        axes[i // 2, i % 2].axis("off")
    fig.tight_layout()
    return fig, len(panels)


def training_curves(out_png: PathLike, restore_histories: Sequence[PathLike] = (),
                    unet_histories: Sequence[PathLike] = (), strategy_history: PathLike | None = None) -> int:
    """Write :func:`build_training_curves_figure` to ``out_png``; returns the number of panels."""
    fig, n = build_training_curves_figure(restore_histories, unet_histories, strategy_history)
    save_figure(fig, out_png)
    return n


__all__ = ["build_training_figure", "training_figure", "build_training_curves_figure", "training_curves"]

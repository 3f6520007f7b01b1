"""Overview montage of a dataset: cases side by side, with label-map overlays and MRI sequences."""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from ..dataset import Dataset
from .figures import display_slice, plt, save_figure, window

PathLike = Union[str, os.PathLike]


def overview_figure(split_dirs: Sequence[PathLike], out_png: PathLike, n_cases: int = 6) -> int:
    """Draw up to ``n_cases`` cases (taken from the splits in order) with label overlays.

    Rows: the image in the modality's fixed window; the image with the label map overlaid (when
    labels exist); for MRI, every extra sequence. 3D cases show their middle axial slice.
    Returns the number of cases drawn.
    """
    sets = [Dataset(d) for d in split_dirs]
    picked = [(ds, rec) for ds in sets for rec in ds.records][:n_cases]
    if not picked:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no cases", ha="center", va="center")
        ax.axis("off")
        save_figure(fig, out_png)
        return 0
    cases = [ds.load(rec, sequences=True) for ds, rec in picked]
    modality = cases[0].record.modality
    legend: dict[int, str] = {}
    for ds in sets:
        legend.update(ds.legend)
    seq_names = sorted({k for c in cases for k in c.sequences})
    has_labels = any(c.label is not None for c in cases)
    rows = ["image"] + (["labels"] if has_labels else []) + seq_names
    fig, axes = plt.subplots(len(rows), len(cases), figsize=(2.2 * len(cases), 2.3 * len(rows)), squeeze=False)
    vmin, vmax = window(cases[0].image, modality)
    cmap = plt.get_cmap("tab20", max(legend) + 1 if legend else 2)
    for j, case in enumerate(cases):
        img = display_slice(case.image)
        for i, row in enumerate(rows):
            ax = axes[i, j]
            if row in ("image", "labels"):
                ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
                if row == "labels" and case.label is not None:
                    lab = display_slice(case.label).astype(float)
                    ax.imshow(np.ma.masked_where(lab == 0, lab), cmap=cmap, vmin=0, vmax=cmap.N - 1,
                              alpha=0.45, interpolation="nearest")
            else:
                seq = case.sequences.get(row)
                if seq is not None:
                    ax.imshow(display_slice(seq), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                rec = case.record
                tag = {1: "lesion", 0: "no lesion"}.get(rec.class_label, "")
                ax.set_title(f"{rec.case_id}\n{tag}", fontsize=7)
            if j == 0:
                ax.set_ylabel(row, fontsize=8)
    if has_labels and legend:
        handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in sorted(legend) if k > 0]
        fig.legend(handles, [legend[k] for k in sorted(legend) if k > 0], loc="lower center",
                   ncol=min(6, max(1, len(handles))), fontsize=7, frameon=False)
    sp = "x".join(f"{s:.3g}" for s in cases[0].spacing)
    fig.suptitle(f"{cases[0].record.source} / {modality}: window {vmin:g}..{vmax:g}, spacing {sp} mm", fontsize=9)
    save_figure(fig, out_png)
    return len(cases)

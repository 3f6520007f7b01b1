"""Overview montage of a dataset: cases side by side, with label-map overlays and MRI sequences."""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from ...dataset import Case, Dataset
from ...modalities import ModalityProfile
from .figures import Figure, display_slice, display_window, plt, save_figure

PathLike = Union[str, os.PathLike]


def load_cases(split_dirs: Sequence[PathLike], n_cases: int = 6) -> tuple[list[Case], dict[int, str]]:
    """The first ``n_cases`` cases of the splits in order (with MRI sequences) and the merged legend."""
    sets = [Dataset(d) for d in split_dirs]
    picked = [(ds, rec) for ds in sets for rec in ds.records][:n_cases]
    cases = [ds.load(rec, sequences=True) for ds, rec in picked]
    legend: dict[int, str] = {}
    for ds in sets:
        legend.update(ds.legend)
    return cases, legend


def build_overview_figure(cases: Sequence[Case], legend: dict[int, str], profile: ModalityProfile) -> Figure:
    """Montage of ``cases``: one column per case, one row per view.

    Parameters
    ----------
    cases : sequence of Case
        Cases of one dataset (:meth:`mira.dataset.Dataset.load`); 3D cases show their middle axial slice.
    legend : dict
        Label value -> name, for the overlay colours and the figure legend.
    profile : ModalityProfile
        The modality's resolved profile; display window = ``profile.metric_window`` (native units).

    Returns
    -------
    matplotlib.figure.Figure
        Rows: the image; the image with the label map overlaid (when labels exist); for MRI, every
        extra sequence. A "no cases" note when ``cases`` is empty.
    """
    if not cases:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no cases", ha="center", va="center")
        ax.axis("off")
        return fig
    seq_names = sorted({k for c in cases for k in c.sequences})
    has_labels = any(c.label is not None for c in cases)
    rows = ["image"] + (["labels"] if has_labels else []) + seq_names
    fig, axes = plt.subplots(len(rows), len(cases), figsize=(2.2 * len(cases), 2.3 * len(rows)), squeeze=False)
    vmin, vmax = display_window(profile)
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
    fig.suptitle(f"{cases[0].record.source} / {cases[0].record.modality}: window {vmin:g}..{vmax:g}, spacing {sp} mm",
                 fontsize=9)
    return fig


def overview_figure(split_dirs: Sequence[PathLike], out_png: PathLike, profile: ModalityProfile,
                    n_cases: int = 6) -> int:
    """Draw up to ``n_cases`` cases (taken from the splits in order) to ``out_png``.

    Parameters
    ----------
    split_dirs : sequence of path
        The dataset's split folders.
    out_png : path
        Output figure.
    profile : ModalityProfile
        The modality's resolved profile (display window, :func:`build_overview_figure`).
    n_cases : int
        At most this many cases.

    Returns
    -------
    int
        The number of cases drawn.
    """
    cases, legend = load_cases(split_dirs, n_cases)
    save_figure(build_overview_figure(cases, legend, profile), out_png)
    return len(cases)

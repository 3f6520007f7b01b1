"""The visual comparison grid of the evaluation stage: the one comparison grid of the HTML report.

Clean, degraded and every method's output of one test case, each with a zoomed inset (around the
lesion when there is one) and, below, the difference to the clean reference. Titles give each
panel's PSNR (dB) and SSIM against the clean reference over the profile's metric window.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ...dataset import Dataset
from ...errors import InputError
from ...modalities import ModalityProfile
from .figures import Figure, display_slice, display_window, plt, save_figure

PathLike = Union[str, os.PathLike]


@dataclass
class GridCase:
    """What one comparison grid shows (2D views on the reference grid, native units).

    Attributes
    ----------
    row : dict
        The paired folder's manifest row of the case (``case_id``, ``modality``, ``degradation``, ``level``).
    reference : ndarray
        The clean image (middle axial slice of a volume).
    label : ndarray or None
        The reference label map on the same grid, for the zoom window.
    lesion_values : list of int
        Label values of pathology (the zoom window prefers them).
    panels : list of (str, ndarray)
        ``("clean", reference)``, the degraded image (nearest-neighbour enlarged for super-resolution)
        and every method's output, in the order given.
    """

    row: dict
    reference: np.ndarray
    label: np.ndarray | None
    lesion_values: list[int] = field(default_factory=list)
    panels: list[tuple[str, np.ndarray]] = field(default_factory=list)


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


def load_grid_case(paired_dir: PathLike, restored_dirs: Sequence[PathLike], case_id: str = "") -> GridCase:
    """Read the case to draw: ``case_id``, else the first lesion case, else the first case.

    Restored folders named ``input`` (the unrestored input: the degraded panel already), without
    the case, or whose image is not on the reference grid are left out.
    """
    from ...degrade.pairs import PairedDataset
    from ...evaluate.cohort import lesion_values

    pairs = PairedDataset(paired_dir)
    if not pairs.rows:
        raise InputError(f"{paired_dir}: no cases")
    rows = pairs.rows
    row = next((r for r in rows if r["case_id"] == case_id), None) if case_id else None
    if row is None:
        row = next((r for r in rows if str(r.get("class_label")) == "1"), rows[0])
    pair = pairs.load(row)
    ref = display_slice(pair.reference)
    deg = display_slice(pair.degraded)
    if deg.shape != ref.shape:
        deg = _nearest_up(deg, ref.shape)
    lab = pair.reference_label if pair.reference_label is not None else pair.label
    if lab is not None and lab.ndim == 3:
        lab = display_slice(lab)
    case = GridCase(row=row, reference=ref, label=lab if lab is not None and lab.shape == ref.shape else None,
                    lesion_values=lesion_values(pairs.dataset.legend),
                    panels=[("clean", ref), (f"degraded ({row['degradation']} {row['level']})", deg)])
    for folder in restored_dirs:
        if Path(folder).name == "input":
            continue
        ds = Dataset(folder)
        rec = next((r for r in ds.records if r.case_id == row["case_id"]), None)
        if rec is None:
            continue
        img = display_slice(ds.load(rec).image)
        if img.shape == ref.shape:
            case.panels.append((Path(folder).name, img))
    return case


def _inset(ax, img: np.ndarray, box: tuple[int, int, int, int], vmin: float, vmax: float) -> None:
    """The yellow zoom rectangle on ``ax`` and the enlarged window in its upper right corner."""
    from matplotlib.patches import Rectangle

    y0, y1, x0, x1 = box
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.8))
    ins = ax.inset_axes([0.58, 0.58, 0.42, 0.42])
    ins.imshow(img[y0:y1, x0:x1], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ins.set_xticks([])
    ins.set_yticks([])
    for sp in ins.spines.values():
        sp.set_edgecolor("yellow")


def build_comparison_figure(case: GridCase, profile: ModalityProfile, zoom_fraction: float = 0.25,
                            diff_fraction: float = 0.1) -> Figure:
    """The comparison grid of ``case`` (module docstring): 2 rows x one column per panel.

    Parameters
    ----------
    case : GridCase
        From :func:`load_grid_case`.
    profile : ModalityProfile
        The modality's resolved profile: display window and PSNR/SSIM window = ``profile.metric_window``.
    zoom_fraction : float
        Side of the zoom window as a fraction of the image side (:func:`zoom_box`).
    diff_fraction : float
        Differences (image - clean) use a symmetric colour scale of +-``diff_fraction`` of the window width.
    """
    from ...metrics.fidelity import psnr, ssim

    ref, row, mod = case.reference, case.row, case.row["modality"]
    vmin, vmax = display_window(profile)
    d = diff_fraction * (vmax - vmin)
    box = zoom_box(case.label, ref.shape, zoom_fraction, prefer=case.lesion_values)
    n = len(case.panels)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.9), squeeze=False)
    for j, (name, img) in enumerate(case.panels):
        ax = axes[0, j]
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        _inset(ax, img, box, vmin, vmax)
        title = name if j == 0 else f"{name}\n{psnr(ref, img, profile):.2f} dB / {ssim(ref, img, profile):.3f}"
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
    return fig


def comparison_grid(paired_dir: PathLike, restored_dirs: Sequence[PathLike], out_png: PathLike,
                    profile: ModalityProfile, case_id: str = "", zoom_fraction: float = 0.25,
                    diff_fraction: float = 0.1) -> str:
    """Draw the comparison grid of one paired folder and its restored folders to ``out_png``.

    Parameters
    ----------
    paired_dir : path
        A paired clean/degraded folder (:mod:`mira.degrade.pairs`).
    restored_dirs : sequence of path
        Restored folders of that paired folder, one per method (``input`` is skipped).
    out_png : path
        Output figure.
    profile : ModalityProfile
        The modality's resolved profile (:func:`build_comparison_figure`).
    case_id : str
        The case to draw; default the first lesion case.
    zoom_fraction, diff_fraction : float
        See :func:`build_comparison_figure`.

    Returns
    -------
    str
        The case id drawn.
    """
    case = load_grid_case(paired_dir, restored_dirs, case_id)
    save_figure(build_comparison_figure(case, profile, zoom_fraction, diff_fraction), out_png)
    return case.row["case_id"]


__all__ = ["GridCase", "zoom_box", "load_grid_case", "build_comparison_figure", "comparison_grid"]

"""Content checks of figures, shared by the unit and end-to-end tests.

A figure passes when its PNG has the size in pixels its layout implies, is not blank (not all white,
not one flat colour), and every panel of its grid holds something (each cell of the drawn area is
non-uniform). Unit tests also inspect the :class:`matplotlib.figure.Figure` a ``build_*_figure``
function returns: :func:`image_axes` counts the panels that show an image.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

#: savefig(bbox_inches="tight") pads the tight bounding box by this much on every side (inches).
PAD_INCHES = 0.1
#: Pixels at least this bright in every channel (0..1) count as white background.
WHITE = 0.97


def read_rgb(path: str | Path) -> np.ndarray:
    """The PNG as float RGB in 0..1, ``(height, width, 3)``, transparency composited over white."""
    im = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float64) / 255.0
    alpha = im[..., 3:4]
    return im[..., :3] * alpha + (1.0 - alpha)


def png_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a PNG in pixels."""
    with Image.open(path) as im:
        return im.size


def saved_size(fig, dpi: float = 110) -> tuple[int, int]:
    """``(width, height)`` in pixels that ``fig.savefig(dpi=dpi, bbox_inches="tight")`` implies.

    Call it after the figure was saved (its tight or constrained layout has then run): it measures
    the figure's tight bounding box at ``dpi``, padded by :data:`PAD_INCHES`, without drawing again.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    bb = fig.get_tightbbox(canvas.get_renderer())
    return int((bb.width + 2 * PAD_INCHES) * dpi), int((bb.height + 2 * PAD_INCHES) * dpi)


def image_axes(fig) -> list:
    """The figure's axes (insets excluded) that show at least one image."""
    return [ax for ax in fig.axes if ax.images]


def line_axes(fig) -> list:
    """The figure's axes holding at least one line, bar or collection with data."""
    return [ax for ax in fig.axes if ax.lines or ax.patches or ax.collections]


def _drawn_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the non-white pixels."""
    ink = (rgb < WHITE).any(axis=2)
    ys, xs = np.nonzero(ink)
    assert ys.size, "the figure is blank (all white)"
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def blank_cells(rgb: np.ndarray, grid: tuple[int, int], min_std: float = 0.02) -> list[tuple[int, int]]:
    """Cells ``(row, col)`` of a ``grid`` laid over the drawn area that hold nothing (flat)."""
    y0, y1, x0, x1 = _drawn_box(rgb)
    gray = rgb[y0:y1, x0:x1].mean(axis=2)
    rows, cols = grid
    ys = np.linspace(0, gray.shape[0], rows + 1).astype(int)
    xs = np.linspace(0, gray.shape[1], cols + 1).astype(int)
    return [(i, j) for i in range(rows) for j in range(cols)
            if gray[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].std() < min_std]


def check_png(path: str | Path, *, size: tuple[int, int] | None = None,
              approx_size: tuple[float, float] | None = None, ratio: tuple[float, float] = (0.6, 1.3),
              grid: tuple[int, int] | None = None, min_std: float = 0.05, min_ink: float = 0.02,
              wide_title: bool = False) -> np.ndarray:
    """Assert that the PNG at ``path`` shows a drawn figure; returns its RGB pixels.

    Parameters
    ----------
    path : path
        The PNG.
    size : (int, int), optional
        Exact ``(width, height)`` in pixels (:func:`saved_size`); 1 pixel of rounding allowed.
    approx_size : (float, float), optional
        ``(width, height)`` in pixels the layout implies (figure size in inches x dpi); the PNG,
        cropped to its tight bounding box, must lie within ``ratio`` of it (``wide_title``: a title
        wider than the panels may widen it without bound).
    grid : (int, int), optional
        ``(rows, cols)`` of the panel grid: every cell of the drawn area must be non-uniform.
    min_std : float
        Minimum standard deviation of the gray values (0..1) of the whole figure.
    min_ink : float
        Minimum fraction of non-white pixels.
    """
    path = Path(path)
    assert path.is_file(), f"{path}: no figure"
    w, h = png_size(path)
    if size is not None:
        assert abs(w - size[0]) <= 1 and abs(h - size[1]) <= 1, f"{path.name}: {w}x{h} px, expected {size}"
    if approx_size is not None:
        for got, want, what in ((w, approx_size[0], "width"), (h, approx_size[1], "height")):
            assert ratio[0] * want <= got, f"{path.name}: {what} {got} px, the layout implies ~{want:.0f}"
            assert got <= ratio[1] * want or what == "width" and wide_title, \
                f"{path.name}: {what} {got} px, the layout implies ~{want:.0f}"
    rgb = read_rgb(path)
    ink = float((rgb < WHITE).any(axis=2).mean())
    assert ink >= min_ink, f"{path.name}: only {ink:.1%} of the pixels are not white"
    std = float(rgb.mean(axis=2).std())
    assert std >= min_std, f"{path.name}: nearly uniform (gray sd {std:.3f})"
    if grid is not None:
        empty = blank_cells(rgb, grid)
        assert not empty, f"{path.name}: nothing drawn in panel cells {empty} of a {grid[0]}x{grid[1]} grid"
    return rgb


def check_figure_images(fig, n_images: int, *, shapes: Sequence[tuple[int, int]] | None = None) -> None:
    """Assert ``fig`` has ``n_images`` panels showing an image, none of them constant.

    ``shapes``: the expected array shape of each panel's (first) image, in order.
    """
    axes = image_axes(fig)
    assert len(axes) == n_images, f"{len(axes)} image panels, expected {n_images}"
    for k, ax in enumerate(axes):
        arr = np.asarray(ax.images[0].get_array(), dtype=np.float64)
        assert np.ptp(arr[np.isfinite(arr)]) > 0, f"panel {k} ({ax.get_title()!r}) shows a constant image"
        if shapes is not None:
            assert arr.shape[:2] == tuple(shapes[k]), f"panel {k}: image {arr.shape}, expected {shapes[k]}"

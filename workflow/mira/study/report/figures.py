"""Figure helpers shared by every figure: headless backend, atomic saving, display windows.

Every figure of the study is built by a ``build_*_figure(...) -> matplotlib.figure.Figure`` function
(the tests inspect its axes and images) and written by a thin wrapper that calls
:func:`save_figure`.
"""
from __future__ import annotations

import os
from typing import Sequence, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ...atomic import atomic_path  # noqa: E402
from ...modalities import ModalityProfile  # noqa: E402

PathLike = Union[str, os.PathLike]


def save_figure(fig: Figure, path: PathLike, dpi: int = 110) -> None:
    """Save ``fig`` atomically (format from the suffix) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path : path
        Output file; PNG files carry no ``Software`` metadata so the bytes do not depend on the
        matplotlib version string.
    dpi : int
        Resolution in dots per inch.
    """
    with atomic_path(path) as tmp:
        metadata = {"Software": None} if str(path).endswith(".png") else None
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=metadata)
    plt.close(fig)


def display_slice(image: np.ndarray) -> np.ndarray:
    """A 2D view of an image: itself if 2D, the middle axial slice (axis 0) if 3D."""
    return image if image.ndim == 2 else image[image.shape[0] // 2]


def display_window(profile: ModalityProfile) -> tuple[float, float]:
    """Display window ``(vmin, vmax)`` in native units: the profile's fixed ``metric_window``.

    Parameters
    ----------
    profile : ModalityProfile
        The resolved profile of the modality (with the config's ``profiles:`` overrides).
    """
    lo, hi = profile.metric_window
    return float(lo), float(hi)


def empty_figure(text: str) -> Figure:
    """A small figure holding only ``text`` (drawn when there is nothing to plot)."""
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
    ax.axis("off")
    return fig


def colours(names: Sequence[str]) -> dict[str, tuple]:
    """One colour per name (``tab10``, or ``tab20`` for more than ten names)."""
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


__all__ = ["plt", "Figure", "save_figure", "display_slice", "display_window", "empty_figure", "colours"]

"""Figure helpers shared by every figure: headless backend, atomic saving, display windows."""
from __future__ import annotations

import os
from typing import Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic import atomic_path  # noqa: E402
from ..modalities import get_profile  # noqa: E402

PathLike = Union[str, os.PathLike]


def save_figure(fig, path: PathLike, dpi: int = 110) -> None:
    """Save ``fig`` atomically (format from the suffix) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata={"Software": None} if str(path).endswith(".png") else None)
    plt.close(fig)


def display_slice(image: np.ndarray) -> np.ndarray:
    """A 2D view of an image: itself if 2D, the middle axial slice (axis 0) if 3D."""
    return image if image.ndim == 2 else image[image.shape[0] // 2]


def window(image: np.ndarray, modality: str) -> tuple[float, float]:
    """Display window ``(vmin, vmax)`` in native units: the modality's fixed metric window."""
    lo, hi = get_profile(modality).metric_window
    return float(lo), float(hi)

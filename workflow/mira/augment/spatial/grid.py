"""Sampling grid of the spatial transforms: image geometry and one-pass resampling.

Physical coordinates are in mm, centred on the image, in numpy axis order. Resampling uses
``torch.nn.functional.grid_sample`` (linear / nearest; multi-threaded, bitwise deterministic on
CPU) or ``scipy.ndimage.map_coordinates`` (cubic, ``order=3``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from ...errors import ParameterError


@dataclass(frozen=True)
class Geometry:
    """Shape and spacing of an image; physical coordinates are centred: ``(i - (n-1)/2) * spacing``."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def axis_mm(self, a: int) -> np.ndarray:
        n = self.shape[a]
        return ((np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2.0)) * np.float32(self.spacing[a]))

    def broadcast_axis(self, a: int) -> np.ndarray:
        shape = [1] * self.ndim
        shape[a] = self.shape[a]
        return self.axis_mm(a).reshape(shape)

    def grid_points(self) -> np.ndarray:
        """Physical coordinates of every pixel, ``(ndim, *shape)`` float32."""
        out = np.empty((self.ndim, *self.shape), dtype=np.float32)
        for a in range(self.ndim):
            out[a] = self.broadcast_axis(a)
        return out

    def to_index(self, pts: np.ndarray) -> np.ndarray:
        out = np.empty_like(pts)
        for a in range(self.ndim):
            out[a] = pts[a] / np.float32(self.spacing[a]) + np.float32((self.shape[a] - 1) / 2.0)
        return out



def warp_arrays(arrays: Sequence[np.ndarray], pts: np.ndarray, geom: Geometry, order: int,
                fill: float) -> list[np.ndarray]:
    """Sample each array at the physical points ``pts`` (``(ndim, *shape)``, mm, centred)."""
    if not arrays:
        return []
    if order not in (0, 1, 3):
        raise ParameterError(f"interpolation order must be 0, 1 or 3, got {order}")
    if order == 3 or min(geom.shape) < 2:
        idx = geom.to_index(pts)
        return [ndi.map_coordinates(a.astype(np.float32, copy=False), idx, order=order, mode="constant",
                                    cval=float(fill), prefilter=order > 1).astype(np.float32) for a in arrays]
    import torch
    import torch.nn.functional as F

    nd = geom.ndim
    grid = np.empty((*geom.shape, nd), dtype=np.float32)
    for a in range(nd):
        grid[..., nd - 1 - a] = pts[a] * np.float32(2.0 / (geom.spacing[a] * (geom.shape[a] - 1)))
    stack = np.stack([np.asarray(a, dtype=np.float32) for a in arrays])
    if fill != 0.0:
        stack = stack - np.float32(fill)
    with torch.no_grad():
        out = F.grid_sample(torch.from_numpy(stack)[None], torch.from_numpy(grid)[None],
                            mode="nearest" if order == 0 else "bilinear", padding_mode="zeros", align_corners=True)
    res = out[0].numpy()
    if fill != 0.0:
        res = res + np.float32(fill)
    return [res[i] for i in range(len(arrays))]


def warp_label(label: np.ndarray, pts: np.ndarray, geom: Geometry) -> np.ndarray:
    """Nearest-neighbour resampling of an integer label map (0 outside the field of view)."""
    if label.size and int(label.max()) >= 2 ** 24:
        raise ParameterError("label values must be < 2**24 to be resampled exactly")
    out = warp_arrays([label.astype(np.float32)], pts, geom, 0, 0.0)[0]
    return np.rint(out).astype(label.dtype)

"""Tiled network inference: large images (512 x 512 CT slices, 2-3k pixel radiographs) in bounded memory.

A fully convolutional network's output pixel depends only on the input pixels within its receptive
radius. :func:`forward_tiled` runs the network on overlapping tiles: each tile is the core region
plus a margin of at least that radius on every side that has image beyond it, and only the core of
each output tile is kept. The margin is :func:`receptive_radius` (the sum of every convolution's
reach, an upper bound) plus :data:`INTERPOLATION_REACH` for a bicubic skip connection, so the tiled
result equals the whole-image result up to floating-point rounding: no seams. Memory is bounded by
the tile size, not the image size.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ParameterError

#: Extra margin, input pixels, for a bicubic interpolation inside the network (EDSR's skip connection).
INTERPOLATION_REACH = 2


def receptive_radius(module: torch.nn.Module) -> int:
    """Upper bound of ``module``'s receptive radius, input pixels: the sum of every Conv2d's reach.

    Convolutions after an upsampling layer act on a finer grid, so the bound is conservative there.
    """
    radius = 0
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            k, d = layer.kernel_size, layer.dilation
            radius += max(d[0] * (k[0] // 2), d[1] * (k[1] // 2))
    return radius + INTERPOLATION_REACH


def tile_starts(length: int, core: int) -> list[int]:
    """Start of each core segment covering ``[0, length)`` in steps of ``core`` pixels."""
    return list(range(0, length, core)) if length > 0 else []


@torch.no_grad()
def forward_tiled(module: torch.nn.Module, image: np.ndarray, device: torch.device, tile: int,
                  margin: int | None = None) -> np.ndarray:
    """Run ``module`` (eval mode) on one 2D working-scale image in overlapping tiles.

    Parameters
    ----------
    module : torch.nn.Module
        A fully convolutional network mapping ``(1, 1, H, W)`` to ``(1, 1, s*H, s*W)`` for an integer
        ``s >= 1`` (1 for denoisers and SRCNN, the scale for EDSR).
    image : array, shape (H, W)
        Network input on its working scale.
    device : torch.device
        Where the network runs.
    tile : int
        Side of each tile's core, input pixels (>= 8); memory grows with ``(tile + 2 * margin)^2``.
    margin : int, optional
        Overlap on each side, input pixels; default :func:`receptive_radius`.

    Returns
    -------
    array, shape (s*H, s*W)
        The network output, equal to running it on the whole image up to rounding.
    """
    if int(tile) < 8:
        raise ParameterError(f"tile must be >= 8 pixels, got {tile}")
    module.eval()
    x = np.asarray(image, dtype=np.float32)
    h, w = x.shape
    m = receptive_radius(module) if margin is None else int(margin)
    out: np.ndarray | None = None
    scale = 1
    for y0 in tile_starts(h, tile):
        for x0 in tile_starts(w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            py0, px0, py1, px1 = max(0, y0 - m), max(0, x0 - m), min(h, y1 + m), min(w, x1 + m)
            t = torch.from_numpy(np.ascontiguousarray(x[py0:py1, px0:px1]))[None, None].to(device)
            y = module(t).float().cpu().numpy()[0, 0].astype(np.float64)
            if out is None:
                scale = y.shape[0] // (py1 - py0)
                if scale < 1 or y.shape != ((py1 - py0) * scale, (px1 - px0) * scale):
                    raise ParameterError(f"tiled inference needs an integer output scale, got {y.shape} "
                                         f"from {(py1 - py0, px1 - px0)}")
                out = np.empty((h * scale, w * scale), dtype=np.float64)
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = y[oy:oy + (y1 - y0) * scale,
                                                                  ox:ox + (x1 - x0) * scale]
    return out if out is not None else np.zeros((0, 0))


def needs_tiling(shape: tuple[int, ...], tile: int | None) -> bool:
    """True when a 2D input of ``shape`` is larger than one tile (``tile=None``: never tile)."""
    return tile is not None and math.prod(shape) > int(tile) ** 2 and max(shape) > int(tile)

"""Ultrasound sector geometry: the field-of-view mask and its estimate from an image.

A sector geometry is a dict ``{"apex_mm": [y, x], "radius_mm": [r_min, r_max],
"half_angle_deg": h}`` in centred physical coordinates (mm, numpy order) with the beam pointing
down (+y). :func:`estimate_sector` finds it from an image; a sample may carry it in
``meta["sector"]`` (spatial transforms then keep pixels outside the sector at the fill value).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from ...errors import ParameterError
from .grid import Geometry


def sector_mask(shape: Sequence[int], spacing: Sequence[float], sector: dict[str, Any]) -> np.ndarray:
    """Boolean mask of the pixels inside a sector geometry (see module docstring)."""
    geom = Geometry(tuple(int(s) for s in shape), tuple(float(s) for s in spacing))
    if geom.ndim != 2:
        raise ParameterError("sector geometry is defined for 2D ultrasound images")
    ay, ax = sector["apex_mm"]
    dy = geom.broadcast_axis(0) - np.float32(ay)
    dx = geom.broadcast_axis(1) - np.float32(ax)
    r = np.sqrt(dy * dy + dx * dx)
    ang = np.degrees(np.arctan2(dx, dy))
    r0, r1 = sector["radius_mm"]
    tol = 0.5 * min(spacing)
    return (r >= r0 - tol) & (r <= r1 + tol) & (np.abs(ang) <= float(sector["half_angle_deg"]) + 1e-3)


def estimate_sector(image: np.ndarray, spacing: Sequence[float],
                    threshold: float | None = None) -> dict[str, Any] | None:
    """Estimate the sector geometry (apex, radii, half angle) of a 2D ultrasound image.

    The field of view is the filled region above ``threshold`` (default 1% of the maximum); its
    left and right edges, fitted row by row with straight lines in the upper two thirds, meet at
    the apex. Returns ``None`` when the image is not a sector scan (edges not converging).
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        return None
    thr = float(threshold) if threshold is not None else 0.01 * float(img.max())
    mask = ndi.binary_fill_holes(ndi.binary_closing(img > thr, iterations=2))
    lab, n = ndi.label(mask)
    if n == 0:
        return None
    sizes = ndi.sum(mask, lab, range(1, n + 1))
    mask = lab == (int(np.argmax(sizes)) + 1)
    rows = np.where(mask.any(axis=1))[0]
    if rows.size < 8:
        return None
    geom = Geometry(img.shape, tuple(float(s) for s in spacing))
    ymm, xmm = geom.axis_mm(0), geom.axis_mm(1)
    use = rows[: max(4, int(rows.size * 2 / 3))]
    left = np.array([xmm[np.argmax(mask[r])] for r in use])
    right = np.array([xmm[mask.shape[1] - 1 - np.argmax(mask[r][::-1])] for r in use])
    yy = ymm[use]
    inner = (left > xmm[0] + 1e-6) & (right < xmm[-1] - 1e-6)  # edges touching the border are not sector edges
    if inner.sum() < 4:
        return None
    sl, il = np.polyfit(yy[inner], left[inner], 1)
    sr, ir = np.polyfit(yy[inner], right[inner], 1)
    if sr - sl <= 1e-3:  # edges do not diverge downwards: not a sector
        return None
    apex_y = (il - ir) / (sr - sl)
    apex_x = sl * apex_y + il
    half = math.degrees(0.5 * (math.atan(sr) - math.atan(sl)))
    yy_all, xx_all = np.nonzero(mask)
    r = np.hypot(ymm[yy_all] - apex_y, xmm[xx_all] - apex_x)
    return {"apex_mm": [float(apex_y), float(apex_x)], "radius_mm": [float(r.min()), float(r.max())],
            "half_angle_deg": float(half)}

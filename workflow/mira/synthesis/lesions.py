"""Placing lesions inside host organs of a rasterised phantom (CT and MRI).

A lesion is a randomly oriented, slightly irregular ellipsoid whose centre is drawn among the voxels
of its host organ that lie deep enough inside it (Euclidean distance to the organ boundary), so most
of the lesion sits inside the host; it is painted only over the host's labels. In a 2D slice the
centre lies within 0.3 radii of the slice plane, so a requested lesion always shows in the slice.
Every lesion gets its own region id (``LESION_REGION_BASE + i``) so its mean value can be set
individually.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .case import LESION_REGION_BASE
from .shapes import Painter, ellipsoid, rotation


@dataclass(frozen=True)
class HostSpec:
    """Where a lesion may grow: organ name, labels it may replace, radius range (mm)."""

    organ: str
    labels: tuple[int, ...]
    radius_mm: tuple[float, float]


def place_lesions(rng: np.random.Generator, painter: Painter, hosts: list[HostSpec], n: int) -> list[dict]:
    """Paint ``n`` lesions into ``painter.region``; returns one dict per lesion (organ, centre, radii).

    Hosts with fewer than 4 voxels on the grid are skipped. Lesion ``i`` gets region id
    ``LESION_REGION_BASE + i`` and is guaranteed at least its centre voxel.
    """
    if n <= 0:
        return []
    grid = painter.grid
    region = painter.region
    flat2d = grid.shape[0] == 1
    spacing = grid.spacing[1:] if flat2d else grid.spacing
    available = []
    for spec in hosts:
        mask = np.isin(region[0] if flat2d else region, spec.labels)
        if np.count_nonzero(mask) >= 4:
            available.append((spec, mask))
    if not available:
        available = [(s, m) for s, m in ((s, np.isin(region[0] if flat2d else region, s.labels)) for s in hosts)
                     if m.any()]
    if not available:
        return []
    depth_cache: dict[str, np.ndarray] = {}
    out: list[dict] = []
    for i in range(n):
        spec, mask = available[int(rng.integers(len(available)))]
        r = float(rng.uniform(*spec.radius_mm))
        r = max(r, 0.6 * grid.min_spacing)
        radii = r * rng.uniform(0.8, 1.2, 3)
        if flat2d:
            radii[0] = max(radii[0], r)
        rot = rotation(rng.uniform(0, 2 * np.pi), rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6))
        if spec.organ not in depth_cache:
            depth_cache[spec.organ] = ndi.distance_transform_edt(mask, sampling=spacing)
        depth = depth_cache[spec.organ].copy()
        depth[~np.isin(region[0] if flat2d else region, spec.labels)] = 0.0  # earlier lesions took voxels
        need = min(0.8 * r, 0.6 * float(depth.max()))
        cand = np.flatnonzero(depth >= max(need, 1e-6))
        if cand.size == 0:
            cand = np.flatnonzero(depth > 0) if np.any(depth > 0) else np.flatnonzero(mask)
        idx = np.unravel_index(int(cand[int(rng.integers(cand.size))]), depth.shape)
        vox = (0,) + tuple(idx) if flat2d else tuple(idx)
        centre = grid.index_to_mm(vox)
        jitter = rng.uniform(-0.5, 0.5, 3) * np.array([s if np.isfinite(s) else 0.0 for s in grid.spacing])
        centre = centre + jitter
        if flat2d:
            centre[0] = float(grid.z[0]) + rng.uniform(-0.3, 0.3) * radii[0]
        rid = LESION_REGION_BASE + i
        set_count = painter.paint(ellipsoid(grid, centre, radii, rot), rid, only=spec.labels)
        if region[vox] != rid:
            region[vox] = rid
            set_count += 1
        out.append({"organ": spec.organ, "center_mm": centre.tolist(), "radii_mm": radii.tolist(),
                    "diameter_mm": float(2.0 * np.mean(radii)), "voxels": int(set_count)})
    return out


def lesion_voxels(region: np.ndarray, count: int) -> list[int]:
    """Voxels remaining for each of ``count`` lesions (a later lesion may cover an earlier one)."""
    counts = np.bincount(region.ravel(), minlength=256)
    return [int(counts[LESION_REGION_BASE + i]) for i in range(count)]

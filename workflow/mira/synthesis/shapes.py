"""Analytic shapes in millimetre space, rasterised onto a regular grid.

Anatomy is described by ellipsoids, elliptic cylinders and tapered capsules (line segments with a
radius) in patient coordinates ``(z, y, x)`` in mm. A :class:`Grid` holds the voxel-centre coordinates
of the requested image; every shape is evaluated only inside its bounding box, so a thin rib or a
vessel segment costs little even in a large volume. A 2D image is a grid with a single ``z``
coordinate, i.e. literally an axial slice through the same anatomy as a volume.

Painting is by priority: later shapes overwrite earlier ones, optionally only where the current label
is in an ``only`` set (e.g. lung vessels only inside lung).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

Vec = Sequence[float]


@dataclass(frozen=True)
class Grid:
    """Voxel-centre coordinates (mm) of a regular image grid, numpy order ``(z, y, x)``.

    Axes must be ascending. A 2D image is a grid whose ``z`` axis has one element.
    """

    z: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @classmethod
    def regular(cls, shape: Sequence[int], spacing: Sequence[float], center: Vec) -> "Grid":
        """Grid of ``shape`` voxels of ``spacing`` mm centred on ``center`` (mm), all ``(z, y, x)``."""
        axes = [np.asarray(c + (np.arange(n) - (n - 1) / 2.0) * s, dtype=np.float32)
                for n, s, c in zip(shape, spacing, center)]
        return cls(*axes)

    @property
    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.z, self.y, self.x

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z.size, self.y.size, self.x.size)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(a[1] - a[0]) if a.size > 1 else float("inf") for a in self.axes)  # type: ignore

    @property
    def min_spacing(self) -> float:
        return min(s for s in self.spacing if np.isfinite(s))

    def box(self, lo: Vec, hi: Vec) -> tuple[slice, slice, slice] | None:
        """Index slices of the voxels whose centres lie in ``[lo, hi]`` (mm); ``None`` if empty."""
        out = []
        for ax, a, b in zip(self.axes, lo, hi):
            i0 = int(np.searchsorted(ax, a, side="left"))
            i1 = int(np.searchsorted(ax, b, side="right"))
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return tuple(out)  # type: ignore[return-value]

    def coords(self, sl: tuple[slice, slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable coordinate arrays ``(zz, yy, xx)`` (mm) of the voxels in ``sl``."""
        sl = sl or (slice(None),) * 3
        z, y, x = (ax[s] for ax, s in zip(self.axes, sl))
        return z[:, None, None], y[None, :, None], x[None, None, :]

    def index_to_mm(self, index: Sequence[int]) -> np.ndarray:
        """Coordinates (mm) of the voxel ``index`` ``(k, j, i)``."""
        return np.array([float(ax[i]) for ax, i in zip(self.axes, index)])


@dataclass
class Patch:
    """A shape evaluated in its bounding box: index slices, coordinates there and the inside mask."""

    sl: tuple[slice, slice, slice]
    zz: np.ndarray
    yy: np.ndarray
    xx: np.ndarray
    mask: np.ndarray


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """3x3 rotation matrix acting on ``(z, y, x)`` vectors (angles in radians).

    ``yaw`` turns about the z axis (in the axial plane), ``pitch`` about the x axis (in the sagittal
    plane), ``roll`` about the y axis (in the coronal plane). Columns are the rotated local axes.
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    rz = np.array([[1, 0, 0], [0, cy, sy], [0, -sy, cy]])
    rx = np.array([[cp, -sp, 0], [sp, cp, 0], [0, 0, 1]])
    ry = np.array([[cr, 0, -sr], [0, 1, 0], [sr, 0, cr]])
    return rz @ rx @ ry


def ellipsoid(grid: Grid, center: Vec, radii: Vec, rot: np.ndarray | None = None) -> Patch | None:
    """Voxels inside an ellipsoid of semi-axes ``radii`` (mm, local ``(z, y, x)``) at ``center`` (mm).

    ``rot`` (3x3, see :func:`rotation`) orients the local axes; ``None`` means axis-aligned.
    Returns ``None`` when the ellipsoid misses the grid.
    """
    c = np.asarray(center, dtype=float)
    r = np.asarray(radii, dtype=float)
    half = r if rot is None else np.full(3, r.max())
    sl = grid.box(c - half, c + half)
    if sl is None:
        return None
    zz, yy, xx = grid.coords(sl)
    dz, dy, dx = zz - np.float32(c[0]), yy - np.float32(c[1]), xx - np.float32(c[2])
    if rot is None:
        q = (dz / np.float32(r[0])) ** 2 + (dy / np.float32(r[1])) ** 2 + (dx / np.float32(r[2])) ** 2
    else:
        q = 0.0
        for k in range(3):
            u = dz * np.float32(rot[0, k]) + dy * np.float32(rot[1, k]) + dx * np.float32(rot[2, k])
            q = q + (u / np.float32(r[k])) ** 2
    return Patch(sl, zz, yy, xx, np.broadcast_to(q <= 1.0, tuple(s.stop - s.start for s in sl)))


def capsule(grid: Grid, p0: Vec, p1: Vec, r0: float, r1: float | None = None) -> Patch | None:
    """Voxels within a tapered radius of the segment ``p0``-``p1`` (mm; radius ``r0`` -> ``r1`` mm)."""
    a = np.asarray(p0, dtype=float)
    b = np.asarray(p1, dtype=float)
    r1 = r0 if r1 is None else r1
    rmax = max(r0, r1)
    sl = grid.box(np.minimum(a, b) - rmax, np.maximum(a, b) + rmax)
    if sl is None:
        return None
    zz, yy, xx = grid.coords(sl)
    d = b - a
    dd = float(d @ d)
    pz, py, px = zz - np.float32(a[0]), yy - np.float32(a[1]), xx - np.float32(a[2])
    if dd > 0:
        t = (pz * np.float32(d[0] / dd) + py * np.float32(d[1] / dd) + px * np.float32(d[2] / dd))
        t = np.clip(t, 0.0, 1.0)
    else:
        t = np.zeros((1, 1, 1), np.float32)
    dist2 = (pz - t * np.float32(d[0])) ** 2 + (py - t * np.float32(d[1])) ** 2 + (px - t * np.float32(d[2])) ** 2
    rad = np.float32(r0) + t * np.float32(r1 - r0)
    return Patch(sl, zz, yy, xx, dist2 <= rad * rad)


def polyline(grid: Grid, points: Sequence[Vec], radius: float | Sequence[float]) -> Iterable[Patch]:
    """Capsules along a polyline of ``points`` (mm) with one radius or one radius per point (mm)."""
    if np.isscalar(radius):
        radii = [float(radius)] * len(points)  # type: ignore[arg-type]
    else:
        radii = [float(r) for r in radius]  # type: ignore[union-attr]
    for k in range(len(points) - 1):
        patch = capsule(grid, points[k], points[k + 1], radii[k], radii[k + 1])
        if patch is not None:
            yield patch


def superellipse_cylinder(grid: Grid, center_yx: Vec, semi_yx: Vec, power: float = 2.0,
                          z_range: Vec = (-np.inf, np.inf), semi_scale_z=None) -> Patch | None:
    """Voxels inside a z-aligned cylinder with superelliptic cross-section ``|y/b|^p + |x/a|^p <= 1``.

    ``semi_yx`` are the semi-axes (mm); ``semi_scale_z`` is an optional function of ``z`` (mm array,
    shape ``(nz, 1, 1)``) returning a factor on both semi-axes (a body that narrows to the neck).
    """
    cy, cx = center_yx
    b, a = semi_yx
    lo = (max(z_range[0], float(grid.z[0]) - 1), cy - b, cx - a)
    hi = (min(z_range[1], float(grid.z[-1]) + 1), cy + b, cx + a)
    sl = grid.box(lo, hi)
    if sl is None:
        return None
    zz, yy, xx = grid.coords(sl)
    scale = np.float32(1.0) if semi_scale_z is None else np.asarray(semi_scale_z(zz), dtype=np.float32)
    q = np.abs((yy - np.float32(cy)) / (np.float32(b) * scale)) ** power + \
        np.abs((xx - np.float32(cx)) / (np.float32(a) * scale)) ** power
    shape = tuple(s.stop - s.start for s in sl)
    return Patch(sl, zz, yy, xx, np.broadcast_to(q <= 1.0, shape))


class Painter:
    """Paints shapes into a ``uint8`` region map by priority.

    ``only`` restricts a paint to voxels whose current region is in the given collection; ``where``
    adds an extra boolean condition evaluated on the patch (same shape or broadcastable).
    """

    def __init__(self, grid: Grid, fill: int = 0):
        self.grid = grid
        self.region = np.full(grid.shape, fill, dtype=np.uint8)

    def paint(self, patch: Patch | None, value: int, only: Iterable[int] | None = None,
              where: np.ndarray | None = None, exclude: Iterable[int] | None = None) -> int:
        """Set ``region = value`` inside ``patch`` (subject to ``only``/``where``/``exclude``); returns voxels set."""
        if patch is None:
            return 0
        sub = self.region[patch.sl]
        mask = patch.mask
        if where is not None:
            mask = mask & where
        if only is not None:
            lut = np.zeros(256, dtype=bool)
            lut[list(only)] = True
            mask = mask & lut[sub]
        if exclude is not None:
            lut = np.ones(256, dtype=bool)
            lut[list(exclude)] = False
            mask = mask & lut[sub]
        mask = np.broadcast_to(mask, sub.shape)
        sub[mask] = value
        return int(np.count_nonzero(mask))

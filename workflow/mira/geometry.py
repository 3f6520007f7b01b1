"""Physical geometry of an image: where its pixels lie in the patient, in millimetres.

mira keeps arrays in numpy index order, ``(z, y, x)`` for volumes and ``(y, x)`` for 2D images, and
their ``spacing`` in the same order (mm). What a bare array loses is *where* it lies and *which way*
it faces; :class:`Geometry` keeps that, in the convention of DICOM and ITK (what SimpleITK, 3D Slicer
and ITK-SNAP use):

* patient coordinates are **LPS**: +x towards the patient's Left, +y Posterior, +z Superior (head);
* ``origin`` is the position (mm, LPS) of the *centre* of the first pixel, array index ``[0, 0, 0]``
  (DICOM ``ImagePositionPatient`` of the first slice);
* ``direction`` is a 3 x 3 matrix, row-major, whose **column j** is the unit vector in LPS along
  which ITK index axis ``j`` increases. ITK index axes are numpy axes reversed: column 0 belongs to
  the last numpy axis (``x``, along a row: DICOM ``ImageOrientationPatient[0:3]``), column 1 to
  ``y`` (down the columns: ``ImageOrientationPatient[3:6]``), column 2 to ``z`` (slice order, the
  slice normal for a DICOM series stacked by position).

So the LPS position of numpy index ``(k, j, i)`` of a volume with spacing ``(dz, dy, dx)`` is
``origin + D @ [i * dx, j * dy, k * dz]``. A 2D image keeps the full 3D placement of its plane (a
single CT slice stays where it was in the patient): its third direction column is the plane's
normal and :attr:`Geometry.thickness` its slice thickness; on disk it is a one-slice volume.

Phantoms have the identity geometry (origin 0, axes along LPS); mira never reorients an array, it
carries the geometry of its input along, so any output overlays its input in a viewer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import InputError

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

#: Largest deviation from orthonormality accepted for a direction matrix.
ORTHO_TOL = 1e-3


@dataclass(frozen=True)
class Geometry:
    """Origin and axis directions of an image in patient coordinates (LPS, mm); see the module docstring.

    Attributes
    ----------
    origin : (float, float, float)
        LPS position in mm of the centre of array index 0 (all axes).
    direction : tuple of 9 float
        Row-major 3 x 3 matrix; column ``j`` is the LPS unit vector of ITK index axis ``j``
        (0 = numpy's last axis ``x``, 1 = ``y``, 2 = ``z``).
    thickness : float or None
        2D images only: slice thickness in mm (third spacing on disk); ``None`` = 1 mm.
    """

    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = _IDENTITY
    thickness: float | None = None

    def __post_init__(self) -> None:
        origin = tuple(float(v) for v in self.origin)
        direction = tuple(float(v) for v in np.asarray(self.direction, dtype=np.float64).ravel())
        if len(origin) != 3 or len(direction) != 9:
            raise InputError(f"geometry needs a 3-vector origin and a 3x3 direction, "
                             f"got {self.origin} / {self.direction}")
        if not all(np.isfinite(origin)) or not all(np.isfinite(direction)):
            raise InputError(f"geometry with non-finite origin or direction: {origin} / {direction}")
        m = np.asarray(direction).reshape(3, 3)
        if np.max(np.abs(m.T @ m - np.eye(3))) > ORTHO_TOL:
            raise InputError(f"geometry direction is not orthonormal: {direction}")
        if self.thickness is not None and not (np.isfinite(self.thickness) and self.thickness > 0):
            raise InputError(f"geometry thickness must be a positive number of mm, got {self.thickness}")
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)
        if self.thickness is not None:
            object.__setattr__(self, "thickness", float(self.thickness))

    @property
    def matrix(self) -> np.ndarray:
        """The direction as a 3 x 3 array (columns = LPS unit vectors of the ITK index axes x, y, z)."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    def is_identity(self) -> bool:
        """``True`` for the phantoms' placement: origin 0, axes along LPS."""
        return self.origin == (0.0, 0.0, 0.0) and self.direction == _IDENTITY

    def shifted(self, offset: Sequence[float], spacing: Sequence[float]) -> "Geometry":
        """The geometry of a grid whose index 0 lies at ``offset`` pixels (numpy order) of this one.

        Parameters
        ----------
        offset : sequence of float
            Position of the new grid's first pixel centre, in pixels of this grid, numpy order
            (``(y, x)`` or ``(z, y, x)``); may be fractional (e.g. ``(s - 1) / 2`` for the centre of
            an ``s``-pixel block).
        spacing : sequence of float
            This grid's spacing in mm, numpy order, same length as ``offset``.
        """
        if len(offset) != len(spacing) or len(offset) not in (2, 3):
            raise InputError(f"offset {tuple(offset)} and spacing {tuple(spacing)} must both have 2 or 3 entries")
        step = np.zeros(3)
        step[: len(offset)] = np.asarray(offset, dtype=np.float64)[::-1] * np.asarray(spacing, dtype=np.float64)[::-1]
        origin = np.asarray(self.origin) + self.matrix @ step
        return Geometry(tuple(origin), self.direction, self.thickness)

    def physical_point(self, index: Sequence[float], spacing: Sequence[float]) -> np.ndarray:
        """LPS position (mm) of numpy index ``index`` on a grid of ``spacing`` (numpy order)."""
        return np.asarray(self.shifted(index, spacing).origin)

    def close_to(self, other: "Geometry", atol_mm: float = 1e-3, atol_dir: float = 1e-4) -> bool:
        """Same origin (within ``atol_mm``) and direction (within ``atol_dir``)."""
        return bool(np.allclose(self.origin, other.origin, atol=atol_mm, rtol=0)
                    and np.allclose(self.direction, other.direction, atol=atol_dir, rtol=0))

    @classmethod
    def from_dicom_plane(cls, iop: Sequence[float], ipp: Sequence[float], normal: Sequence[float] | None = None,
                         thickness: float | None = None) -> "Geometry":
        """Geometry from DICOM ``ImageOrientationPatient`` (6 values) and ``ImagePositionPatient`` (3).

        ``normal`` is the direction of increasing slice index (default: row x column cosines).
        """
        row = np.asarray(iop[:3], dtype=np.float64)
        col = np.asarray(iop[3:6], dtype=np.float64)
        row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
        n = np.cross(row, col) if normal is None else np.asarray(normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        m = np.stack([row, col, n], axis=1)
        return cls(tuple(float(v) for v in ipp), tuple(m.ravel()), thickness)


IDENTITY = Geometry()

"""Spacing and placement of DICOM images from their tags.

* **In-plane spacing**: ``PixelSpacing`` (also in the functional groups), else
  ``ImagerPixelSpacing`` (X-ray), else ``SequenceOfUltrasoundRegions`` ``PhysicalDeltaY/X``
  (cm -> mm), else the source's ``spacing_mm``, else 1.0 mm with a warning in the log.
* **Slice order and spacing**: positions (``ImagePositionPatient``) projected on the slice normal
  (``ImageOrientationPatient``); duplicate, missing and unevenly spaced slices are refused.
* **Geometry** (:mod:`mira.geometry`): the first slice's position is the origin, the orientation gives
  the row and column directions, the slice normal the third.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .dicom import number_of_frames

log = logging.getLogger("mira.ingest")


def positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(pair) != 2 or not all(np.isfinite(v) and v > 0 for v in pair):
        return None
    return pair  # type: ignore[return-value]


def functional_items(ds: Any, keyword: str) -> list[Any]:
    items = []
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if group in ds and len(ds[group].value):
            first = ds[group].value[0]
            if keyword in first and len(first[keyword].value):
                items.append(first[keyword].value[0])
    return items


def inplane_spacing(ds: Any, path: Path, fallback: tuple[float, float] | None = None) -> tuple[float, float]:
    """In-plane spacing ``(dy, dx)`` in mm from the tags (see the module docstring for the order).

    ``PixelSpacing`` is ``[row spacing, column spacing]``, i.e. already ``(dy, dx)``.
    """
    candidates = [("PixelSpacing", ds.get("PixelSpacing"))]
    candidates += [("PixelMeasuresSequence.PixelSpacing", item.get("PixelSpacing"))
                   for item in functional_items(ds, "PixelMeasuresSequence")]
    candidates.append(("ImagerPixelSpacing", ds.get("ImagerPixelSpacing")))
    for _, value in candidates:
        pair = positive_pair(value) if value is not None else None
        if pair is not None:
            return pair
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        ranked = sorted(regions, key=lambda r: 0 if r.get("RegionSpatialFormat") == 1 else 1)
        for region in ranked:
            if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalUnitsYDirection") == 3:
                pair = positive_pair([region.get("PhysicalDeltaY"), region.get("PhysicalDeltaX")])
                if pair is not None:
                    return (pair[0] * 10.0, pair[1] * 10.0)  # cm -> mm
    if fallback is not None:
        return fallback
    log.warning("%s: no pixel spacing in the DICOM tags; using 1.0 mm", path)
    return (1.0, 1.0)


def orientation_of(ds: Any) -> np.ndarray | None:
    value = ds.get("ImageOrientationPatient")
    if value is None:
        for item in functional_items(ds, "PlaneOrientationSequence"):
            value = item.get("ImageOrientationPatient")
    try:
        iop = np.asarray([float(v) for v in value], dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        return None
    return iop if iop is not None and iop.shape == (6,) and np.all(np.isfinite(iop)) else None


def slice_normal(iop: np.ndarray) -> np.ndarray:
    normal = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def as_position(value: Any) -> np.ndarray | None:
    try:
        pos = np.asarray([float(v) for v in value], dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        return None
    return pos if pos is not None and pos.shape == (3,) and np.all(np.isfinite(pos)) else None


def slice_thickness_of(ds: Any) -> float | None:
    sources = [ds] + functional_items(ds, "PixelMeasuresSequence")
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        for item in sources:
            try:
                value = float(item.get(key)) if item.get(key) is not None else None
            except (TypeError, ValueError):
                value = None
            if value is not None and np.isfinite(value) and value > 0:
                return value
    return None


def uniform_gap(proj_sorted: np.ndarray, where: str, names: Sequence[str] | None = None) -> float:
    """Median gap (mm) between sorted slice positions; refuses duplicates, missing slices and uneven gaps.

    ``names`` (the files or frames in the same order) are named in the message.
    """
    gaps = np.diff(proj_sorted)
    label = (lambda i: names[i]) if names is not None else (lambda i: f"slice {i}")
    if np.any(gaps < 1e-4):
        i = int(np.argmax(gaps < 1e-4))
        raise InputError(f"{where}: several slices at the same position ({label(i)} and {label(i + 1)} at "
                         f"{proj_sorted[i]:.4g} mm: duplicates, or several echoes/phases in one series); select one "
                         "volume with `include`")
    dz = float(np.median(gaps))
    off = np.abs(gaps - dz) > max(0.01, 0.05 * dz)
    if np.any(off):
        i = int(np.argmax(np.abs(gaps - dz)))
        ratio = gaps[i] / dz
        if ratio > 1.5 and abs(ratio - round(ratio)) < 0.1:
            raise InputError(f"{where}: {int(round(ratio)) - 1} missing slice(s) between {label(i)} and {label(i + 1)} "
                             f"(positions {proj_sorted[i]:.4g} and {proj_sorted[i + 1]:.4g} mm along the slice normal, "
                             f"{gaps[i]:.4g} mm apart; the other slices are {dz:.4g} mm apart)")
        raise InputError(f"{where}: non-uniform slice spacing (gaps {gaps.min():.4g}..{gaps.max():.4g} mm, the "
                         f"largest between {label(i)} and {label(i + 1)}; gantry tilt or missing slices?)")
    return dz


def plane_geometry(iop: np.ndarray | None, position: np.ndarray | None,
                   thickness: float | None = None) -> Geometry | None:
    """Geometry of a slice (or of a stack whose first slice it is); ``None`` without both tags."""
    if iop is None or position is None:
        return None
    try:
        return Geometry.from_dicom_plane(iop, position, thickness=thickness)
    except InputError:  # e.g. non-orthogonal cosines: no trustworthy placement
        return None


def multiframe_order_and_dz(ds: Any, path: Path) -> tuple[list[int], float, Geometry | None]:
    """Frame order (by position along the normal), slice spacing in mm and geometry of an enhanced multi-frame file."""
    n = number_of_frames(ds)
    iop = orientation_of(ds)
    positions = []
    if iop is not None and "PerFrameFunctionalGroupsSequence" in ds and len(ds.PerFrameFunctionalGroupsSequence) == n:
        for item in ds.PerFrameFunctionalGroupsSequence:
            seq = item.get("PlanePositionSequence")
            positions.append(as_position(seq[0].get("ImagePositionPatient")) if seq else None)
    if n > 1 and positions and all(p is not None for p in positions):
        proj = np.array([float(np.dot(p, slice_normal(iop))) for p in positions])
        order = [int(i) for i in np.argsort(proj, kind="stable")]
        dz = uniform_gap(proj[order], str(path), [f"frame {k + 1}" for k in order])
        return order, dz, plane_geometry(iop, positions[order[0]])
    dz = slice_thickness_of(ds)
    if dz is None:
        log.warning("%s: no slice positions or thickness for %d frames; using 1.0 mm between frames", path, n)
        dz = 1.0
    return list(range(n)), dz, None

"""Decoded DICOM images: one file (single- or multi-frame) or a series of single-frame slices.

Series of single-frame CT/MRI slices are stacked in order of ``ImagePositionPatient`` projected on
the slice normal (``ImageOrientationPatient``), or of ``InstanceNumber`` when positions are missing.
The spacing is taken from SimpleITK's ``ImageSeriesReader`` (GDCM) and cross-checked against
``PixelSpacing`` and the slice position differences. Every slice must agree on size,
``ImageOrientationPatient`` and ``PixelSpacing``; a gap in the positions (or in the ``InstanceNumber``
sequence when positions are absent) is a missing slice and an error naming the files on both sides;
slices with neither positions nor unique instance numbers are refused.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError, UnreadableError
from .dicom import SPACING_ATOL, SPACING_RTOL, describe_error, has_pixels, number_of_frames, read_dataset
from .dicom_geometry import (
    as_position,
    functional_items,
    inplane_spacing,
    multiframe_order_and_dz,
    orientation_of,
    plane_geometry,
    positive_pair,
    slice_normal,
    slice_thickness_of,
    uniform_gap,
)
from .dicom_pixels import decode_pixels
from .normalise import Decoded

log = logging.getLogger("mira.ingest")


def decode_file(path: Path, modality: str, frames: Sequence[int] | None = None,
                fallback: tuple[float, float] | None = None, ct_rescale: tuple[float, float] | None = None,
                rescale_key: str = "ct_rescale") -> Decoded:
    """Read and decode one DICOM file (single- or multi-frame) into a :class:`Decoded`.

    For CT/MRI multi-frame files, frames are put in slice order and the third spacing is the slice
    spacing; for X-ray/US multi-frame files (``frames`` selects which), the frame axis spacing is 1.
    The data set is read afresh and dropped afterwards, so decoded pixels never pile up in memory.
    ``ct_rescale``/``rescale_key`` as in :func:`decode_pixels`.
    """
    ds = read_dataset(path)
    if not has_pixels(ds):
        raise UnreadableError(f"{path}: DICOM file without pixel data (SOP Class {ds.get('SOPClassUID', '?')})")
    dy, dx = inplane_spacing(ds, path, fallback)
    n = number_of_frames(ds)
    if n > 1 and modality in ("ct", "mri"):
        order, dz, geometry = multiframe_order_and_dz(ds, path)
        values, full, calibrated = decode_pixels(ds, path, modality, None, ct_rescale, rescale_key)
        values = values[order]
        return Decoded(values, (dz, dy, dx), str(path), full, calibrated, geometry)
    values, full, calibrated = decode_pixels(ds, path, modality, frames, ct_rescale, rescale_key)
    spacing = (dy, dx) if values.ndim == 2 else (1.0, dy, dx)
    geometry = None
    if n == 1:  # a single slice keeps its place in the patient; cine frames carry no per-frame position
        geometry = plane_geometry(orientation_of(ds), as_position(ds.get("ImagePositionPatient")),
                                  slice_thickness_of(ds))
    return Decoded(values, spacing, str(path), full, calibrated, geometry)



def _names(files: Sequence[Path] | None, n: int) -> list[str]:
    return [str(f) for f in files] if files is not None else [f"slice {i}" for i in range(n)]


def slice_order(headers: Sequence[Any], where: str, files: Sequence[Path] | None = None
                ) -> tuple[list[int], float | None]:
    """Order of single-frame slices along the slice normal, and the slice spacing from the tags.

    Returns
    -------
    order : list of int
        Indices into ``headers`` from the lowest to the highest position along the normal
        (``ImagePositionPatient . (row x col)``), or by ``InstanceNumber`` when positions are
        missing.
    dz : float or None
        Median position difference in mm, or ``None`` when positions are missing (the caller then
        uses ``SpacingBetweenSlices``/``SliceThickness``).

    Raises
    ------
    InputError
        Mixed orientations, duplicate positions, missing slices (a gap in the positions, or in the
        instance numbers when positions are missing), uneven gaps, or slices whose order is unknown
        (neither positions nor unique instance numbers). ``files`` are named in the messages.
    """
    names = _names(files, len(headers))
    iops = [orientation_of(h) for h in headers]
    positions = [as_position(h.get("ImagePositionPatient")) for h in headers]
    if all(i is not None for i in iops) and all(p is not None for p in positions):
        ref = iops[0]
        bad = next((k for k, i in enumerate(iops) if not np.allclose(i, ref, atol=1e-4)), None)
        if bad is not None:
            raise InputError(f"{where}: slices with different ImageOrientationPatient in one series ({names[0]} and "
                             f"{names[bad]}: a localizer mixed in?); select the axial slices with `include`")
        normal = slice_normal(ref)
        proj = np.array([float(np.dot(p, normal)) for p in positions])
        order = [int(i) for i in np.argsort(proj, kind="stable")]
        return order, uniform_gap(proj[order], where, [names[i] for i in order])
    numbers = []
    for h in headers:
        try:
            numbers.append(int(h.get("InstanceNumber")))
        except (TypeError, ValueError):
            numbers.append(None)
    if all(v is not None for v in numbers) and len(set(numbers)) == len(numbers):
        order = [int(i) for i in np.argsort(numbers, kind="stable")]
        ranked = [numbers[i] for i in order]
        for a, b in zip(range(len(order) - 1), range(1, len(order))):
            if ranked[b] - ranked[a] != 1:
                raise InputError(
                    f"{where}: slices lack ImagePositionPatient, and InstanceNumber jumps from {ranked[a]} "
                    f"({names[order[a]]}) to {ranked[b]} ({names[order[b]]}): {ranked[b] - ranked[a] - 1} missing "
                    "slice(s)")
        log.warning("%s: slices lack ImagePositionPatient/ImageOrientationPatient; ordered by InstanceNumber", where)
        return order, None
    raise InputError(f"{where}: slices have neither ImagePositionPatient/ImageOrientationPatient nor unique "
                     "InstanceNumbers, so their order in the volume is unknown; ingest them one by one "
                     "(one `include` pattern per file, modality xray/us) or fix the export")


def sitk_series_spacing(files: Sequence[Path]) -> tuple[float, float, float] | None:
    """Spacing ``(dz, dy, dx)`` in mm of a sorted slice list read by SimpleITK's ``ImageSeriesReader``.

    ITK takes the slice spacing from the origins of the first two files (their Euclidean distance)
    and the in-plane spacing from the first file, so only the first two slices are read: the result
    is the same as for the whole series at a fraction of the cost. Uniformity over the whole series
    is checked from the tags (:func:`slice_order`). Returns ``None`` (and logs a warning) when GDCM
    cannot read the files.
    """
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files[:2]])
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        log.warning("%s...: SimpleITK/GDCM cannot read the series (%s); spacing from the tags only",
                    files[0], describe_error(exc))
        return None
    sx, sy, sz = img.GetSpacing()
    return (float(sz), float(sy), float(sx))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= SPACING_ATOL + SPACING_RTOL * abs(b)


def decode_series(files: Sequence[Path], headers: Sequence[Any], modality: str, where: str,
                  fallback: tuple[float, float] | None = None, ct_rescale: tuple[float, float] | None = None,
                  rescale_key: str = "ct_rescale") -> Decoded:
    """Stack single-frame slices of one series into a ``(z, y, x)`` volume with verified spacing.

    Parameters
    ----------
    files, headers : sequences
        The series' files and their data sets (same order, any order on disk).
    modality : str
        ``"ct"`` or ``"mri"``.
    where : str
        Folder/series description used in error messages.
    fallback : (float, float), optional
        In-plane spacing when the tags have none.
    ct_rescale, rescale_key
        As in :func:`decode_pixels`.

    Raises
    ------
    InputError
        Mixed slice sizes, orientations or pixel spacings, duplicate, missing or uneven positions,
        an undecodable slice, or a SimpleITK spacing that disagrees with the tags; the message names
        the series and the files concerned.
    """
    sizes: dict[tuple[int, int], Path] = {}
    for f, h in zip(files, headers):
        sizes.setdefault((int(h.get("Rows", 0) or 0), int(h.get("Columns", 0) or 0)), f)
    if len(sizes) > 1:
        shown = ", ".join(f"{r}x{c} ({f})" for (r, c), f in sorted(sizes.items()))
        raise InputError(f"{where}: slices of mixed sizes {sorted(sizes)} (rows x columns) in one series: {shown}")
    spacings: dict[tuple[float, float] | None, Path] = {}
    for f, h in zip(files, headers):
        pair = positive_pair(h.get("PixelSpacing")) if h.get("PixelSpacing") is not None else None
        key = None if pair is None else (round(pair[0], 4), round(pair[1], 4))
        spacings.setdefault(key, f)
    if len(spacings) > 1:
        shown = ", ".join(f"{k} ({f})" for k, f in spacings.items())
        raise InputError(f"{where}: slices with different PixelSpacing in one series: {shown}")
    order, dz_tags = slice_order(headers, where, files)
    files = [files[i] for i in order]
    headers = [headers[i] for i in order]

    slices, fulls, calibrated = [], set(), True
    for f in files:
        ds = read_dataset(f)
        values, full, cal = decode_pixels(ds, f, modality, None, ct_rescale, rescale_key)
        if values.ndim != 2:
            raise InputError(f"{f}: expected a single-frame slice in series {where}")
        slices.append(values)
        fulls.add(full)
        calibrated &= cal
    volume = np.stack(slices)
    full = None
    if None not in fulls:
        full = (min(f[0] for f in fulls), max(f[1] for f in fulls))  # type: ignore[index]

    dy, dx = inplane_spacing(headers[0], files[0], fallback)
    dz = dz_tags if dz_tags is not None else slice_thickness_of(headers[0])
    if dz is None:
        log.warning("%s: no slice spacing in the tags; using 1.0 mm", where)
        dz = 1.0
    tags = (dz, dy, dx)
    itk = sitk_series_spacing(files)
    spacing = tags
    if itk is not None:
        checked = [0, 1, 2] if dz_tags is not None else [1, 2]
        if "PixelSpacing" not in headers[0] and not functional_items(headers[0], "PixelMeasuresSequence"):
            checked = [i for i in checked if i == 0]
        bad = [i for i in checked if not _close(itk[i], tags[i])]
        if bad:
            raise InputError(f"{where}: spacing from SimpleITK {itk} disagrees with the DICOM tags {tags} "
                             "(z from slice positions, y/x from PixelSpacing); gantry tilt or inconsistent tags?")
        spacing = tuple(itk[i] if i in checked else tags[i] for i in range(3))
    geometry = None
    if dz_tags is not None:  # sorted by position: the first slice is the origin, the normal the z axis
        geometry = plane_geometry(orientation_of(headers[0]), as_position(headers[0].get("ImagePositionPatient")))
    return Decoded(volume, tuple(float(s) for s in spacing), where, full, calibrated, geometry)

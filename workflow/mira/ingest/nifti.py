"""NIfTI images (``.nii``, ``.nii.gz``) through SimpleITK, with their header spacing, checked whole.

Values are taken as stored after the header's ``scl_slope``/``scl_inter`` (applied by ITK): HU for
CT, magnitude for MRI. For X-ray/US, ``uint8`` files are scaled by 255; other types carry no
bits-stored information (a ``uint16`` file often holds 12-bit data), so they are used as they are when
already in [0, 1], else min-max scaled per case with a warning in the log. 4D images are refused.

SimpleITK decodes the pixels; what it does *not* check is done here, from the header
(:func:`mira.nifti_file.read_header`) and one streaming pass over the voxel data
(:func:`mira.nifti_file.scan_voxels`, chunked, the ``.nii.gz`` stream decompressed on the fly,
never held whole in memory):

* a file shorter than its header says (cut download, disk full while it was written, a gzip stream
  that ends early) is refused: ITK would fill the missing voxels with zeros;
* NaN and inf voxels are refused: ITK's NIfTI reader silently replaces them by 0;
* a pixdim of 0, negative or NaN on a spatial axis is refused (ITK would use 1.0 mm) unless the
  source's ``spacing_mm`` gives that axis;
* vector images (RGB, ``dim[5] > 1``) are refused by name.

The same header/stream check verifies every NIfTI file mira writes
(:func:`mira.nifti_file.nifti_problem`, used by :func:`mira.io.write_image`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError, UnreadableError
from ..io import read_image_with_geometry
from ..nifti_file import NiftiHeader, read_header, scan_voxels, truncation_problem
from .normalise import Decoded

NIFTI_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")

def _spacing_override(path: Path, header: NiftiHeader, spacing_mm: Sequence[float] | None) -> dict[int, float]:
    """Spacing (mm) to use for the spatial axes whose pixdim is invalid, by NIfTI axis (0 = x).

    Raises :class:`InputError` when an invalid axis is not given by ``spacing_mm``. An axis of one
    voxel (the z of a single-slice file) has no spacing to speak of and is not checked.
    """
    spatial = header.pixdim[:min(len(header.dims), 3)]
    bad = [i for i, p in enumerate(spatial) if not (math.isfinite(p) and p > 0) and header.dims[i] > 1]
    if not bad:
        return {}
    names = "xyz"
    shown = ", ".join(f"{names[i]} {p:g}" for i, p in enumerate(spatial))
    given_xyz = tuple(float(s) for s in reversed(tuple(spacing_mm))) if spacing_mm is not None else ()
    missing = [i for i in bad if i >= len(given_xyz)]
    if spacing_mm is None:
        order = "[dz, dy, dx]" if len(spatial) == 3 else "[dy, dx]"
        raise InputError(f"{path}: invalid voxel spacing in the NIfTI header (pixdim {shown}; must be a positive "
                         f"number of mm); set spacing_mm: {order} in the source's spec to give it")
    if missing:
        axes = ", ".join("d" + names[i] for i in missing)
        raise InputError(f"{path}: invalid voxel spacing in the NIfTI header (pixdim {shown}) and the source's "
                         f"spacing_mm {tuple(spacing_mm)} does not give {axes}: set spacing_mm: [dz, dy, dx]")
    return {i: given_xyz[i] for i in bad}


def _vector_error(path: Path, components: int) -> InputError:
    hint = " (RGB?)" if components in (3, 4) else ""
    return InputError(f"{path}: vector image with {components} components per voxel{hint}; mira needs a scalar image")


def read_nifti(path: Path, spacing_mm: Sequence[float] | None = None) -> Decoded:
    """Read a NIfTI file as ``(y, x)`` or ``(z, y, x)`` values with spacing in mm and its geometry.

    Parameters
    ----------
    path : Path
        ``.nii`` or ``.nii.gz`` file (opened read-only).
    spacing_mm : sequence of float, optional
        The source's override, ``(dy, dx)`` or ``(dz, dy, dx)`` in mm (numpy order); used only for
        the axes whose header pixdim is 0, negative or NaN.

    Raises
    ------
    InputError
        The message names the file. :class:`~mira.errors.UnreadableError` (skipped under
        ``on_unreadable: skip``): not NIfTI or header cut short; file shorter than its header
        says (truncated, gzip stream ending early). Plain :class:`InputError`: invalid pixdim
        not covered by ``spacing_mm``; vector/RGB image; 4D image; NaN/inf voxels; anything
        SimpleITK cannot decode.
    """
    path = Path(path)
    header = read_header(path)
    if header.components > 1:
        raise _vector_error(path, header.components)
    if any(d > 1 for d in header.dims[3:]):
        raise InputError(f"{path}: expected a 2D or 3D image, got a {len(header.dims)}D image of "
                         f"{header.describe()} voxels")
    override = _spacing_override(path, header, spacing_mm)
    scan = scan_voxels(path, header, nonfinite=True)
    problem = truncation_problem(header, scan)
    if problem:
        raise UnreadableError(f"{path}: {problem}")
    if scan.nonfinite:
        raise InputError(f"{path}: {scan.nonfinite} NaN or inf voxel values in the file")
    info = sitk.ImageFileReader()
    info.SetFileName(str(path))
    try:
        info.ReadImageInformation()
        components = info.GetNumberOfComponents()
    except RuntimeError:
        components = 1  # the full read below reports the decoding error with its own message
    if components > 1:
        raise _vector_error(path, components)

    arr, spacing, geometry = read_image_with_geometry(path, dtype=None)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr, spacing = arr[0], spacing[1:]
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: expected a 2D or 3D image, got shape {arr.shape}")
    if arr.dtype.kind not in "uif" and arr.dtype != np.bool_:
        raise InputError(f"{path}: unsupported pixel type {arr.dtype} (vector or complex image?)")
    spacing = [float(s) for s in spacing]
    for axis, value in override.items():  # NIfTI axis 0 = x = last numpy axis
        if axis < arr.ndim:
            spacing[arr.ndim - 1 - axis] = value
    full = None
    if arr.dtype == np.uint8:
        full = (0.0, 255.0)
    elif arr.dtype == np.bool_:
        full = (0.0, 1.0)
    return Decoded(arr.astype(np.float64), tuple(spacing), str(path), full, calibrated=True,
                   geometry=geometry)

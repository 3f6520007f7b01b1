"""Image files: NIfTI read/write through SimpleITK, with spacing, in the data contract's conventions.

Conventions used everywhere in mira:

* arrays are numpy arrays in index order ``(z, y, x)`` for 3D and ``(y, x)`` for 2D;
* ``spacing`` is a tuple in the same order, in millimetres;
* images are ``float32`` in the modality's native units (HU for CT); label maps are ``uint8``
  (``uint16`` if more than 255 labels);
* where an image lies in the patient (origin and axis directions, LPS) travels as a
  :class:`mira.geometry.Geometry` beside the array and is written into every file. A 2D image with a
  geometry is stored as a one-slice volume (its plane keeps its place in 3D); readers that know the
  image is 2D (``ndim=2``: the manifests record it) get the ``(y, x)`` array back.

SimpleITK orders spacing, origin and direction ``(x, y, z)``; the conversion happens here and nowhere
else.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path, cannot_write
from .errors import InputError, OutputError
from .geometry import Geometry
from .nifti_file import written_file_problem

PathLike = Union[str, os.PathLike]


def to_sitk(array: np.ndarray, spacing: Sequence[float], geometry: Geometry | None = None) -> sitk.Image:
    """Wrap ``array`` (numpy order) with ``spacing`` (numpy order, mm) into a SimpleITK image.

    With a ``geometry`` the image gets its origin and direction; a 2D array then becomes a one-slice
    volume whose third spacing is ``geometry.thickness`` (1 mm when unknown). Without one, the image
    has ITK's defaults (origin 0, identity direction) and the array's own dimension.
    """
    if array.ndim not in (2, 3):
        raise InputError(f"expected a 2D or 3D array, got shape {array.shape}")
    if len(spacing) != array.ndim:
        raise InputError(f"spacing {tuple(spacing)} does not match array of {array.ndim} dimensions")
    spacing_xyz = tuple(float(s) for s in reversed(tuple(spacing)))
    if geometry is not None and array.ndim == 2:
        array = array[None]
        spacing_xyz = spacing_xyz + (float(geometry.thickness or 1.0),)
    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing(spacing_xyz)
    if geometry is not None:
        img.SetOrigin(geometry.origin)
        img.SetDirection(geometry.direction)
    return img


def geometry_of(img: sitk.Image) -> Geometry:
    """The :class:`~mira.geometry.Geometry` of a 2D or 3D SimpleITK image (a 2D plane is put at z = 0)."""
    dim = img.GetDimension()
    origin = [float(v) for v in img.GetOrigin()]
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(dim, dim)
    if dim == 3:
        return Geometry(tuple(origin), tuple(direction.ravel()))
    if dim == 2:
        m = np.eye(3)
        m[:2, :2] = direction
        return Geometry((origin[0], origin[1], 0.0), tuple(m.ravel()))
    raise InputError(f"expected a 2D or 3D image, got {dim} dimensions")


def from_sitk(img: sitk.Image, ndim: int | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Return ``(array, spacing)`` in numpy order from a SimpleITK image.

    ``ndim=2`` turns a one-slice volume (a 2D image stored with its geometry) into ``(y, x)``.
    """
    arr, spacing = sitk.GetArrayFromImage(img), tuple(float(s) for s in reversed(img.GetSpacing()))
    if ndim == 2 and arr.ndim == 3 and arr.shape[0] == 1:
        arr, spacing = arr[0], spacing[1:]
    return arr, spacing


def _written_problem(tmp: Path) -> str | None:
    """Why a file just written is incomplete (empty; for NIfTI: header or voxel data cut short), or ``None``."""
    if tmp.stat().st_size == 0:
        return "the file on disk is empty"
    if tmp.name.lower().endswith((".nii", ".nii.gz")):
        return written_file_problem(tmp)
    return None


def _write_checked(path: PathLike, img: sitk.Image) -> None:
    """``sitk.WriteImage`` to a temporary sibling, check the file on disk, then rename it to ``path``.

    SimpleITK's NIfTI writer reports a short write (disk full, quota, file size limit) only on
    stderr and returns normally, so the written file is checked on disk (header, data length: the
    gzip trailer's length, or the whole stream when that does not match) before it is renamed into
    place.

    Raises
    ------
    OutputError
        Naming ``path`` and the reason; the temporary file is removed and ``path`` is untouched.
    """
    final = Path(path)
    with atomic_path(final) as tmp:
        try:
            sitk.WriteImage(img, str(tmp), useCompression=True)
            problem = _written_problem(tmp)
        except RuntimeError as exc:
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            raise OutputError(f"{final}: cannot write ({lines[-1] if lines else type(exc).__name__})") from None
        except OSError as exc:
            raise cannot_write(final, exc) from exc
        if problem:
            raise OutputError(f"{final}: cannot write (the written file is incomplete: {problem}; "
                              f"disk full or file size limit?)")


def write_image(path: PathLike, array: np.ndarray, spacing: Sequence[float], geometry: Geometry | None = None) -> None:
    """Write a float image (cast to float32) atomically; format from the suffix (``.nii.gz``).

    ``geometry`` (origin and direction in the patient) is written into the file; see :func:`to_sitk`.
    The file is checked on disk before it is renamed into place.

    Raises
    ------
    InputError
        NaN/inf values, or spacing that does not match the array.
    OutputError
        The file cannot be written whole (disk full, quota, file size limit...); the message names
        ``path`` and nothing is left behind.
    """
    arr = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: refusing to write an image with NaN or inf values")
    _write_checked(path, to_sitk(arr, spacing, geometry))


def write_label(path: PathLike, labels: np.ndarray, spacing: Sequence[float], geometry: Geometry | None = None) -> None:
    """Write an integer label map atomically as uint8 (uint16 when labels exceed 255), with its geometry.

    Checked on disk like :func:`write_image`; :class:`~mira.errors.OutputError` names ``path`` when the
    file cannot be written whole.
    """
    lab = np.asarray(labels)
    if lab.size and (lab.min() < 0 or lab.max() > 65535):
        raise InputError(f"{path}: label values must lie in 0..65535")
    dtype = np.uint8 if (lab.size == 0 or lab.max() <= 255) else np.uint16
    _write_checked(path, to_sitk(lab.astype(dtype), spacing, geometry))


def _read_sitk(path: PathLike) -> sitk.Image:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        return sitk.ReadImage(str(p))
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else exc
        raise InputError(f"{p}: cannot read image ({detail})") from None


def read_image_with_geometry(path: PathLike, dtype=np.float32, ndim: int | None = None
                             ) -> tuple[np.ndarray, tuple[float, ...], Geometry]:
    """Read an image as ``(array, spacing_mm, geometry)``; ``ndim=2`` gives a 2D image back as ``(y, x)``.

    A 2D image read with ``ndim=2`` keeps the slice thickness of its file in ``geometry.thickness``.

    Raises
    ------
    InputError
        If the file is missing or cannot be decoded; the message names the file.
    """
    img = _read_sitk(path)
    geometry = geometry_of(img)
    full_spacing = img.GetSpacing()
    arr, spacing = from_sitk(img, ndim)
    if arr.ndim == 2 and len(full_spacing) == 3:
        geometry = Geometry(geometry.origin, geometry.direction, float(full_spacing[2]))
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr, spacing, geometry


def read_image(path: PathLike, dtype=np.float32, ndim: int | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a NIfTI (or any SimpleITK-readable single file) as ``(array, spacing_mm)``.

    ``ndim=2`` turns a one-slice volume (how a 2D image with a geometry is stored) into ``(y, x)``.

    Raises
    ------
    InputError
        If the file is missing or cannot be decoded; the message names the file.
    """
    arr, spacing = from_sitk(_read_sitk(path), ndim)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr, spacing


def read_label(path: PathLike, ndim: int | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a label map as ``(uint8/uint16 array, spacing_mm)`` (``ndim`` as in :func:`read_image`)."""
    return read_image(path, dtype=None, ndim=ndim)

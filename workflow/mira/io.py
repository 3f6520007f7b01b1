"""Image files: NIfTI read/write through SimpleITK, with spacing, in the data contract's conventions.

Conventions used everywhere in mira:

* arrays are numpy arrays in index order ``(z, y, x)`` for 3D and ``(y, x)`` for 2D;
* ``spacing`` is a tuple in the same order, in millimetres;
* images are ``float32`` in the modality's native units (HU for CT); label maps are ``uint8``
  (``uint16`` if more than 255 labels).

SimpleITK orders spacing ``(x, y, z)``; the conversion happens here and nowhere else.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path
from .errors import InputError

PathLike = Union[str, os.PathLike]


def to_sitk(array: np.ndarray, spacing: Sequence[float]) -> sitk.Image:
    """Wrap ``array`` (numpy order) with ``spacing`` (numpy order, mm) into a SimpleITK image."""
    if array.ndim not in (2, 3):
        raise InputError(f"expected a 2D or 3D array, got shape {array.shape}")
    if len(spacing) != array.ndim:
        raise InputError(f"spacing {tuple(spacing)} does not match array of {array.ndim} dimensions")
    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing(tuple(float(s) for s in reversed(tuple(spacing))))
    return img


def from_sitk(img: sitk.Image) -> tuple[np.ndarray, tuple[float, ...]]:
    """Return ``(array, spacing)`` in numpy order from a SimpleITK image."""
    return sitk.GetArrayFromImage(img), tuple(float(s) for s in reversed(img.GetSpacing()))


def write_image(path: PathLike, array: np.ndarray, spacing: Sequence[float]) -> None:
    """Write a float image (cast to float32) atomically; format from the suffix (``.nii.gz``)."""
    arr = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: refusing to write an image with NaN or inf values")
    with atomic_path(path) as tmp:
        sitk.WriteImage(to_sitk(arr, spacing), str(tmp), useCompression=True)


def write_label(path: PathLike, labels: np.ndarray, spacing: Sequence[float]) -> None:
    """Write an integer label map atomically as uint8 (uint16 when labels exceed 255)."""
    lab = np.asarray(labels)
    if lab.size and (lab.min() < 0 or lab.max() > 65535):
        raise InputError(f"{path}: label values must lie in 0..65535")
    dtype = np.uint8 if (lab.size == 0 or lab.max() <= 255) else np.uint16
    with atomic_path(path) as tmp:
        sitk.WriteImage(to_sitk(lab.astype(dtype), spacing), str(tmp), useCompression=True)


def read_image(path: PathLike, dtype=np.float32) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a NIfTI (or any SimpleITK-readable single file) as ``(array, spacing_mm)``.

    Raises
    ------
    InputError
        If the file is missing or cannot be decoded; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(f"{p}: cannot read image ({str(exc).strip().splitlines()[-1] if str(exc).strip() else exc})") from None
    arr, spacing = from_sitk(img)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr, spacing


def read_label(path: PathLike) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a label map as ``(uint8/uint16 array, spacing_mm)``."""
    arr, spacing = read_image(path, dtype=None)
    return arr, spacing

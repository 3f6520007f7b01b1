"""NIfTI images (``.nii``, ``.nii.gz``) through SimpleITK, with their header spacing.

Values are taken as stored after the header's ``scl_slope``/``scl_inter`` (applied by ITK): HU for
CT, magnitude for MRI. For X-ray/US, ``uint8`` files are scaled by 255; other types carry no
bits-stored information (a ``uint16`` file often holds 12-bit data), so they are used as they are when
already in [0, 1], else min-max scaled per case with a warning in the log. 4D images are refused.

ITK's NIfTI reader silently replaces NaN and inf voxels by 0, so float files are also scanned on
disk (:func:`count_nonfinite`) and refused when they hold any.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import read_image
from .normalise import Decoded

NIFTI_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")

#: NIfTI datatype codes of real floating-point voxels and their numpy types.
_FLOAT_CODES = {16: np.float32, 64: np.float64}

_CHUNK_VOXELS = 1 << 22


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def count_nonfinite(path: Path) -> int:
    """Number of NaN/inf voxels stored in a float32/float64 NIfTI-1 or NIfTI-2 ``.nii(.gz)`` file.

    Reads the header and streams the voxel data in chunks (the file is opened read-only). Returns 0
    for integer types and for headers it does not understand (SimpleITK has read the file already).
    """
    try:
        with _open(path) as fh:
            head = fh.read(540)
            if len(head) < 348:
                return 0
            for endian in "<>":
                size = struct.unpack(endian + "i", head[:4])[0]
                if size in (348, 540):
                    break
            else:
                return 0
            if size == 348:
                dims = struct.unpack(endian + "8h", head[40:56])
                code = struct.unpack(endian + "h", head[70:72])[0]
                offset = int(struct.unpack(endian + "f", head[108:112])[0])
            else:
                code = struct.unpack(endian + "h", head[12:14])[0]
                dims = struct.unpack(endian + "8q", head[16:80])
                offset = int(struct.unpack(endian + "q", head[168:176])[0])
            if code not in _FLOAT_CODES or not 1 <= dims[0] <= 7:
                return 0
            n = int(np.prod([max(int(d), 1) for d in dims[1 : dims[0] + 1]]))
            dtype = np.dtype(_FLOAT_CODES[code]).newbyteorder(endian)
            fh.seek(offset)  # gzip streams seek forward by decompressing
            bad, left = 0, n
            while left > 0:
                want = min(left, _CHUNK_VOXELS)
                buf = fh.read(want * dtype.itemsize)
                if not buf:
                    break
                data = np.frombuffer(buf[: len(buf) - len(buf) % dtype.itemsize], dtype=dtype)
                bad += int(np.count_nonzero(~np.isfinite(data)))
                left -= data.size
            return bad
    except (OSError, EOFError, struct.error, ValueError):
        return 0


def read_nifti(path: Path) -> Decoded:
    """Read a NIfTI file as ``(y, x)`` or ``(z, y, x)`` values with spacing in mm.

    Raises
    ------
    InputError
        If the file cannot be read or is not 2D/3D; the message names it.
    """
    arr, spacing = read_image(path, dtype=None)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr, spacing = arr[0], spacing[1:]
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: expected a 2D or 3D image, got shape {arr.shape}")
    if arr.dtype.kind not in "uif" and arr.dtype != np.bool_:
        raise InputError(f"{path}: unsupported pixel type {arr.dtype} (vector or complex image?)")
    if arr.dtype.kind == "f":
        bad = count_nonfinite(path)
        if bad:
            raise InputError(f"{path}: {bad} NaN or inf voxel values in the file")
    full = None
    if arr.dtype == np.uint8:
        full = (0.0, 255.0)
    elif arr.dtype == np.bool_:
        full = (0.0, 1.0)
    return Decoded(arr.astype(np.float64), tuple(float(s) for s in spacing), str(path), full, calibrated=True)

"""From decoded pixels to the data contract of each modality.

Readers (:mod:`.dicom`, :mod:`.raster`, :mod:`.nifti`) return a :class:`Decoded`: the pixel values
as read (after DICOM rescale, MONOCHROME1 inversion and colour-to-grey), plus what is known about
their scale. :func:`normalise` maps them to the stored conventions:

=========  ========================================================================================
``ct``     Hounsfield units, float32, clipped to the profile's ``value_range`` ([-1024, 3071] HU).
           Requires calibrated values (DICOM rescale, NIfTI, 16-bit/float TIFF); 8-bit or colour
           rasters carry no HU and are refused.
``mri``    magnitude, clipped at 0, divided by the case's 99.5th percentile (so bright tissue ~1;
           the top 0.5 % of voxels lie above 1 and are kept, not clipped).
``xray``   detector intensity I/I0 in [0, 1], as for the synthetic radiographs: brighter where less
           material lies on the ray. A radiograph's displayed grey ``d`` (stored value scaled by its
           nominal range -- bits stored or raster depth -- after MONOCHROME1 inversion; bone white)
           is stored as ``1 - d``; for a MONOCHROME1 "for processing" image this is the raw
           detector value itself. No rescale slope/intercept is applied.
``us``     B-mode grey in [0, 1], same scaling as X-ray; colour (RGB/YBR/palette) is reduced to
           luminance 0.299 R + 0.587 G + 0.114 B and scaled by the colour depth.
=========  ========================================================================================

Three-dimensional inputs become one 3D case for modalities whose profile allows 3D (CT, MRI) and
one 2D case per frame otherwise (X-ray, ultrasound), at most ``max_frames`` evenly spaced frames.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from ..modalities import ModalityProfile

log = logging.getLogger("mira.ingest")

#: Smallest accepted in-plane size (rows, columns), pixels.
MIN_SIZE = 8

#: Percentile of an MRI case that is mapped to 1.0.
MRI_PERCENTILE = 99.5


@dataclass
class Decoded:
    """Pixels of one input (file or series) before normalisation.

    Attributes
    ----------
    array : numpy.ndarray
        float64, ``(y, x)`` or ``(n, y, x)`` (slices of a volume or frames of a cine loop).
    spacing : tuple of float
        Spacing in mm, numpy order, one entry per array axis (frame axis entry is ignored for frames).
    source : str
        File or folder named in error messages.
    full_scale : (float, float) or None
        Nominal ``(lo, hi)`` range of the encoding (e.g. ``(0, 2**bits_stored - 1)``) used to scale
        grey X-ray/US to [0, 1]; ``None`` for floats or unknown ranges.
    calibrated : bool
        ``True`` when values are physical (HU for CT after rescale); required for CT.
    geometry : Geometry or None
        Where the array lies in the patient (:mod:`mira.geometry`; for ``(n, y, x)`` arrays the
        first axis is ITK's ``z``); ``None`` when the file says nothing (PNG, DICOM without
        ``ImagePositionPatient``/``ImageOrientationPatient``): written with the identity.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    source: str
    full_scale: tuple[float, float] | None = None
    calibrated: bool = False
    geometry: Geometry | None = None


@dataclass
class LoadedCase:
    """One normalised case ready to be written.

    Attributes
    ----------
    case_id : str
        Sanitised unique id (frames carry ``_f000``-style suffixes).
    image : numpy.ndarray
        float32 image in the modality's stored units, ``(y, x)`` or ``(z, y, x)``.
    spacing : tuple of float
        Spacing in mm, numpy order.
    source : str
        File or folder it came from.
    geometry : Geometry or None
        Placement in the patient (:mod:`mira.geometry`), ``None`` when unknown.
    """

    case_id: str
    image: np.ndarray
    spacing: tuple[float, ...]
    source: str
    geometry: Geometry | None = None


def check_pixels(dec: Decoded) -> None:
    """Refuse non-finite values, wrong dimensionality and images smaller than 8 x 8.

    Raises
    ------
    InputError
        Naming ``dec.source``.
    """
    arr = dec.array
    if arr.ndim not in (2, 3):
        raise InputError(f"{dec.source}: expected a 2D image or 3D volume, got an array of shape {arr.shape}")
    if arr.shape[-1] < MIN_SIZE or arr.shape[-2] < MIN_SIZE or arr.shape[0] < 1:
        raise InputError(f"{dec.source}: image of shape {arr.shape} is too small "
                         f"(need at least {MIN_SIZE}x{MIN_SIZE} pixels)")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputError(f"{dec.source}: {bad} NaN or inf pixel values")
    if len(dec.spacing) != arr.ndim or not all(np.isfinite(s) and s > 0 for s in dec.spacing):
        raise InputError(f"{dec.source}: invalid spacing {dec.spacing} for an array of shape {arr.shape}")


def _unit_scale(dec: Decoded) -> np.ndarray:
    arr = dec.array
    if dec.full_scale is not None:
        lo, hi = dec.full_scale
        if hi <= lo:
            raise InputError(f"{dec.source}: invalid nominal value range {dec.full_scale}")
        return (arr - lo) / (hi - lo)
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= 1.0:
        return arr
    log.warning("%s: values in [%g, %g] without a known full scale; scaled min-max to [0, 1]", dec.source, lo, hi)
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)


def normalise_values(dec: Decoded, profile: ModalityProfile) -> np.ndarray:
    """Map decoded values to the stored units of ``profile`` (see the module docstring); float32."""
    name = profile.name
    if name == "ct":
        if not dec.calibrated:
            raise InputError(f"{dec.source}: no Hounsfield calibration (8-bit or colour image); CT needs DICOM with "
                             "rescale, NIfTI, or a 16-bit/float TIFF in HU")
        out = profile.clip(dec.array)
    elif name == "mri":
        mag = np.maximum(dec.array, 0.0)
        ref = float(np.percentile(mag, MRI_PERCENTILE))
        if ref <= 0.0:
            ref = float(mag.max())
        if ref <= 0.0:
            log.warning("%s: MRI image is all zero", dec.source)
            ref = 1.0
        out = mag / ref
    else:
        lo, hi = profile.value_range
        out = np.clip(_unit_scale(dec), lo, hi)
        if name == "xray":  # displayed grey (bone white) -> transmitted intensity (air bright)
            out = 1.0 - out
    return np.asarray(out, dtype=np.float32)


def frame_indices(n: int, max_frames: int | None) -> list[int]:
    """Indices of at most ``max_frames`` evenly spaced frames out of ``n`` (all when ``None``)."""
    if max_frames is None or n <= max_frames:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, max_frames)})


def to_cases(dec: Decoded, profile: ModalityProfile, case_id: str, frames: Sequence[int] | None = None,
             max_frames: int | None = None) -> list[LoadedCase]:
    """Check, normalise and cut ``dec`` into cases of ``profile``'s dimensionality.

    Parameters
    ----------
    dec : Decoded
        Pixels of one file or series.
    profile : ModalityProfile
        Target modality.
    case_id : str
        Base id; frames of a 3D input for a 2D-only modality get ``_f000``, ``_f001``, ... (the
        original frame numbers).
    frames : sequence of int, optional
        Original frame numbers of the rows of ``dec.array`` when the reader already selected frames.
    max_frames : int, optional
        When ``frames`` is not given: keep at most this many evenly spaced frames (``None``: all).
    """
    check_pixels(dec)
    arr = dec.array
    geo = dec.geometry
    if arr.ndim == 3 and arr.shape[0] == 1 and frames is None:  # a one-slice volume is a 2D image
        arr, spacing = arr[0], dec.spacing[1:]
        if geo is not None:
            geo = Geometry(geo.origin, geo.direction, geo.thickness or float(dec.spacing[0]))
        dec = Decoded(arr, spacing, dec.source, dec.full_scale, dec.calibrated, geo)
        frames = None
    if arr.ndim == 2 or 3 in profile.ndims:
        return [LoadedCase(case_id, normalise_values(dec, profile), tuple(float(s) for s in dec.spacing), dec.source,
                           geo)]
    # a 2D-only modality (X-ray, US): every frame is its own case, scaled with the same full scale
    if frames is None:
        frames = frame_indices(arr.shape[0], max_frames)
        dec = Decoded(arr[frames], dec.spacing, dec.source, dec.full_scale, dec.calibrated, geo)
    values = normalise_values(dec, profile)
    numbers = list(frames)
    spacing = tuple(float(s) for s in dec.spacing[1:])

    def frame_geometry(k: int) -> Geometry | None:
        # frame k of a spatial stack lies k slices along its ITK z axis (DICOM cine loops carry no geometry)
        if geo is None:
            return None
        moved = geo.shifted((k, 0, 0), dec.spacing)
        return Geometry(moved.origin, moved.direction, float(dec.spacing[0]))

    return [LoadedCase(f"{case_id}_f{k:03d}", values[i], spacing, dec.source, frame_geometry(k))
            for i, k in enumerate(numbers)]

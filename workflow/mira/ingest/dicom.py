"""DICOM reading: headers, pixel decoding, colour to grey, rescale, spacing, series stacking.

This module reads headers and data sets; :mod:`.dicom_pixels` decodes pixels to grey values,
:mod:`.dicom_geometry` reads spacing and placement from the tags, and :mod:`.dicom_decode` builds
the decoded image of a file or of a series of slices.

Decisions (see also :mod:`.normalise`):

* **Pixels** are always decoded by pydicom (one decoder path for every file), opened read-only.
* **CT / MRI**: the Modality LUT (``RescaleSlope``/``RescaleIntercept``, a Modality LUT Sequence,
  or the Pixel Value Transformation of enhanced multi-frame functional groups) is applied per slice
  or frame. CT must be calibrated: a CT frame without any of these is refused, unless the source
  declares ``ct_rescale: [slope, intercept]``. MONOCHROME1 CT is *not* inverted (HU keep their
  meaning); MONOCHROME1 MRI is inverted on the stored values before rescale.
* **X-ray / US**: stored values are used without rescale; MONOCHROME1 is inverted so that a higher
  value is brighter on the display; the nominal range from ``BitsStored`` and
  ``PixelRepresentation`` is kept as the full scale for the [0, 1] mapping.
* **Colour**: ``PALETTE COLOR`` via :func:`pydicom.pixels.apply_color_lut`, ``YBR_*`` via
  :func:`pydicom.pixels.convert_color_space` to RGB, then luminance ``0.299 R + 0.587 G + 0.114 B``;
  full scale from the LUT entry depth or ``BitsStored``.
* **Multi-frame** files stay together as ``(n, y, x)``; :func:`.normalise.to_cases` turns them into
  one volume (CT, MRI; frames sorted by position when the functional groups give one) or into one
  2D case per frame (X-ray, US; only the selected frames are decoded).
* **Series** of single-frame CT/MRI slices are stacked in order of ``ImagePositionPatient``
  projected on the slice normal (``ImageOrientationPatient``), or of ``InstanceNumber`` when
  positions are missing. The spacing is taken from SimpleITK's ``ImageSeriesReader`` (GDCM) and
  cross-checked against ``PixelSpacing`` and the slice position differences. Every slice must agree
  on size, ``ImageOrientationPatient`` and ``PixelSpacing``; a gap in the positions (or in the
  ``InstanceNumber`` sequence when positions are absent) is a missing slice and an error naming the
  files on both sides; slices with neither positions nor unique instance numbers are refused.
* **Geometry** (:mod:`mira.geometry`): ``ImagePositionPatient`` of the first slice (after sorting)
  is the origin, ``ImageOrientationPatient`` gives the row and column directions, the slice normal
  the third; files without these tags have no geometry (written with the identity).
* **In-plane spacing**: ``PixelSpacing`` (also in the functional groups), else
  ``ImagerPixelSpacing`` (X-ray), else ``SequenceOfUltrasoundRegions`` ``PhysicalDeltaY/X``
  (cm -> mm), else the source's ``spacing_mm``, else 1.0 mm with a warning in the log.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pydicom

from ..errors import UnreadableError

log = logging.getLogger("mira.ingest")

#: File name endings that claim to be DICOM (a failed parse is then an error, not a skip).
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".ima")

#: Elements that hold decodable pixels.
PIXEL_KEYWORDS: tuple[str, ...] = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: Relative and absolute (mm) tolerance when comparing spacings of two sources.
SPACING_RTOL = 1e-3
SPACING_ATOL = 1e-3


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}".rstrip(": ")


def has_dicm_preamble(path: os.PathLike | str) -> bool:
    """``True`` when bytes 128..131 of the file are ``b"DICM"`` (a DICOM Part 10 file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_header(path: Path, claimed: bool) -> Any | None:
    """Read a DICOM file's data set without loading large values (pixel data stays on disk).

    Parameters
    ----------
    path : Path
        The file.
    claimed : bool
        ``True`` when the file says it is DICOM (``.dcm``-like suffix or ``DICM`` preamble): a failed
        parse then raises. ``False`` for unknown files: those are accepted only when they parse as
        an image (SOP Class UID and pixel data present), otherwise ``None`` is returned.

    Raises
    ------
    UnreadableError
        If a claimed DICOM file cannot be parsed; the message names the file.
    """
    force = not has_dicm_preamble(path)
    try:
        ds = pydicom.dcmread(path, defer_size="64 KB", force=force)
    except Exception as exc:  # InvalidDicomError, and a zoo of other types on corrupt files
        if claimed:
            raise UnreadableError(f"{path}: not a readable DICOM file ({describe_error(exc)})") from None
        return None
    meta_sop = getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    if claimed and "SOPClassUID" not in ds and not meta_sop:
        # every DICOM object names its SOP class; bytes that parse without one are corrupt
        raise UnreadableError(f"{path}: not a readable DICOM file (no SOP Class UID: corrupt or not DICOM)")
    if force:  # no preamble: accept only what clearly is a DICOM data set
        plausible = "SOPClassUID" in ds
        if not plausible:
            if claimed:
                raise UnreadableError(f"{path}: not a readable DICOM file (no DICM preamble and no SOP Class UID)")
            return None
    return ds


def read_dataset(path: Path) -> Any:
    """Read a whole DICOM file (pixel data included) read-only; errors name the file."""
    try:
        return pydicom.dcmread(path, force=not has_dicm_preamble(path))
    except Exception as exc:
        raise UnreadableError(f"{path}: not a readable DICOM file ({describe_error(exc)})") from None


def has_pixels(ds: Any) -> bool:
    """``True`` when the data set has a pixel data element (image, not SR/RTPLAN/DICOMDIR)."""
    return any(k in ds for k in PIXEL_KEYWORDS)


def number_of_frames(ds: Any) -> int:
    """``NumberOfFrames`` (1 when absent or invalid)."""
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1

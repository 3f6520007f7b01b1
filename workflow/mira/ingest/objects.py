"""What a DICOM object is, from its header: image or not, usable for the configured modality, whole.

A clinical export holds more than images: RT Dose grids and Segmentations carry pixel data too, but
their values are Gy and label numbers, not HU; structured reports, presentation states, key-object
selections, RT plans and structure sets, raw data, encapsulated PDFs and DICOMDIRs carry none. mira
decides by the **SOP Class UID** (``SOPClassUID``, else the file meta ``MediaStorageSOPClassUID``),
never by the presence of pixel data:

* an *image storage* class (pydicom's name for it contains "Image Storage": CT, MR, CR, DX, MG, US,
  XA, RF, NM, PET, secondary capture, enhanced and legacy-converted variants, ...; also Enhanced US
  Volume) is an image and
  must be ingested whole: pixel data missing or shorter than the header says is an *unreadable*
  file (:class:`mira.errors.UnreadableError`);
* **secondary capture** (screenshots, scanned films, dose-report pictures) carries no calibration:
  it is never taken as CT Hounsfield units; for MRI, X-ray and ultrasound it is an image like any
  other;
* every other class is *excluded* by class and listed, with its name, in the source's ingest report.

The DICOM ``Modality`` tag must fit the configured modality (:data:`EXPECTED_DICOM_MODALITY`); an
empty tag or ``OT`` (other) says nothing and passes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.uid import UID

from .dicom import PIXEL_KEYWORDS

#: DICOM ``Modality`` values that fit each mira modality. ``OT`` and an empty tag fit every one.
EXPECTED_DICOM_MODALITY: dict[str, tuple[str, ...]] = {
    "ct": ("CT",),
    "mri": ("MR",),
    "xray": ("CR", "DX", "RG", "MG", "XA", "RF", "PX", "IO", "DF"),
    "us": ("US", "IVUS"),
}

#: Image storage classes whose name lacks "Image Storage".
IMAGE_CLASSES_NAMED_OTHERWISE: frozenset[str] = frozenset({
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
})

#: ``Modality`` values that say nothing about the acquisition.
NEUTRAL_MODALITY_TAGS: tuple[str, ...] = ("", "OT")

#: Transfer syntaxes whose pixel data is stored uncompressed (its length is exactly known).
NATIVE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2",      # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",    # Explicit VR Little Endian
    "1.2.840.10008.1.2.2",    # Explicit VR Big Endian (retired)
)


@dataclass(frozen=True)
class ObjectKind:
    """Classification of one DICOM object.

    Attributes
    ----------
    sop_class : str
        The SOP Class UID ("" when the object names none).
    name : str
        Its name ("CT Image Storage"), or the UID when pydicom does not know it.
    is_image : bool
        An image storage class.
    secondary_capture : bool
        A secondary capture image (no calibration).
    """

    sop_class: str
    name: str
    is_image: bool
    secondary_capture: bool


def sop_class_of(ds: Any) -> str:
    """The object's SOP Class UID: ``SOPClassUID``, else the file meta ``MediaStorageSOPClassUID``."""
    value = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    return str(value or "").strip()


def classify_object(ds: Any) -> ObjectKind:
    """Classify a DICOM data set by its SOP Class UID (module docstring)."""
    uid = sop_class_of(ds)
    name = UID(uid).name if uid else ""
    name = name if name and name != uid else (uid or "no SOP Class UID")
    is_image = "Image Storage" in name or uid in IMAGE_CLASSES_NAMED_OTHERWISE
    return ObjectKind(uid, name, is_image, is_image and "Secondary Capture" in name)


def modality_tag(ds: Any) -> str:
    """The DICOM ``Modality`` tag, upper case, ``""`` when absent."""
    return str(ds.get("Modality", "") or "").strip().upper()


def modality_fits(ds: Any, modality: str) -> bool:
    """``True`` unless the ``Modality`` tag names another acquisition than ``modality``."""
    tag = modality_tag(ds)
    return tag in NEUTRAL_MODALITY_TAGS or tag in EXPECTED_DICOM_MODALITY.get(modality, ())


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    return "1.2.840.10008.1.2"  # no meta: pydicom parsed it as implicit little endian


def expected_pixel_bytes(ds: Any) -> int | None:
    """Bytes of uncompressed pixel data the header describes, or ``None`` when it does not say."""
    try:
        rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        frames = max(1, int(ds.get("NumberOfFrames") or 1))
        samples = int(ds.get("SamplesPerPixel") or 1)
        bits = int(ds.get("BitsAllocated") or 0)
    except (TypeError, ValueError):
        return None
    if not (rows and cols and bits):
        return None
    total_bits = rows * cols * frames * samples * bits
    return (total_bits + 7) // 8


def format_bytes(n: float) -> str:
    """``8.6 GB``, ``12.3 kB``, ``262 kB``, ``300 bytes``: a byte count for messages (powers of 1000)."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        n /= 1000.0
        if n < 999.5 or unit == "PB":
            return f"{n:.1f} {unit}" if n < 99.95 else f"{n:.0f} {unit}"
    raise AssertionError("unreachable")


def _grid(ds: Any) -> str:
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = max(1, int(ds.get("NumberOfFrames") or 1))
    samples = int(ds.get("SamplesPerPixel") or 1)
    return (f"{rows} x {cols} pixels" + (f" x {frames} frames" if frames > 1 else "")
            + (f" x {samples} samples" if samples > 1 else ""))


def pixel_data_problem(ds: Any, path: os.PathLike | str) -> str | None:
    """Why the pixel data of an image object cannot be read whole, or ``None`` when it looks complete.

    Checks (from the header read with ``defer_size``, pixel data left on disk): a pixel data
    element is present; the file really holds the bytes the element declares (a file cut short
    keeps its header intact); for uncompressed transfer syntaxes the element holds
    ``Rows x Columns x frames x samples x BitsAllocated / 8`` bytes (a header that claims more is
    corrupt, e.g. 65535 x 65535 pixels in a 30 kB file: never a memory problem). Compressed pixel
    data is checked when it is decoded.
    """
    keyword = next((k for k in PIXEL_KEYWORDS if k in ds), None)
    if keyword is None:
        return "image object without pixel data (truncated file?)"
    if keyword != "PixelData":
        return None
    elem = ds.get_item("PixelData")
    declared = getattr(elem, "length", None)
    if declared is None or declared == 0xFFFFFFFF:  # encapsulated (compressed): checked when decoded
        return None
    value = getattr(elem, "value", None)
    tell = getattr(elem, "value_tell", None)
    if value is not None:
        held = len(value)
    elif tell is not None:
        held = max(0, Path(path).stat().st_size - int(tell))
    else:
        held = declared
    if held < declared:
        return f"file cut short: pixel data element declares {declared} bytes, the file holds {held}"
    if _transfer_syntax(ds) in NATIVE_TRANSFER_SYNTAXES:
        need = expected_pixel_bytes(ds)
        if need is not None and declared < need:
            return (f"corrupt header: claims {_grid(ds)} ({format_bytes(need)}) but the file holds "
                    f"{format_bytes(declared)} of pixel data")
    return None

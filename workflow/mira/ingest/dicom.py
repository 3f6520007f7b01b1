"""DICOM reading: headers, pixel decoding, colour to grey, rescale, spacing, series stacking.

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
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .normalise import Decoded
from ..errors import UnreadableError

log = logging.getLogger("mira.ingest")

#: File name endings that claim to be DICOM (a failed parse is then an error, not a skip).
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".ima")

#: Elements that hold decodable pixels.
PIXEL_KEYWORDS: tuple[str, ...] = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: Relative and absolute (mm) tolerance when comparing spacings of two sources.
SPACING_RTOL = 1e-3
SPACING_ATOL = 1e-3


def _short(exc: BaseException) -> str:
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
    import pydicom

    force = not has_dicm_preamble(path)
    try:
        ds = pydicom.dcmread(path, defer_size="64 KB", force=force)
    except Exception as exc:  # InvalidDicomError, and a zoo of other types on corrupt files
        if claimed:
            raise UnreadableError(f"{path}: not a readable DICOM file ({_short(exc)})") from None
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
    import pydicom

    try:
        return pydicom.dcmread(path, force=not has_dicm_preamble(path))
    except Exception as exc:
        raise UnreadableError(f"{path}: not a readable DICOM file ({_short(exc)})") from None


def has_pixels(ds: Any) -> bool:
    """``True`` when the data set has a pixel data element (image, not SR/RTPLAN/DICOMDIR)."""
    return any(k in ds for k in PIXEL_KEYWORDS)


def number_of_frames(ds: Any) -> int:
    """``NumberOfFrames`` (1 when absent or invalid)."""
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


# --------------------------------------------------------------------------- pixel decoding

def _transfer_syntax(ds: Any) -> Any:
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, UID

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian


def _decode_raw(ds: Any, path: Path, index: int | None) -> tuple[np.ndarray, dict]:
    """Decoded stored values (no colour conversion) and the decoder's metadata."""
    from pydicom.pixels import get_decoder

    try:
        if "PixelData" not in ds:
            # float / double float pixel data: pydicom's generic route
            from pydicom.pixels import pixel_array

            with open(path, "rb") as fh:
                arr = pixel_array(fh, index=index, raw=True)
            meta = {"photometric_interpretation": str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
                    "bits_stored": None, "pixel_representation": None}
            return arr, meta
        decoder = get_decoder(_transfer_syntax(ds))
        arr, meta = decoder.as_array(ds, index=index, as_rgb=False)
    except Exception as exc:  # truncated data, unsupported compression, missing plugin, bad tags
        raise UnreadableError(f"{path}: cannot decode pixel data ({_short(exc)})") from None
    return arr, dict(meta)


def _nominal_range(bits: int | None, signed: int | None) -> tuple[float, float] | None:
    if not bits:
        return None
    bits = int(bits)
    if signed:
        return (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1.0)
    return (0.0, 2.0 ** bits - 1.0)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64, copy=False)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _rescale_params(ds: Any, frame: int) -> tuple[float, float] | None:
    """Slope and intercept of the Modality LUT for one frame (top level or functional groups)."""
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return float(ds.get("RescaleSlope", 1.0) or 1.0), float(ds.get("RescaleIntercept", 0.0) or 0.0)
    groups = []
    if "PerFrameFunctionalGroupsSequence" in ds and frame < len(ds.PerFrameFunctionalGroupsSequence):
        groups.append(ds.PerFrameFunctionalGroupsSequence[frame])
    if "SharedFunctionalGroupsSequence" in ds and len(ds.SharedFunctionalGroupsSequence):
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for item in groups:
        if "PixelValueTransformationSequence" in item and len(item.PixelValueTransformationSequence):
            pvt = item.PixelValueTransformationSequence[0]
            return float(pvt.get("RescaleSlope", 1.0) or 1.0), float(pvt.get("RescaleIntercept", 0.0) or 0.0)
    return None


def _apply_modality_lut(values: np.ndarray, stored: np.ndarray, ds: Any, frames: Sequence[int], path: Path,
                        modality: str, ct_rescale: tuple[float, float] | None, rescale_key: str) -> np.ndarray:
    """Apply the Modality LUT: a LUT sequence on the stored integers, else slope/intercept per frame.

    A CT frame without any Modality LUT takes ``ct_rescale`` or is refused (its values are not
    known to be HU); an MRI frame without one keeps its stored values.
    """
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    out = values.copy()
    for i, frame in enumerate(frames):
        params = _rescale_params(ds, frame)
        if params is None and modality == "ct":
            if ct_rescale is None:
                raise InputError(
                    f"{path}: CT without RescaleSlope/RescaleIntercept or a Modality LUT: its stored values are not "
                    f"known to be Hounsfield units. If you know how they map, declare it with {rescale_key}: "
                    "[slope, intercept] (HU = slope x stored + intercept; [1, 0] if they already are HU, "
                    "[1, -1024] for CT numbers stored with an offset of 1024)")
            params = ct_rescale
        if params is not None:
            slope, intercept = params
            if out.ndim == 3:
                out[i] = out[i] * slope + intercept
            else:
                out = out * slope + intercept
    return out


def decode_pixels(ds: Any, path: Path, modality: str, frames: Sequence[int] | None = None,
                  ct_rescale: tuple[float, float] | None = None, rescale_key: str = "ct_rescale"
                  ) -> tuple[np.ndarray, tuple[float, float] | None, bool]:
    """Decode a file's pixels to grey values.

    Parameters
    ----------
    ds : pydicom.Dataset
        The file's data set (from :func:`read_header`).
    path : Path
        The file (named in errors).
    modality : str
        Configured modality; decides rescale and MONOCHROME1 handling (module docstring).
    frames : sequence of int, optional
        Frames to decode (all when ``None``).
    ct_rescale : (float, float), optional
        CT only: ``(slope, intercept)`` for frames without rescale tags; ``None`` refuses them.
    rescale_key : str
        The config key named in that refusal (``inputs.<name>.ct_rescale``).

    Returns
    -------
    values : numpy.ndarray
        float64, ``(y, x)`` for a single-frame file, ``(n, y, x)`` otherwise.
    full_scale : (float, float) or None
        Nominal range of the values before any rescale (for [0, 1] scaling of X-ray/US).
    calibrated : bool
        ``True`` when the values are physical (grey CT/MRI after the Modality LUT).
    """
    from pydicom.pixels import apply_color_lut, convert_color_space

    n = number_of_frames(ds)
    if frames is None or list(frames) == list(range(n)):
        arr, meta = _decode_raw(ds, path, None)
        frame_list = list(range(n))
    else:
        parts = [_decode_raw(ds, path, int(i)) for i in frames]
        arr, meta = np.stack([p[0] for p in parts]), parts[0][1]
        frame_list = [int(i) for i in frames]
    multi = n > 1
    pi = str(meta.get("photometric_interpretation", ds.get("PhotometricInterpretation", "MONOCHROME2"))).upper()
    spp = int(meta.get("samples_per_pixel", ds.get("SamplesPerPixel", 1)) or 1)
    full = _nominal_range(meta.get("bits_stored"), meta.get("pixel_representation"))
    if arr.dtype.kind == "f":
        full = None

    try:
        if pi == "PALETTE COLOR":
            rgb = apply_color_lut(arr, ds)
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            return _with_frames(_luminance(rgb), multi), (0.0, 2.0 ** bits - 1.0), False
        if spp == 3 or pi.startswith(("RGB", "YBR")):
            if pi.startswith("YBR"):
                arr = convert_color_space(arr, pi, "RGB", per_frame=False)
            elif pi != "RGB":
                raise InputError(f"{path}: unsupported colour photometric interpretation {pi}")
            return _with_frames(_luminance(arr), multi), full, False
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot convert {pi} colour to grey ({_short(exc)})") from None

    if pi not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(f"{path}: unsupported photometric interpretation {pi!r}")
    values = arr.astype(np.float64)
    if pi == "MONOCHROME1" and modality != "ct":
        if full is not None:
            values = (full[0] + full[1]) - values
        else:
            values = float(values.max() + values.min()) - values
    if modality in ("ct", "mri"):
        values = _apply_modality_lut(_with_frames(values, multi), arr, ds, frame_list, path, modality, ct_rescale,
                                     rescale_key)
        return _with_frames(values, multi), None, True
    return _with_frames(values, multi), full, False


def _with_frames(arr: np.ndarray, multi: bool) -> np.ndarray:
    """Ensure ``(n, y, x)`` for multi-frame files and ``(y, x)`` for single-frame ones."""
    if multi and arr.ndim == 2:
        return arr[None]
    return arr


# --------------------------------------------------------------------------- spacing from tags

def _positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(pair) != 2 or not all(np.isfinite(v) and v > 0 for v in pair):
        return None
    return pair  # type: ignore[return-value]


def _functional_items(ds: Any, keyword: str) -> list[Any]:
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
                   for item in _functional_items(ds, "PixelMeasuresSequence")]
    candidates.append(("ImagerPixelSpacing", ds.get("ImagerPixelSpacing")))
    for _, value in candidates:
        pair = _positive_pair(value) if value is not None else None
        if pair is not None:
            return pair
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        ranked = sorted(regions, key=lambda r: 0 if r.get("RegionSpatialFormat") == 1 else 1)
        for region in ranked:
            if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalUnitsYDirection") == 3:
                pair = _positive_pair([region.get("PhysicalDeltaY"), region.get("PhysicalDeltaX")])
                if pair is not None:
                    return (pair[0] * 10.0, pair[1] * 10.0)  # cm -> mm
    if fallback is not None:
        return fallback
    log.warning("%s: no pixel spacing in the DICOM tags; using 1.0 mm", path)
    return (1.0, 1.0)


def _orientation(ds: Any) -> np.ndarray | None:
    value = ds.get("ImageOrientationPatient")
    if value is None:
        for item in _functional_items(ds, "PlaneOrientationSequence"):
            value = item.get("ImageOrientationPatient")
    try:
        iop = np.asarray([float(v) for v in value], dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        return None
    return iop if iop is not None and iop.shape == (6,) and np.all(np.isfinite(iop)) else None


def _normal(iop: np.ndarray) -> np.ndarray:
    normal = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _position(value: Any) -> np.ndarray | None:
    try:
        pos = np.asarray([float(v) for v in value], dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        return None
    return pos if pos is not None and pos.shape == (3,) and np.all(np.isfinite(pos)) else None


def _slice_thickness(ds: Any) -> float | None:
    sources = [ds] + _functional_items(ds, "PixelMeasuresSequence")
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        for item in sources:
            try:
                value = float(item.get(key)) if item.get(key) is not None else None
            except (TypeError, ValueError):
                value = None
            if value is not None and np.isfinite(value) and value > 0:
                return value
    return None


def _uniform_gap(proj_sorted: np.ndarray, where: str, names: Sequence[str] | None = None) -> float:
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


def _geometry(iop: np.ndarray | None, position: np.ndarray | None, thickness: float | None = None) -> Geometry | None:
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
    iop = _orientation(ds)
    positions = []
    if iop is not None and "PerFrameFunctionalGroupsSequence" in ds and len(ds.PerFrameFunctionalGroupsSequence) == n:
        for item in ds.PerFrameFunctionalGroupsSequence:
            seq = item.get("PlanePositionSequence")
            positions.append(_position(seq[0].get("ImagePositionPatient")) if seq else None)
    if n > 1 and positions and all(p is not None for p in positions):
        proj = np.array([float(np.dot(p, _normal(iop))) for p in positions])
        order = [int(i) for i in np.argsort(proj, kind="stable")]
        dz = _uniform_gap(proj[order], str(path), [f"frame {k + 1}" for k in order])
        return order, dz, _geometry(iop, positions[order[0]])
    dz = _slice_thickness(ds)
    if dz is None:
        log.warning("%s: no slice positions or thickness for %d frames; using 1.0 mm between frames", path, n)
        dz = 1.0
    return list(range(n)), dz, None


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
        geometry = _geometry(_orientation(ds), _position(ds.get("ImagePositionPatient")), _slice_thickness(ds))
    return Decoded(values, spacing, str(path), full, calibrated, geometry)


# --------------------------------------------------------------------------- series of slices

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
    iops = [_orientation(h) for h in headers]
    positions = [_position(h.get("ImagePositionPatient")) for h in headers]
    if all(i is not None for i in iops) and all(p is not None for p in positions):
        ref = iops[0]
        bad = next((k for k, i in enumerate(iops) if not np.allclose(i, ref, atol=1e-4)), None)
        if bad is not None:
            raise InputError(f"{where}: slices with different ImageOrientationPatient in one series ({names[0]} and "
                             f"{names[bad]}: a localizer mixed in?); select the axial slices with `include`")
        normal = _normal(ref)
        proj = np.array([float(np.dot(p, normal)) for p in positions])
        order = [int(i) for i in np.argsort(proj, kind="stable")]
        return order, _uniform_gap(proj[order], where, [names[i] for i in order])
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
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files[:2]])
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        log.warning("%s...: SimpleITK/GDCM cannot read the series (%s); spacing from the tags only",
                    files[0], _short(exc))
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
        pair = _positive_pair(h.get("PixelSpacing")) if h.get("PixelSpacing") is not None else None
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
    dz = dz_tags if dz_tags is not None else _slice_thickness(headers[0])
    if dz is None:
        log.warning("%s: no slice spacing in the tags; using 1.0 mm", where)
        dz = 1.0
    tags = (dz, dy, dx)
    itk = sitk_series_spacing(files)
    spacing = tags
    if itk is not None:
        checked = [0, 1, 2] if dz_tags is not None else [1, 2]
        if "PixelSpacing" not in headers[0] and not _functional_items(headers[0], "PixelMeasuresSequence"):
            checked = [i for i in checked if i == 0]
        bad = [i for i in checked if not _close(itk[i], tags[i])]
        if bad:
            raise InputError(f"{where}: spacing from SimpleITK {itk} disagrees with the DICOM tags {tags} "
                             "(z from slice positions, y/x from PixelSpacing); gantry tilt or inconsistent tags?")
        spacing = tuple(itk[i] if i in checked else tags[i] for i in range(3))
    geometry = None
    if dz_tags is not None:  # sorted by position: the first slice is the origin, the normal the z axis
        geometry = _geometry(_orientation(headers[0]), _position(headers[0].get("ImagePositionPatient")))
    return Decoded(volume, tuple(float(s) for s in spacing), where, full, calibrated, geometry)

"""DICOM pixel decoding: stored values, colour to grey, MONOCHROME1, the Modality LUT.

The decisions are listed in :mod:`.dicom` (pixels always decoded by pydicom; CT/MRI rescaled by the
Modality LUT, CT refused without one unless ``ct_rescale`` is given; X-ray/US kept as displayed grey
with their nominal full scale; colour reduced to luminance).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space, get_decoder, pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import InputError, UnreadableError
from .dicom import describe_error, number_of_frames


def _transfer_syntax(ds: Any) -> Any:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian


def _decode_raw(ds: Any, path: Path, index: int | None) -> tuple[np.ndarray, dict]:
    """Decoded stored values (no colour conversion) and the decoder's metadata."""
    try:
        if "PixelData" not in ds:
            # float / double float pixel data: pydicom's generic route
            with open(path, "rb") as fh:
                arr = pixel_array(fh, index=index, raw=True)
            meta = {"photometric_interpretation": str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
                    "bits_stored": None, "pixel_representation": None}
            return arr, meta
        decoder = get_decoder(_transfer_syntax(ds))
        arr, meta = decoder.as_array(ds, index=index, as_rgb=False)
    except Exception as exc:  # truncated data, unsupported compression, missing plugin, bad tags
        raise UnreadableError(f"{path}: cannot decode pixel data ({describe_error(exc)})") from None
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
        raise InputError(f"{path}: cannot convert {pi} colour to grey ({describe_error(exc)})") from None

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

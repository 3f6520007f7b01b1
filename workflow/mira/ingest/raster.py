"""PNG / TIFF / JPEG images through Pillow: grey or colour to grey, with the nominal full scale.

* 8-bit grey, palette and colour images: luminance ``0.299 R + 0.587 G + 0.114 B``, full scale
  ``(0, 255)``; they carry no Hounsfield calibration, so CT refuses them.
* 16-bit grey (``I;16``): full scale ``(0, 65535)``, calibrated (a 16-bit TIFF of CT is taken as HU).
* 32-bit integer or float: values as stored, no full scale (X-ray/US then use min-max scaling with a
  warning unless already in [0, 1]), calibrated.
* Multi-page TIFF: pages become a ``(n, y, x)`` stack (one 2D case per page for X-ray/US, a volume
  with a page spacing of 1 mm for CT/MRI).

Raster files carry no physical spacing: the source's ``spacing_mm`` is used, else 1.0 mm (logged).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from ..errors import InputError
from .normalise import Decoded

log = logging.getLogger("mira.ingest")

RASTER_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg")

_COLOUR_MODES = {"RGB", "RGBA", "RGBX", "P", "PA", "LA", "CMYK", "YCbCr", "LAB", "HSV", "La"}


def _page_to_grey(page, path: Path) -> tuple[np.ndarray, tuple[float, float] | None, bool]:
    mode = page.mode
    if mode == "1":
        return np.asarray(page, dtype=np.float64), (0.0, 1.0), False
    if mode == "L":
        return np.asarray(page, dtype=np.float64), (0.0, 255.0), False
    if mode in _COLOUR_MODES:
        rgb = np.asarray(page.convert("RGB"), dtype=np.float64)
        return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2], (0.0, 255.0), False
    if mode.startswith("I;16"):
        return np.asarray(page).astype(np.float64), (0.0, 65535.0), True
    if mode in ("I", "F"):
        return np.asarray(page).astype(np.float64), None, True
    raise InputError(f"{path}: unsupported image mode {mode!r}")


def read_raster(path: Path, spacing_mm: tuple[float, float] | None = None) -> Decoded:
    """Read a PNG/TIFF/JPEG file (read-only) as grey values.

    Parameters
    ----------
    path : Path
        The file.
    spacing_mm : (float, float), optional
        ``(dy, dx)`` in mm; 1.0 mm with a warning in the log when not given.

    Raises
    ------
    InputError
        If Pillow cannot decode the file; the message names it.
    """
    try:
        with Image.open(path) as img:
            pages = [_page_to_grey(p, path) for p in ImageSequence.Iterator(img)]
    except InputError:
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError on truncation, DecompressionBombError ...
        raise InputError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    shapes = {p[0].shape for p in pages}
    if len(shapes) > 1:
        raise InputError(f"{path}: pages of different sizes {sorted(shapes)}")
    if spacing_mm is None:
        log.warning("%s: raster image without spacing; using 1.0 mm (set spacing_mm in the input spec)", path)
        spacing_mm = (1.0, 1.0)
    full, calibrated = pages[0][1], pages[0][2]
    if len(pages) == 1:
        return Decoded(pages[0][0], (float(spacing_mm[0]), float(spacing_mm[1])), str(path), full, calibrated)
    stack = np.stack([p[0] for p in pages])
    return Decoded(stack, (1.0, float(spacing_mm[0]), float(spacing_mm[1])), str(path), full, calibrated)

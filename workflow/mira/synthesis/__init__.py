"""Anatomical phantoms with label maps for CT, MRI, chest X-ray and ultrasound.

One entry point, :func:`synthesize_case`, returns a :class:`SyntheticCase` (image in native units,
label map, spacing in mm, legend, class label, co-registered MRI sequences, JSON-serialisable meta).

========  ===========================================================================================
modality  phantom
========  ===========================================================================================
``ct``    lower thorax / upper abdomen in HU: body fat and muscle wall, lungs with branching vessel
          trees, heart, aorta, liver, spleen, kidneys, vertebrae and ribs; lesions in liver, lung or
          kidney. 2D = axial slice at the lower-thorax level; 3D = volume through the same anatomy.
``mri``   brain: scalp, skull, CSF (ventricles, sulci, fissure), folded grey-matter cortex, deep grey
          nuclei, white matter, MS-like lesions; T1, T2 and FLAIR sharing one label map.
``xray``  chest radiograph I/I0 = exp(-line integral) through a 3D CT chest phantom (AP rays).
``us``    B-mode sector scan: layers, parenchyma, anechoic cysts, hypo/hyperechoic lesions, speckle
          from random scatterers, PSF, envelope detection, log compression, scan conversion.
========  ===========================================================================================

Every random draw comes from the generator passed in; the same seed gives identical bytes.
Legends (label value -> name) are in :data:`LEGENDS`, default tissue values in
:data:`DEFAULT_TISSUES`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, ParameterError
from .case import SyntheticCase
from .tissues import DEFAULT_TISSUES, LABELS, LEGENDS, MRI_SEQUENCES, resolve_tissues

__all__ = ["synthesize_case", "SyntheticCase", "LEGENDS", "LABELS", "DEFAULT_TISSUES", "MRI_SEQUENCES",
           "FOV_MM", "MIN_SIZE"]

#: default field of view per modality (mm); the default pixel spacing is ``FOV_MM[m] / size``
FOV_MM: dict[str, float] = {"ct": 380.0, "mri": 220.0, "xray": 400.0, "us": 120.0}
MIN_SIZE = 32
MAX_SIZE = 1024


def _check(modality: str, rng: Any, ndim: int, size: int, slices: int | None, spacing_mm: float | None,
           mri_contrast: str) -> str:
    key = str(modality).lower()
    if key not in FOV_MM:
        raise ConfigError(f"unknown modality {modality!r} (known: {', '.join(FOV_MM)})")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if ndim not in (2, 3):
        raise ParameterError(f"ndim must be 2 or 3, got {ndim!r}")
    if ndim == 3 and key not in ("ct", "mri"):
        raise ParameterError(f"ndim=3 is not supported for modality {key!r} (only ct and mri volumes)")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ParameterError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}] pixels, got {size!r}")
    if ndim == 3 and slices is not None:
        if isinstance(slices, bool) or not isinstance(slices, (int, np.integer)) or not 1 <= slices <= MAX_SIZE:
            raise ParameterError(f"slices must be an integer in [1, {MAX_SIZE}], got {slices!r}")
    if spacing_mm is not None:
        try:
            ok = math.isfinite(float(spacing_mm)) and float(spacing_mm) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ParameterError(f"spacing_mm must be a positive number of mm, got {spacing_mm!r}")
    if key == "mri" and mri_contrast not in MRI_SEQUENCES:
        raise ConfigError(f"unknown MRI contrast mri_contrast={mri_contrast!r} (known: {', '.join(MRI_SEQUENCES)})")
    return key


def synthesize_case(modality: str, rng: np.random.Generator, *, ndim: int = 2, size: int = 128,
                    slices: int | None = None, lesion: bool = True, tissues: Mapping[str, Any] | None = None,
                    mri_contrast: str = "T1", spacing_mm: float | None = None) -> SyntheticCase:
    """Synthesise one phantom image with its label map.

    Parameters
    ----------
    modality : {"ct", "mri", "xray", "us"}
        Imaging modality (case-insensitive).
    rng : numpy.random.Generator
        Source of every random draw (anatomy, lesions, texture, speckle); same seed -> same bytes.
    ndim : {2, 3}
        2D image, or a 3D volume (CT and MRI only).
    size : int
        Image size in pixels (in-plane ``size x size``), at least 32.
    slices : int, optional
        Number of slices of a 3D volume (default ``size // 2``); ignored in 2D.
    lesion : bool
        Ask for 1-3 lesions (count drawn from ``rng``), or none.
    tissues : mapping, optional
        Overrides of tissue mean values keyed by legend names: HU for ``ct`` (``{"liver": 80}``) and
        for ``xray`` (keys are CT tissue names; the radiograph is computed from a CT phantom), relative
        echogenicity for ``us``, for ``mri`` keyed by contrast then tissue
        (``{"T2": {"csf": 0.9}}``) or flat tissue names applying to ``mri_contrast``. ``"lesion"``
        fixes every lesion to that absolute value. Defaults: :data:`DEFAULT_TISSUES`.
    mri_contrast : {"T1", "T2", "FLAIR"}
        Primary MRI contrast returned as ``image`` (all contrasts are in ``sequences``).
    spacing_mm : float, optional
        Pixel spacing in mm. Default: the modality's field of view (CT 380 mm, MRI 220 mm, X-ray
        400 mm, ultrasound 120 mm depth) divided by ``size``, so anatomy scales with resolution.

    Returns
    -------
    SyntheticCase
        ``image`` float32 in native units, ``label`` uint8, ``spacing`` (mm, numpy order),
        ``legend``, ``class_label`` (1 if a lesion is in this image), ``sequences`` (MRI) and
        ``meta``.

    Raises
    ------
    ConfigError
        Unknown modality, MRI contrast or tissue name (named in the message), bad tissue value.
    ParameterError
        ``ndim=3`` for xray/us, ``size`` < 32, bad ``slices`` or ``spacing_mm``, ``rng`` not a Generator.
    """
    key = _check(modality, rng, ndim, size, slices, spacing_mm, mri_contrast)
    resolve_tissues(key, tissues, mri_contrast if key == "mri" else "T1")  # validate before drawing anything
    size = int(size)
    if key == "ct":
        from .ct import synthesize_ct

        return synthesize_ct(rng, ndim=ndim, size=size, slices=slices, lesion=bool(lesion), tissues=tissues,
                             spacing_mm=spacing_mm)
    if key == "mri":
        from .mri import synthesize_mri

        return synthesize_mri(rng, ndim=ndim, size=size, slices=slices, lesion=bool(lesion), tissues=tissues,
                              contrast=mri_contrast, spacing_mm=spacing_mm)
    if key == "xray":
        from .xray import synthesize_xray

        return synthesize_xray(rng, size=size, lesion=bool(lesion), tissues=tissues, spacing_mm=spacing_mm)
    from .us import synthesize_us

    return synthesize_us(rng, size=size, lesion=bool(lesion), tissues=tissues, spacing_mm=spacing_mm)

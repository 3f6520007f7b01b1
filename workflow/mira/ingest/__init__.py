"""Real-image ingestion: DICOM series, NIfTI and PNG/TIFF/JPEG into mira dataset folders.

Public interface::

    from mira.ingest import ingest_source, load_series, PYDICOM_SAMPLES

* :func:`ingest_source` reads one ``inputs:`` source of ``config.yaml`` and writes the
  train/val/test dataset folders (all or nothing).
* :func:`load_series` loads a file or folder into normalised in-memory cases.
* :data:`PYDICOM_SAMPLES` are ready ``inputs:`` entries using files bundled with pydicom (offline).

Stored conventions (see :mod:`mira.modalities`): CT in HU clipped to [-1024, 3071]; MRI magnitude
divided by its 99.5th percentile; X-ray as the displayed grey level in [0, 1] after MONOCHROME1
inversion (1 = white on the display), scaled by bits stored; ultrasound B-mode grey in [0, 1]
(colour reduced to luminance). Multi-frame CT/MRI files are volumes; multi-frame X-ray/US files
(cine loops) give one 2D case per kept frame, ``<id>_f000``..., all in the split of their file.

Modules: :mod:`.spec` (config validation), :mod:`.discover` (files, series grouping),
:mod:`.dicom`, :mod:`.nifti`, :mod:`.raster` (readers), :mod:`.normalise` (data contract),
:mod:`.ids` (case ids), :mod:`.splits` (split assignment), :mod:`.source` (orchestration),
:mod:`.samples` (pydicom test files), :mod:`.objects` (what a DICOM object is), :mod:`.report`
(the ingest report of every file considered).
"""
from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule. Imported on first use (PEP 562), so ``mira.ingest.spec`` (what the
#: Snakefile validates configs with) loads without the image readers (SimpleITK, pydicom).
_EXPORTS = {
    "ingest_source": "source", "load_series": "source", "iter_cases": "source",
    "PYDICOM_SAMPLES": "samples", "pydicom_test_files": "samples",
    "LoadedCase": "normalise", "IngestSpec": "spec", "parse_spec": "spec", "IngestReport": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

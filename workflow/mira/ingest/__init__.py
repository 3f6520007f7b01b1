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

Modules: :mod:`.discover` (files, series grouping),
:mod:`.dicom`, :mod:`.nifti`, :mod:`.raster` (readers), :mod:`.normalise` (data contract),
:mod:`.ids` (case ids), :mod:`.splits` (split assignment), :mod:`.source` (orchestration),
:mod:`.samples` (pydicom test files), :mod:`.objects` (what a DICOM object is), :mod:`.report`
(the ingest report of every file considered). The validation of an ``inputs:`` entry,
:func:`parse_spec`, lives in :mod:`mira.input_spec` (pure configuration parsing, used while the
Snakefile is parsed).
"""
from ..input_spec import IngestSpec, parse_spec
from .normalise import LoadedCase
from .report import IngestReport
from .samples import PYDICOM_SAMPLES, pydicom_test_files
from .source import ingest_source, iter_cases, load_series

__all__ = ["IngestReport", "IngestSpec", "LoadedCase", "PYDICOM_SAMPLES", "ingest_source", "iter_cases", "load_series",
           "parse_spec", "pydicom_test_files"]

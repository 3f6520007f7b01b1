"""Offline sample sources: DICOM files that ship inside the installed pydicom wheel.

The special path ``"pydicom:"`` resolves to ``pydicom/data/test_files`` next to the installed
``pydicom`` package. Nothing is downloaded (``pydicom.data.get_testdata_file`` may download files
that are not bundled, so it is not used).
"""
from __future__ import annotations

from pathlib import Path

import pydicom

from ..errors import InputError

#: Value of ``path`` that means pydicom's bundled test files.
PYDICOM_PATH = "pydicom:"

#: Ready ``inputs:`` entries using files bundled with pydicom (checked present by the tests).
#: ``examples_ybr_color.dcm`` is a 30-frame JPEG cine loop; ``max_frames: 4`` keeps 4 evenly spaced frames.
PYDICOM_SAMPLES: dict[str, dict] = {
    "pydicom_ct": {"modality": "ct", "path": PYDICOM_PATH, "include": ["CT_small.dcm"]},
    "pydicom_mr": {"modality": "mri", "path": PYDICOM_PATH, "include": ["MR_small.dcm"]},
    "pydicom_us": {
        "modality": "us", "path": PYDICOM_PATH,
        "include": ["examples_palette.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm"],
        "max_frames": 4,
    },
}


def pydicom_test_files() -> Path:
    """Return the folder ``pydicom/data/test_files`` of the installed pydicom package.

    Raises
    ------
    InputError
        If the installed pydicom wheel lacks the test files.
    """
    folder = Path(pydicom.__file__).resolve().parent / "data" / "test_files"
    if not folder.is_dir():
        raise InputError(f"pydicom: no bundled test files at {folder}")
    return folder


def resolve_path(path: str) -> Path:
    """Turn a spec ``path`` into a filesystem path (``"pydicom:"`` -> pydicom's test files)."""
    if path.strip() == PYDICOM_PATH:
        return pydicom_test_files()
    return Path(path).expanduser()

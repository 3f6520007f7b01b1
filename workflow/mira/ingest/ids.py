"""Case identifiers: sanitised (letters, digits, ``_`` and ``-``), unique and stable."""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Sequence

_BAD = re.compile(r"[^A-Za-z0-9_-]+")

#: File name endings removed when a file name becomes a case id (longest first).
KNOWN_SUFFIXES: tuple[str, ...] = (".nii.gz", ".dicom", ".tiff", ".jpeg", ".nii", ".dcm", ".ima", ".png", ".tif",
                                   ".jpg")


def strip_suffix(name: str) -> str:
    """Remove a known image suffix (``.dcm``, ``.nii.gz``, ``.png``, ...) from a file name."""
    low = name.lower()
    for suffix in KNOWN_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def sanitise(text: str) -> str:
    """Replace every run of characters other than letters, digits, ``_`` and ``-`` by ``_``.

    >>> sanitise("patient 1/CT.series#2")
    'patient_1_CT_series_2'
    """
    out = _BAD.sub("_", text).strip("_")
    return out or "case"


def short_hash(text: str, n: int = 8) -> str:
    """First ``n`` hex digits of the SHA-256 of ``text`` (stable across runs and machines)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def unique_ids(candidates: Sequence[str], keys: Sequence[str]) -> list[str]:
    """Make sanitised ids unique: colliding ids get ``_<hash of their key>`` appended.

    Parameters
    ----------
    candidates : sequence of str
        Wanted ids (already sanitised).
    keys : sequence of str
        A distinct, stable key per item (relative path, series UID); only used on collisions, so an
        id changes only when another item with the same wanted id appears.
    """
    counts = Counter(candidates)
    out = [c if counts[c] == 1 else f"{c}_{short_hash(k)}" for c, k in zip(candidates, keys)]
    if len(set(out)) != len(out):  # pragma: no cover - needs a SHA-256 prefix collision
        out = [f"{c}_{short_hash(k, 16)}" for c, k in zip(candidates, keys)]
    return out

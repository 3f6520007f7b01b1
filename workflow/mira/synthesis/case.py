"""The :class:`SyntheticCase` record returned by every phantom generator, and small shared helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: region ids >= LESION_REGION_BASE mark individual lesions before they are mapped to the lesion label
LESION_REGION_BASE = 200


@dataclass
class SyntheticCase:
    """One synthetic image with its label map.

    Attributes
    ----------
    image : ndarray of float32
        Primary image in native units (HU for CT, magnitude for MRI, I/I0 for X-ray, B-mode 0..1 for
        ultrasound); ``(y, x)`` or ``(z, y, x)``.
    label : ndarray of uint8
        Label map of the same shape (values of ``legend``).
    spacing : tuple of float
        Pixel spacing in mm, numpy order, ``len(spacing) == image.ndim``.
    legend : dict
        Label value -> name, including ``0: "background"``.
    class_label : int
        1 if at least one lesion is present in this image (in the slice / projection), else 0.
    sequences : dict
        MRI: every co-registered contrast including the primary one; ``{}`` otherwise.
    meta : dict
        JSON-serialisable description of the drawn anatomy: lesion count, sizes (mm), values and
        contrasts, geometry parameters.
    """

    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, ...]
    legend: dict[int, str]
    class_label: int
    sequences: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples inside ``obj`` to plain Python (JSON-serialisable)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return round(float(obj), 4)
    if isinstance(obj, float):
        return round(obj, 4)
    return obj


def region_to_label(region: np.ndarray, lesion_label: int) -> np.ndarray:
    """Map region ids to legend labels: ids below ``LESION_REGION_BASE`` are labels already, every
    lesion region becomes ``lesion_label``."""
    lut = np.arange(256, dtype=np.uint8)
    lut[LESION_REGION_BASE:] = lesion_label
    return lut[region]

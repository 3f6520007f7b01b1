"""The unit every augmentation works on: an image, its label map, extra sequences and geometry.

A :class:`Sample` keeps together what must stay registered: the image (native units, HU for
CT), an optional integer label map, optional extra co-registered sequences (MRI T2/FLAIR of the
same case; every spatial transform moves them with the one grid the image uses), the pixel spacing
in mm, the modality (which selects the :class:`~mira.modalities.ModalityProfile` and so the
limits), the label legend (to swap paired left/right labels on flips) and the transform history
(the parameters every transform drew, so a call can be logged and replayed with
:func:`mira.augment.replay`).

Transforms also accept a plain ``dict`` with the same keys (returned as a dict, e.g. inside a
PyTorch ``Dataset``) or a bare ``ndarray`` (returned as an array; the transform must then be given
a ``modality``).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import ParameterError
from ..modalities import MODALITIES

SAMPLE_KEYS = ("image", "label", "sequences", "spacing", "modality", "legend", "meta", "history")


@dataclass
class Sample:
    """An image with its label map, extra sequences and geometry (see the module docstring).

    Parameters
    ----------
    image : ndarray
        2D ``(y, x)`` or 3D ``(z, y, x)`` image in native units; stored as float32.
    label : ndarray, optional
        Integer label map of the same shape (0 = background).
    sequences : dict of str to ndarray, optional
        Extra co-registered images of the same shape (MRI sequences).
    spacing : sequence of float, optional
        Pixel spacing in mm, numpy order; default 1 mm.
    modality : str, optional
        ``"ct"``, ``"mri"``, ``"xray"`` or ``"us"``.
    legend : dict of int to str, optional
        Label value -> name (``"left_lung"`` and ``"right_lung"`` are swapped by left-right flips).
    meta : dict, optional
        Free-form case information (``class_label``, case id, ultrasound sector geometry, ...).
    history : list of dict
        Records ``{"transform": name, "params": {...}}`` appended by each transform applied.
    """

    image: np.ndarray
    label: np.ndarray | None = None
    sequences: dict[str, np.ndarray] = field(default_factory=dict)
    spacing: tuple[float, ...] | None = None
    modality: str | None = None
    legend: dict[int, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        img = np.asarray(self.image)
        if img.ndim not in (2, 3):
            raise ParameterError(f"a sample image must be 2D (y, x) or 3D (z, y, x), got shape {img.shape}")
        if not np.issubdtype(img.dtype, np.number):
            raise ParameterError(f"image dtype {img.dtype} is not numeric")
        self.image = img.astype(np.float32, copy=False)
        if self.label is not None:
            lab = np.asarray(self.label)
            if lab.shape != img.shape:
                raise ParameterError(f"label shape {lab.shape} != image shape {img.shape}")
            if not np.issubdtype(lab.dtype, np.integer):
                if lab.size and not np.array_equal(lab, np.round(lab)):
                    raise ParameterError("label map must hold integers")
                lab = lab.astype(np.int32)
            self.label = lab
        seqs = {}
        for name, arr in (self.sequences or {}).items():
            a = np.asarray(arr)
            if a.shape != img.shape:
                raise ParameterError(f"sequence {name!r} shape {a.shape} != image shape {img.shape}")
            seqs[str(name)] = a.astype(np.float32, copy=False)
        self.sequences = seqs
        if self.spacing is None:
            self.spacing = (1.0,) * img.ndim
        sp = tuple(float(s) for s in self.spacing)
        if len(sp) != img.ndim or any(not np.isfinite(s) or s <= 0 for s in sp):
            raise ParameterError(f"spacing {sp} must hold {img.ndim} positive values in mm")
        self.spacing = sp
        if self.modality is not None:
            mod = str(self.modality).lower()
            if mod not in MODALITIES:
                raise ParameterError(f"unknown modality {self.modality!r} (known: {', '.join(MODALITIES)})")
            self.modality = mod
        self.legend = {int(k): str(v) for k, v in (self.legend or {}).items()}
        self.meta = dict(self.meta or {})
        self.history = list(self.history or [])

    @property
    def ndim(self) -> int:
        return self.image.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.image.shape)

    def channels(self) -> dict[str, np.ndarray]:
        """The image and every extra sequence by name (``"image"`` first)."""
        return {"image": self.image, **self.sequences}

    def replace(self, **changes: Any) -> "Sample":
        """A new sample with fields replaced; the history list is copied, arrays are shared."""
        changes.setdefault("history", [copy.deepcopy(h) for h in self.history])
        changes.setdefault("sequences", dict(self.sequences))
        changes.setdefault("meta", dict(self.meta))
        return dataclasses.replace(self, **changes)

    def with_channels(self, channels: Mapping[str, np.ndarray], label: np.ndarray | None | str = "keep") -> "Sample":
        """A new sample whose image/sequences are replaced by ``channels`` (as from :meth:`channels`)."""
        seqs = {k: v for k, v in channels.items() if k != "image"}
        kwargs: dict[str, Any] = dict(image=channels["image"], sequences=seqs)
        if not (isinstance(label, str) and label == "keep"):
            kwargs["label"] = label
        return self.replace(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SAMPLE_KEYS}

    @classmethod
    def from_case(cls, case, modality: str | None = None, legend: Mapping[int, str] | None = None) -> "Sample":
        """Build a sample from a loaded :class:`mira.dataset.Case` (sequences included if loaded)."""
        rec = case.record
        return cls(image=case.image, label=case.label, sequences=dict(case.sequences), spacing=case.spacing,
                   modality=modality or rec.modality, legend=dict(legend or {}),
                   meta={"case_id": rec.case_id, "class_label": rec.class_label, "source": rec.source})


def as_sample(data: Any, modality: str | None = None) -> tuple[Sample, Callable[[Sample], Any]]:
    """Convert ``data`` (Sample, dict or ndarray) to a Sample; return it and a function converting back."""
    if isinstance(data, Sample):
        if modality is not None and data.modality is None:
            return data.replace(modality=modality), lambda s: s
        return data, lambda s: s
    if isinstance(data, Mapping):
        unknown = set(data) - set(SAMPLE_KEYS)
        if "image" not in data:
            raise ParameterError("a sample dict needs an 'image' entry")
        kwargs = {k: data[k] for k in SAMPLE_KEYS if k in data}
        if kwargs.get("modality") is None and modality is not None:
            kwargs["modality"] = modality
        sample = Sample(**kwargs)
        extra = {k: data[k] for k in unknown}

        def back(s: Sample) -> dict[str, Any]:
            return {**extra, **s.to_dict()}

        return sample, back
    if isinstance(data, np.ndarray):
        dtype = data.dtype
        sample = Sample(image=data, modality=modality)
        return sample, (lambda s: s.image.astype(dtype, copy=False) if np.issubdtype(dtype, np.floating) else s.image)
    raise ParameterError(f"cannot augment an object of type {type(data).__name__}; pass a Sample, dict or ndarray")


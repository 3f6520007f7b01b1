"""The unit every augmentation works on: an image, its label map, extra sequences and geometry.

A :class:`Sample` keeps together what must stay registered: the image (native units, HU for
CT), an optional integer label map, optional extra co-registered sequences (MRI T2/FLAIR of the
same case; every spatial transform moves them with the one grid the image uses), the pixel spacing
in mm, the modality (which selects the :class:`~mira.modalities.ModalityProfile` and so the
limits), the label legend (to swap paired left/right labels on flips) and the transform history
(the parameters every transform drew, so a call can be logged and replayed with
:func:`mira.augment.replay`).

Transforms also accept, and return in the same kind (see :func:`as_sample`):

* a ``dict`` with the same keys (``{"image": ..., "label": ..., ...}``, as MONAI and TorchIO
  users pass them), whose arrays may be numpy arrays or torch tensors; keys that are not sample
  fields pass through unchanged and the history is appended under ``"history"``;
* a bare numpy array or torch tensor (the transform must then be given a ``modality``).

Array layout: a numpy array is ``(y, x)`` or ``(z, y, x)`` (mira's order), a 4D one ``(c, z, y,
x)``; a torch tensor is channel-first, ``(c, y, x)`` or ``(c, z, y, x)`` (a 2D tensor is ``(y,
x)``). A dict's ``spacing`` (one value per spatial axis) settles the layout when given. Channel 0
is the image and further channels are extra sequences; the label map has the image's layout with
one channel. Floating images keep their dtype (integer ones come back float32), label maps their
dtype, tensors their device.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import sys
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


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch when it is not loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


@dataclass(frozen=True)
class _Layout:
    """How one array came in: numpy or torch (dtype, device) and whether it had a channel axis."""

    tensor: bool
    dtype: Any
    device: Any
    channel: bool

    @classmethod
    def of(cls, value: Any, channel: bool) -> "_Layout":
        if is_tensor(value):
            return cls(True, value.dtype, value.device, channel)
        return cls(False, np.asarray(value).dtype, None, channel)

    def restore(self, array: np.ndarray, *, label: bool = False) -> Any:
        """``array`` (with its channel axis, if it had one) back in this layout's kind, dtype and device."""
        arr = array
        if self.tensor:
            import torch

            t = torch.from_numpy(np.ascontiguousarray(arr))
            if label or self.dtype.is_floating_point:
                t = t.to(self.dtype)
            return t.to(self.device)
        if label or np.issubdtype(self.dtype, np.floating):
            return arr.astype(self.dtype, copy=False)
        return arr


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if is_tensor(value) else np.asarray(value)


def _spatial_ndim(image: Any, spacing: Any) -> int:
    """Number of spatial axes of ``image`` (module docstring: array layout)."""
    nd = len(image.shape)
    if spacing is not None:
        k = len(_numpy(spacing).reshape(-1))
        if nd not in (k, k + 1):
            raise ParameterError(f"image of shape {tuple(image.shape)} does not match spacing with {k} values")
        return k
    if nd == 4 or (nd == 3 and is_tensor(image)):
        return nd - 1
    return nd


def _split(value: Any, nd: int, name: str) -> tuple[np.ndarray, _Layout]:
    """``value`` as a spatial (or ``(c, ...)`` when it has a channel axis) numpy array, and its layout."""
    arr = _numpy(value)
    if arr.ndim not in (nd, nd + 1):
        raise ParameterError(f"{name} of shape {arr.shape} does not match a {nd}D image")
    return arr, _Layout.of(value, arr.ndim == nd + 1)


def _from_mapping(data: Mapping[str, Any], modality: str | None) -> tuple[Sample, Callable[[Sample], Any]]:
    if "image" not in data:
        raise ParameterError("a sample dict needs an 'image' entry")
    nd = _spatial_ndim(data["image"], data.get("spacing"))
    image, img_layout = _split(data["image"], nd, "image")
    channels = list(image) if img_layout.channel else [image]
    kwargs: dict[str, Any] = {k: data[k] for k in ("modality", "legend", "meta") if data.get(k) is not None}
    kwargs["image"] = channels[0]
    seq_layouts: dict[str, _Layout] = {}
    seqs = {f"channel_{c}": ch for c, ch in enumerate(channels[1:], start=1)}
    for name, value in dict(data.get("sequences") or {}).items():
        seqs[name], seq_layouts[name] = _split(value, nd, f"sequence {name!r}")
        if seq_layouts[name].channel:
            seqs[name] = seqs[name][0]
    kwargs["sequences"] = seqs
    lab_layout = None
    if data.get("label") is not None:
        label, lab_layout = _split(data["label"], nd, "label")
        kwargs["label"] = label[0] if lab_layout.channel else label
    if data.get("spacing") is not None:
        kwargs["spacing"] = tuple(float(v) for v in _numpy(data["spacing"]).reshape(-1))
    history = data.get("history")
    as_json = isinstance(history, str)
    kwargs["history"] = json.loads(history) if as_json else list(history or [])
    if kwargs.get("modality") is None and modality is not None:
        kwargs["modality"] = modality
    sample = Sample(**kwargs)
    n_channels = len(channels)

    def back(s: Sample) -> dict[str, Any]:
        out = dict(data)
        stack = [s.image] + [s.sequences[f"channel_{c}"] for c in range(1, n_channels)]
        out["image"] = img_layout.restore(np.stack(stack) if img_layout.channel else stack[0])
        if lab_layout is not None and s.label is not None:
            out["label"] = lab_layout.restore(s.label[None] if lab_layout.channel else s.label, label=True)
        if "sequences" in data:
            out["sequences"] = {k: lay.restore(s.sequences[k][None] if lay.channel else s.sequences[k])
                                for k, lay in seq_layouts.items()}
        if "meta" in data:
            out["meta"] = s.meta
        out["history"] = json.dumps(s.history) if as_json else s.history
        return out

    return sample, back


def as_sample(data: Any, modality: str | None = None) -> tuple[Sample, Callable[[Sample], Any]]:
    """Convert ``data`` to a :class:`Sample`; return it and a function converting a sample back.

    Parameters
    ----------
    data : Sample, dict, ndarray or torch.Tensor
        See the module docstring for the accepted layouts. A dict's ``"history"`` may be a list of
        records or a JSON string of one (as :class:`mira.torch_data.MiraDataset` returns it, so
        that ``default_collate`` works); the converted-back dict holds it in the same form.
    modality : str, optional
        Modality of the sample when ``data`` does not say.

    Returns
    -------
    sample : Sample
    back : callable
        ``back(sample)`` -> the same kind as ``data``: a Sample, a dict (the input's keys, the
        image, label map and sequences replaced, the history under ``"history"``), an array or a
        tensor (same dtype rules and device).
    """
    if isinstance(data, Sample):
        if modality is not None and data.modality is None:
            return data.replace(modality=modality), lambda s: s
        return data, lambda s: s
    if isinstance(data, Mapping):
        return _from_mapping(data, modality)
    if isinstance(data, np.ndarray) or is_tensor(data):
        image, layout = _split(data, _spatial_ndim(data, None), "image")
        channels = list(image) if layout.channel else [image]
        sample = Sample(image=channels[0], sequences={f"channel_{c}": ch for c, ch in enumerate(channels[1:], 1)},
                        modality=modality)

        def back(s: Sample) -> Any:
            stack = [s.image] + [s.sequences[f"channel_{c}"] for c in range(1, len(channels))]
            return layout.restore(np.stack(stack) if layout.channel else stack[0])

        return sample, back
    raise ParameterError(f"cannot augment an object of type {type(data).__name__}; "
                         "pass a Sample, dict, ndarray or torch tensor")

"""Chains of spatial transforms resampled once, and the base class of spatial transforms.

A spatial transform is a backward point map (see :mod:`mira.augment.spatial`); a chain of them
composes the maps and resamples every channel and the label map once.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import ParameterError
from ...modalities import ModalityProfile, as_profile
from ..base import Transform, clip_to, value_range_param
from ..sample import Sample
from .grid import Geometry, warp_arrays, warp_label
from .sector import sector_mask


def _chain_points(chain: Sequence[tuple[type, dict]], geom: Geometry, inverse: bool = False) -> np.ndarray | None:
    pts = None
    if inverse:
        for cls, params in chain:
            pts = cls.forward_points(pts, params, geom)
    else:
        for cls, params in reversed(chain):
            pts = cls.backward_points(pts, params, geom)
    return pts


def resample_chain(sample: Sample, chain: Sequence[tuple[type, dict]], inverse: bool = False) -> Sample:
    """Apply a chain of spatial ``(class, params)`` records with ONE resampling of every array.

    ``inverse=True`` applies the inverse chain (used by the constraint checks to map a transformed
    label map back onto the original geometry).
    """
    if not chain:
        return sample.replace()
    geom = Geometry(sample.shape, sample.spacing)
    pts = _chain_points(chain, geom, inverse)
    if pts is None:
        return sample.replace()
    pts = np.broadcast_to(pts, (geom.ndim, *geom.shape))
    order = max(int(params.get("order", 1)) for _, params in chain)
    first = chain[0][1]
    fill = float(first.get("fill", as_profile(sample.modality).fill_value if sample.modality else 0.0))
    names = list(sample.channels())
    warped = warp_arrays(list(sample.channels().values()), pts, geom, order, fill)
    vr = first.get("value_range")
    channels = {n: clip_to(w, vr) for n, w in zip(names, warped)}
    label = warp_label(sample.label, pts, geom) if sample.label is not None else None
    if label is not None:
        for cls, params in (reversed(chain) if inverse else chain):
            label = cls.relabel(label, params)
    out = sample.with_channels(channels, label=label)
    fov = first.get("keep_field_of_view")
    for _, params in chain:
        if params.get("sets_field_of_view"):
            fov = params["sector"] if inverse else params["keep_field_of_view"]
    if fov is not None:
        out = restore_field_of_view(out, fov, fill)
        if "sector" in out.meta or any(p.get("sets_field_of_view") for _, p in chain):
            out.meta["sector"] = dict(fov)
    return out


def restore_field_of_view(sample: Sample, fov: dict, fill: float) -> Sample:
    """Ultrasound: pixels outside the original sector are set to the fill value (scan geometry kept)."""
    mask = sector_mask(sample.shape, sample.spacing, fov)
    channels = {k: np.where(mask, v, np.float32(fill)).astype(np.float32) for k, v in sample.channels().items()}
    label = np.where(mask, sample.label, 0).astype(sample.label.dtype) if sample.label is not None else None
    return sample.with_channels(channels, label=label)


class SpatialTransform(Transform):
    """Base of transforms that move pixels; subclasses define the point maps."""

    spatial = True

    def __init__(self, *, image_order: int = 1, p: float = 1.0, modality: str | ModalityProfile | None = None):
        if image_order not in (0, 1, 3):
            raise ParameterError(f"image_order must be 0 (nearest), 1 (linear) or 3 (cubic), got {image_order}")
        self.image_order = int(image_order)
        super().__init__(p=p, modality=modality)

    def common_params(self, sample: Sample, profile: ModalityProfile) -> dict[str, Any]:
        out: dict[str, Any] = {"order": self.image_order, "fill": float(profile.fill_value),
                               "value_range": value_range_param(profile)}
        fov = sample.meta.get("sector")
        if profile.name == "us" and fov is not None:
            out["keep_field_of_view"] = dict(fov)
        return out

    @staticmethod
    def pivot(sample: Sample, profile: ModalityProfile) -> list[float] | None:
        """Centre of rotation/scaling: the sector apex for ultrasound (a probe tilt), else the image centre."""
        fov = sample.meta.get("sector")
        return list(fov["apex_mm"]) if profile.name == "us" and fov is not None else None

    @classmethod
    def backward_points(cls, pts: np.ndarray | None, params: dict, geom: Geometry) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def forward_points(cls, pts: np.ndarray | None, params: dict, geom: Geometry) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def relabel(cls, label: np.ndarray, params: dict) -> np.ndarray:
        return label

    @classmethod
    def apply(cls, sample: Sample, params: dict) -> Sample:
        return resample_chain(sample, [(cls, params)])

    @classmethod
    def check_invertible(cls, params: dict, geom: Geometry) -> None:
        """Raise :class:`~mira.errors.ParameterError` when the map of ``params`` has no inverse on ``geom``."""

    @classmethod
    def invert(cls, sample: Sample, params: dict) -> Sample:
        """Map ``sample`` from the augmented frame back to the original one (one resampling).

        Subclasses whose inverse is not the inverse point map (``forward_points``) override it;
        :func:`mira.augment.inverse` then calls it on its own instead of fusing it into a chain.
        """
        cls.check_invertible(params, Geometry(sample.shape, sample.spacing))
        return resample_chain(sample, [(cls, params)], inverse=True)

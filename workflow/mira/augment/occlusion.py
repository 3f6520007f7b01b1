"""Local occlusion: random boxes that mimic metal implants or acoustic shadows.

The fill value is the modality's ``profile.occlusion_fill``: metal (3071 HU, the top of the CT
range) for CT, signal void (0) for MRI, no transmission (I/I0 = 0) for X-ray. For ultrasound an
occlusion is an *acoustic shadow*: it starts at a random depth and runs down the beam to the far
edge of the image (along the sector's radial lines when the sample has a sector geometry in
``meta["sector"]``), filled with 0. Label maps are not changed (the anatomy is still there), so
the constraint table shows how much a box hides a lesion.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError
from .base import Transform, bounded_range, clip_to, value_range_param
from .sample import Sample
from .spatial import Geometry


class RandomOcclusion(Transform):
    """Fill 1..``max_boxes`` random boxes with a modality-sensible value.

    Parameters
    ----------
    max_boxes : int
        Largest number of boxes per call (at least one is drawn).
    size_fraction : (float, float), optional
        Range of each box side as a fraction of the image extent; default and limit
        ``(0.05, profile.occlusion_max_fraction)``.
    fill : float, optional
        Fill value; default ``profile.occlusion_fill`` (``fill_value`` when unset).

    Drawn parameters: ``boxes`` (``[[start, stop] per axis]`` in pixels, stop exclusive),
    ``fill``, ``shadow`` (ultrasound), ``sector`` (when the shadow follows the sector geometry).
    """

    family = "occlusion"

    def __init__(self, max_boxes: int = 2, size_fraction=None, fill: float | None = None, *, p: float = 1.0,
                 modality=None):
        if int(max_boxes) < 1:
            raise ParameterError(f"max_boxes={max_boxes} must be >= 1")
        if fill is not None and not np.isfinite(fill):
            raise ParameterError(f"occlusion fill={fill} must be finite")
        self.max_boxes, self.size_fraction, self.fill = int(max_boxes), size_fraction, fill
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        hi = float(profile.occlusion_max_fraction)
        rng = bounded_range(self.size_fraction, (0.0, hi), "size_fraction", profile, "occlusion_max_fraction")
        if rng[0] == 0.0 and self.size_fraction is None:
            rng = (min(0.05, hi), hi)
        fill = self.fill if self.fill is not None else (
            profile.occlusion_fill if profile.occlusion_fill is not None else profile.fill_value)
        lo_v, hi_v = profile.value_range
        if not lo_v <= fill <= hi_v:
            raise ParameterError(f"occlusion fill {fill} lies outside the {profile.name} value range "
                                 f"{profile.value_range}")
        return {"size": rng, "fill": float(fill)}

    def sample_params(self, sample, rng, ranges, profile):
        n = int(rng.integers(1, self.max_boxes + 1))
        boxes = []
        for _ in range(n):
            box = []
            for ext in sample.shape:
                size = max(1, int(round(rng.uniform(*ranges["size"]) * ext)))
                start = int(rng.integers(0, max(1, ext - size + 1)))
                box.append([start, min(ext, start + size)])
            boxes.append(box)
        params: dict[str, Any] = {"boxes": boxes, "fill": ranges["fill"], "value_range": value_range_param(profile)}
        if profile.name == "us":
            params["shadow"] = True
            if sample.meta.get("sector") is not None:
                params["sector"] = dict(sample.meta["sector"])
        return params

    @staticmethod
    def mask(shape: tuple[int, ...], spacing: tuple[float, ...], params: dict) -> np.ndarray:
        """Boolean mask of the occluded pixels for ``params``."""
        m = np.zeros(shape, dtype=bool)
        sector = params.get("sector")
        for box in params["boxes"]:
            if params.get("shadow") and sector is not None and len(shape) == 2:
                geom = Geometry(shape, spacing)
                ay, ax = sector["apex_mm"]
                dy = geom.broadcast_axis(0) - np.float32(ay)
                dx = geom.broadcast_axis(1) - np.float32(ax)
                r = np.sqrt(dy * dy + dx * dx)
                ang = np.arctan2(dx, dy)
                # the box's top-centre defines the obstacle; its width defines the shadow's angular width
                (y0, y1), (x0, x1) = box
                cy = (y0 - (shape[0] - 1) / 2.0) * spacing[0] - ay
                cx0 = ((x0 - (shape[1] - 1) / 2.0) * spacing[1]) - ax
                cx1 = ((x1 - 1 - (shape[1] - 1) / 2.0) * spacing[1]) - ax
                a0, a1 = sorted((np.arctan2(cx0, cy), np.arctan2(cx1, cy)))
                r0 = float(np.hypot(cy, 0.5 * (cx0 + cx1)))
                m |= (r >= r0) & (ang >= a0) & (ang <= a1)
                continue
            sl = [slice(a, b) for a, b in box]
            if params.get("shadow"):
                sl[0] = slice(box[0][0], shape[0])  # shadow runs down to the far edge
            m[tuple(sl)] = True
        return m

    @classmethod
    def apply(cls, sample: Sample, params: dict) -> Sample:
        m = cls.mask(sample.shape, sample.spacing, params)
        fill = np.float32(params["fill"])
        vr = params.get("value_range")
        return sample.with_channels({k: clip_to(np.where(m, fill, v).astype(np.float32), vr)
                                     for k, v in sample.channels().items()})


__all__ = ["RandomOcclusion"]

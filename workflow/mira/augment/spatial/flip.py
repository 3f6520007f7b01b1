"""Flips; a left-right flip swaps paired left/right labels."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import ParameterError
from ..base import clip_to
from .chain import SpatialTransform, restore_field_of_view

_SIDE_WORDS = (("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT"))


def paired_labels(legend: dict[int, str]) -> list[tuple[int, int]]:
    """Pairs of label values whose names differ only by left/right (``left_lung``/``right_lung``,
    ``kidney_l``/``kidney_r``)."""
    by_name = {name: value for value, name in legend.items()}
    pairs = []
    for value, name in sorted(legend.items()):
        other = None
        for lw, rw in _SIDE_WORDS:
            if lw in name:
                other = name.replace(lw, rw)
                break
        if other is None:
            for suffix_l, suffix_r in (("_l", "_r"), ("_L", "_R")):
                if name.endswith(suffix_l):
                    other = name[: -len(suffix_l)] + suffix_r
                    break
        if other is not None and other in by_name and by_name[other] != value:
            pair = tuple(sorted((value, by_name[other])))
            if pair not in pairs:
                pairs.append(pair)
    return pairs


class RandomFlip(SpatialTransform):
    """Mirror along axes; a left-right flip (the last axis, ``x``) swaps paired left/right labels.

    Parameters
    ----------
    axes : sequence of int
        Axes that may be flipped (numpy order; ``-1`` = x = patient left-right).
    flip_probability : float
        Probability of flipping each listed axis (independently).

    Drawn parameters: ``axes`` (the flipped ones, non-negative) and ``label_swaps`` (pairs of label
    values exchanged, from the sample's legend, only when the left-right axis flips).
    A left-right flip mirrors unpaired organs too (heart, liver): the constraint table reports it
    under "relative positions".
    """

    family = "geometric"

    def __init__(self, axes: Sequence[int] = (-1,), flip_probability: float = 0.5, *, p: float = 1.0, modality=None):
        self.axes = tuple(int(a) for a in axes)
        if not self.axes:
            raise ParameterError("RandomFlip needs at least one axis")
        if not 0.0 <= float(flip_probability) <= 1.0:
            raise ParameterError(f"flip_probability={flip_probability} must lie in [0, 1]")
        self.flip_probability = float(flip_probability)
        super().__init__(image_order=1, p=p, modality=modality)

    def sample_params(self, sample, rng, ranges, profile):
        nd = sample.ndim
        axes = []
        for a in self.axes:
            if not -nd <= a < nd:
                raise ParameterError(f"flip axis {a} out of range for a {nd}D image")
            if rng.random() < self.flip_probability:
                axes.append(a % nd)
        axes = sorted(set(axes))
        swaps = paired_labels(sample.legend) if (nd - 1) in axes else []
        params = {"axes": axes, "label_swaps": [list(s) for s in swaps]}
        params.update(self.common_params(sample, profile))
        return params

    @classmethod
    def backward_points(cls, pts, params, geom):
        if pts is None:
            pts = geom.grid_points()
        else:
            pts = pts.copy()
        for a in params["axes"]:
            pts[a] = -pts[a]
        return pts

    forward_points = backward_points

    @classmethod
    def invert(cls, sample, params):
        """A flip is its own inverse (exact: no resampling; paired labels swap back)."""
        return cls.apply(sample, params)

    @classmethod
    def relabel(cls, label, params):
        swaps = params.get("label_swaps") or []
        if not swaps:
            return label
        out = label.copy()
        for a, b in swaps:
            out[label == a] = b
            out[label == b] = a
        return out

    @classmethod
    def apply(cls, sample, params):
        axes = tuple(params["axes"])
        if not axes:
            return sample.replace()
        vr = params.get("value_range")
        channels = {k: clip_to(np.ascontiguousarray(np.flip(v, axis=axes)), vr) for k, v in sample.channels().items()}
        label = None
        if sample.label is not None:
            label = cls.relabel(np.ascontiguousarray(np.flip(sample.label, axis=axes)), params)
        out = sample.with_channels(channels, label=label)
        fov = params.get("keep_field_of_view")
        if fov is not None:
            out = restore_field_of_view(out, fov, float(params.get("fill", 0.0)))
        return out

"""Modality-specific transforms: MRI bias field, ultrasound speckle and sector-angle changes.

* **MRI bias field** (:class:`RandomBiasField`): a smooth multiplicative field
  ``exp(a * P(x) / max|P|)`` with ``P`` a random combination of Legendre polynomials up to
  ``order`` (as in TorchIO/MONAI), normalised so the gain stays within ``[1/(1+b), 1+b]``,
  ``b = profile.bias_field_max`` (MRI 0.3). The same field multiplies every sequence of the case
  (one receive coil).
* **Ultrasound speckle** (:class:`RandomSpeckle`): multiplicative, unit-mean Rayleigh-distributed
  speckle (magnitude of spatially correlated complex Gaussian noise, grain size in mm) with standard
  deviation ``strength`` (``profile.speckle_range``, US 0.05-0.2: it multiplies an image that is already
  speckled).
* **Ultrasound sector angle** (:class:`RandomSectorAngle`): the sector's opening angle changes by a
  few degrees (``profile.sector_angle_max_deg``, US 5) about the same apex and depth, so the image
  is still a valid sector scan; the content is resampled in polar coordinates.

The sector geometry (a dict of apex, radii and half angle) and its estimate from an image live in
:mod:`mira.augment.spatial.sector`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numpy.polynomial import legendre
from scipy import ndimage as ndi

from ..errors import ParameterError
from .base import Transform, bounded_range, clip_to, symmetric_range, value_range_param
from .spatial.chain import SpatialTransform
from .spatial.sector import estimate_sector

# ------------------------------------------------------------------------------------------------
# MRI bias field


def _legendre_basis(n: int, order: int) -> np.ndarray:
    """``(n, order + 1)`` matrix of Legendre polynomials P_0..P_order on ``n`` points in [-1, 1]."""
    x = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return np.stack([legendre.legval(x, np.eye(order + 1)[k]) for k in range(order + 1)], axis=1)


def bias_field(shape: Sequence[int], coefficients: np.ndarray, log_amplitude: float) -> np.ndarray:
    """Multiplicative bias field ``exp(log_amplitude * P / max|P|)`` (float32, ``shape``).

    ``coefficients`` is a tensor ``(order+1,) * ndim`` of Legendre coefficients (entries with total
    degree above ``order``, and the constant term, should be zero). The field is evaluated
    separably, so a 128^3 volume costs a few small matrix products.
    """
    coef = np.asarray(coefficients, dtype=np.float64)
    nd = len(shape)
    if coef.ndim != nd or len(set(coef.shape)) != 1:
        raise ParameterError(f"bias-field coefficients {coef.shape} do not match a {nd}D image")
    order = coef.shape[0] - 1
    f = coef
    for a in reversed(range(nd)):
        f = np.tensordot(_legendre_basis(int(shape[a]), order), f, axes=([1], [f.ndim - 1]))
    peak = float(np.abs(f).max())
    if peak == 0.0:
        return np.ones(tuple(shape), dtype=np.float32)
    return np.exp(f * (float(log_amplitude) / peak)).astype(np.float32)


class RandomBiasField(Transform):
    """Smooth multiplicative MRI bias field (see module docstring); ``max_strength`` <= ``profile.bias_field_max``.

    Drawn parameters: ``coefficients`` (Legendre tensor), ``order``, ``log_amplitude``
    (uniform in ``[-log(1+b), log(1+b)]``).
    """

    family = "bias_field"

    def __init__(self, max_strength: float | None = None, order: int = 3, *, p: float = 1.0, modality=None):
        if max_strength is not None and (not np.isfinite(max_strength) or max_strength < 0):
            raise ParameterError(f"bias-field max_strength={max_strength} must be >= 0")
        if int(order) < 1 or int(order) > 6:
            raise ParameterError(f"bias-field order={order} must lie in 1..6")
        self.max_strength, self.order = max_strength, int(order)
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        return symmetric_range(self.max_strength, profile.bias_field_max, "max_strength", profile, "bias_field_max")[1]

    def sample_params(self, sample, rng, ranges, profile):
        nd, k = sample.ndim, self.order + 1
        coef = rng.uniform(-1.0, 1.0, size=(k,) * nd)
        degree = np.indices((k,) * nd).sum(axis=0)
        coef[(degree > self.order) | (degree == 0)] = 0.0
        amp = math.log1p(ranges)
        return {"coefficients": np.round(coef, 6), "order": self.order, "log_amplitude": rng.uniform(-amp, amp),
                "value_range": value_range_param(profile)}

    @classmethod
    def apply(cls, sample, params):
        field = bias_field(sample.shape, np.asarray(params["coefficients"]), params["log_amplitude"])
        vr = params.get("value_range")
        return sample.with_channels({k: clip_to(v * field, vr) for k, v in sample.channels().items()})


# ------------------------------------------------------------------------------------------------
# ultrasound speckle

_RAYLEIGH_REL_STD = math.sqrt((4.0 - math.pi) / math.pi)  # std / mean of a Rayleigh variable


def speckle_factor(shape: Sequence[int], strength: float, rng: np.random.Generator,
                   grain_px: Sequence[float] | float = 0.0) -> np.ndarray:
    """Unit-mean multiplicative speckle with standard deviation ``strength`` (< 0.5 keeps it > 0).

    Built from the magnitude of complex Gaussian noise (Rayleigh, fully developed speckle),
    optionally correlated by a Gaussian of ``grain_px`` pixels (the resolution cell).
    """
    if not 0.0 <= strength < 0.5:
        raise ParameterError(f"speckle strength={strength} must lie in [0, 0.5)")
    shape = tuple(int(s) for s in shape)
    re = rng.standard_normal(shape, dtype=np.float32)
    im = rng.standard_normal(shape, dtype=np.float32)
    grain = np.broadcast_to(np.asarray(grain_px, dtype=float), (len(shape),))
    if np.any(grain > 0):
        re = ndi.gaussian_filter(re, grain)
        im = ndi.gaussian_filter(im, grain)
    mag = np.sqrt(re * re + im * im)
    mag /= np.float32(mag.mean(dtype=np.float64))
    return (1.0 + np.float32(strength / _RAYLEIGH_REL_STD) * (mag - 1.0)).astype(np.float32)


class RandomSpeckle(Transform):
    """Multiplicative ultrasound speckle; strength from ``strength_range`` (default/limit ``profile.speckle_range``).

    Parameters
    ----------
    grain_mm : float, optional
        Correlation length (Gaussian sigma) of the speckle in mm; default one pixel.
    """

    family = "speckle"

    def __init__(self, strength_range=None, grain_mm: float | None = None, *, p: float = 1.0, modality=None):
        if grain_mm is not None and (not np.isfinite(grain_mm) or grain_mm < 0):
            raise ParameterError(f"speckle grain_mm={grain_mm} must be >= 0")
        self.strength_range, self.grain_mm = strength_range, grain_mm
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        rng = bounded_range(self.strength_range, profile.speckle_range, "strength_range", profile, "speckle_range")
        if rng[1] >= 0.5:
            raise ParameterError(f"speckle strength {rng[1]} must stay below 0.5 (the factor would turn negative)")
        return rng

    def sample_params(self, sample, rng, ranges, profile):
        grain = float(self.grain_mm) if self.grain_mm is not None else float(min(sample.spacing))
        return {"strength": rng.uniform(*ranges), "grain_mm": grain, "seed": int(rng.integers(0, 2 ** 63 - 1)),
                "value_range": value_range_param(profile)}

    @classmethod
    def apply(cls, sample, params):
        vr = params.get("value_range")
        grain_px = [params["grain_mm"] / s for s in sample.spacing]
        out = {}
        for i, (name, arr) in enumerate(sample.channels().items()):
            factor = speckle_factor(sample.shape, params["strength"], np.random.default_rng([int(params["seed"]), i]),
                                    grain_px)
            out[name] = clip_to(arr * factor, vr)
        return sample.with_channels(out)


# ------------------------------------------------------------------------------------------------
# ultrasound sector angle


class RandomSectorAngle(SpatialTransform):
    """Change the ultrasound sector's opening angle by a few degrees, keeping apex and depth.

    The content is stretched in angle about the apex: ``theta_in = theta_out * h / (h + delta/2)``
    for half angle ``h`` and drawn change ``delta`` of the full opening angle (``max_change_deg``,
    default/limit ``profile.sector_angle_max_deg``, US 5 deg). The sector geometry comes from
    ``sample.meta["sector"]`` or :func:`estimate_sector`; pixels outside the new sector are 0.
    """

    family = "sector"

    def __init__(self, max_change_deg: float | None = None, *, image_order: int = 1, p: float = 1.0, modality=None):
        self.max_change_deg = max_change_deg
        super().__init__(image_order=image_order, p=p, modality=modality)

    def resolve(self, profile):
        return symmetric_range(self.max_change_deg, profile.sector_angle_max_deg, "max_change_deg", profile,
                               "sector_angle_max_deg")

    def sample_params(self, sample, rng, ranges, profile):
        sector = sample.meta.get("sector") or estimate_sector(sample.image, sample.spacing)
        if sector is None:
            raise ParameterError("RandomSectorAngle needs a sector-scan ultrasound image (no sector geometry found)")
        delta = rng.uniform(*ranges)
        half = float(sector["half_angle_deg"])
        new = dict(sector, half_angle_deg=half + delta / 2.0)
        params = self.common_params(sample, profile)
        params.update(change_deg=delta, sector=dict(sector), keep_field_of_view=new, sets_field_of_view=True)
        return params

    @staticmethod
    def _polar_map(pts, params, geom, inverse):
        pts = geom.grid_points() if pts is None else pts
        sec = params["sector"]
        half = float(sec["half_angle_deg"])
        k = (half + params["change_deg"] / 2.0) / half
        if inverse:
            k = 1.0 / k
        ay, ax = (np.float32(v) for v in sec["apex_mm"])
        dy, dx = pts[0] - ay, pts[1] - ax
        r = np.sqrt(dy * dy + dx * dx)
        th = np.arctan2(dx, dy) / np.float32(k)
        return np.stack([ay + r * np.cos(th), ax + r * np.sin(th)]).astype(np.float32)

    @classmethod
    def backward_points(cls, pts, params, geom):
        return cls._polar_map(pts, params, geom, inverse=False)

    @classmethod
    def forward_points(cls, pts, params, geom):
        return cls._polar_map(pts, params, geom, inverse=True)


__all__ = ["bias_field", "RandomBiasField", "speckle_factor", "RandomSpeckle", "RandomSectorAngle"]

"""Affine transforms: rotation, translation, scaling and shear in one resampling.

Forward map of :class:`RandomAffine`: ``p_out = R @ Sh @ diag(scale) @ p_in + t`` (scale, then
shear, then rotation about the image centre, then translation ``t`` in mm). 2D rotation by a
positive angle turns the content counter-clockwise on screen; a 3D rotation about the ``z`` axis
``(1, 0, 0)`` equals the 2D in-plane rotation.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ...errors import ParameterError
from ...modalities import ModalityProfile
from ..base import bounded_range, symmetric_range
from .chain import SpatialTransform
from .grid import Geometry


def _shear_pairs(nd: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(nd) for b in range(nd) if a != b]


def rotation_matrix(nd: int, angle_deg: float, axis: Sequence[float] | None = None) -> np.ndarray:
    """Rotation matrix in numpy axis order; positive angles turn content counter-clockwise on screen."""
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    if nd == 2:
        return np.array([[c, -s], [s, c]])
    u = np.asarray(axis if axis is not None else (1.0, 0.0, 0.0), dtype=np.float64)
    norm = np.linalg.norm(u)
    if norm == 0:
        raise ParameterError("rotation axis must be non-zero")
    u = u / norm
    # (z, y, x) coordinates are a left-handed ordering; Rodrigues with -angle on the reversed
    # axes reproduces the 2D convention for the z axis.
    uz, uy, ux = u
    k = np.array([[0, -uz, uy], [uz, 0, -ux], [-uy, ux, 0]])  # (x, y, z) cross-product matrix
    r_xyz = np.eye(3) + math.sin(-th) * k + (1 - math.cos(-th)) * (k @ k)
    perm = [2, 1, 0]
    return r_xyz[np.ix_(perm, perm)]


def affine_matrix(params: dict, nd: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward ``(F, t)`` of an affine record: ``p_out = F @ p_in + t`` (mm)."""
    rot = rotation_matrix(nd, float(params.get("rotation_deg", 0.0)), params.get("rotation_axis"))
    sh = np.eye(nd)
    shear = params.get("shear_deg")
    if shear is not None:
        for (a, b), ang in zip(_shear_pairs(nd), shear):
            sh[a, b] = math.tan(math.radians(float(ang)))
    scale = params.get("scale")
    sc = np.diag([float(v) for v in scale]) if scale is not None else np.eye(nd)
    if np.any(np.diag(sc) <= 0):
        raise ParameterError(f"scale factors must be > 0, got {scale}")
    t = np.asarray(params.get("translation_mm", [0.0] * nd), dtype=np.float64)
    if t.shape != (nd,):
        raise ParameterError(f"translation_mm {params.get('translation_mm')} does not match a {nd}D image")
    fwd = rot @ sh @ sc
    centre = params.get("centre_mm")
    if centre is not None:  # about a point other than the image centre (ultrasound: the probe's apex)
        c = np.asarray(centre, dtype=np.float64)
        t = t + c - fwd @ c
    return fwd, t


def _apply_affine(pts: np.ndarray | None, mat: np.ndarray, offset: np.ndarray, geom: Geometry) -> np.ndarray:
    """``mat @ p + offset`` on the grid (broadcast, cheap) or on given points."""
    nd = geom.ndim
    m = mat.astype(np.float32)
    o = offset.astype(np.float32)
    if pts is None:
        axes = [geom.broadcast_axis(b) for b in range(nd)]
        out = np.empty((nd, *geom.shape), dtype=np.float32)
        for a in range(nd):
            acc = np.full(geom.shape, o[a], dtype=np.float32)
            for b in range(nd):
                if m[a, b] != 0:
                    acc += m[a, b] * axes[b]
            out[a] = acc
        return out
    out = np.empty_like(pts, dtype=np.float32)
    for a in range(nd):
        acc = np.full(pts.shape[1:], o[a], dtype=np.float32)
        for b in range(nd):
            if m[a, b] != 0:
                acc += m[a, b] * pts[b]
        out[a] = acc
    return out


class RandomAffine(SpatialTransform):
    """Random rotation, translation, scaling and shear about the image centre (one resampling).

    Parameters
    ----------
    degrees : float or (float, float), optional
        Rotation angle range in degrees (scalar ``d`` means ``(-d, d)``); default the profile's
        ``rotation_deg`` (CT 5, MRI 3, X-ray 2); beyond ``rotation_hard_limit_deg`` (CT 10) raises.
        In 3D the rotation axis is drawn uniformly on the sphere (``in_plane=True``: the z axis),
        so the total rotation angle, not just each Euler angle, stays within the range.
    translation_mm : float or (float, float), optional
        Translation range per axis in mm; default and limit ``profile.translation_max_mm``.
    scales : (float, float), optional
        Scale-factor range; default and limit ``profile.scale_range``. ``isotropic=False`` draws
        one factor per axis.
    shear_deg : float or (float, float), optional
        Shear-angle range; default and limit ``profile.shear_max_deg``.
    image_order : int
        Image interpolation: 0 nearest, 1 linear (default), 3 cubic. Labels always use nearest.

    Drawn parameters: ``rotation_deg``, ``rotation_axis`` (3D), ``translation_mm`` (per axis),
    ``scale`` (per axis), ``shear_deg`` (pairs ``(a, b)``, ``a != b``, in row-major order; in 2D
    ``[shear_y, shear_x]``), plus ``order``, ``fill`` and ``value_range``. For ultrasound with a
    sector geometry, rotation and scaling pivot on the sector apex (``centre_mm``; a probe tilt)
    and pixels outside the sector stay empty (``keep_field_of_view``).
    """

    family = "geometric"

    def __init__(self, degrees=None, translation_mm=None, scales=None, shear_deg=None, *, isotropic: bool = True,
                 in_plane: bool = False, image_order: int = 1, p: float = 1.0, modality=None):
        self.degrees, self.translation_mm, self.scales, self.shear_deg = degrees, translation_mm, scales, shear_deg
        self.isotropic, self.in_plane = bool(isotropic), bool(in_plane)
        super().__init__(image_order=image_order, p=p, modality=modality)

    def resolve(self, profile: ModalityProfile) -> dict[str, tuple[float, float]]:
        return {
            "rotation": symmetric_range(self.degrees, profile.rotation_deg, "degrees", profile, "rotation_deg",
                                        hard_limit=profile.rotation_hard_limit_deg),
            "translation": symmetric_range(self.translation_mm, profile.translation_max_mm, "translation_mm",
                                           profile, "translation_max_mm"),
            "scale": bounded_range(self.scales, profile.scale_range, "scales", profile, "scale_range"),
            "shear": symmetric_range(self.shear_deg, profile.shear_max_deg, "shear_deg", profile, "shear_max_deg"),
        }

    def sample_params(self, sample, rng, ranges, profile):
        nd = sample.ndim
        params: dict[str, Any] = {}
        lo, hi = ranges["rotation"]
        if hi > lo:
            params["rotation_deg"] = rng.uniform(lo, hi)
            if nd == 3:
                if self.in_plane:
                    params["rotation_axis"] = [1.0, 0.0, 0.0]
                else:
                    v = rng.standard_normal(3)
                    params["rotation_axis"] = (v / max(np.linalg.norm(v), 1e-12)).tolist()
        elif lo != 0:
            params["rotation_deg"] = lo
        lo, hi = ranges["translation"]
        if hi > lo or lo != 0:
            params["translation_mm"] = rng.uniform(lo, hi, size=nd) if hi > lo else [lo] * nd
        lo, hi = ranges["scale"]
        if hi > lo or lo != 1:
            if self.isotropic:
                params["scale"] = [rng.uniform(lo, hi) if hi > lo else lo] * nd
            else:
                params["scale"] = rng.uniform(lo, hi, size=nd) if hi > lo else [lo] * nd
        lo, hi = ranges["shear"]
        if hi > lo or lo != 0:
            n = nd * (nd - 1)
            params["shear_deg"] = rng.uniform(lo, hi, size=n) if hi > lo else [lo] * n
        params.update(self.common_params(sample, profile))
        pivot = self.pivot(sample, profile)
        if pivot is not None and any(k in params for k in ("rotation_deg", "scale", "shear_deg")):
            params["centre_mm"] = pivot
        return params

    @classmethod
    def backward_points(cls, pts, params, geom):
        fwd, t = affine_matrix(params, geom.ndim)
        inv = np.linalg.inv(fwd)
        return _apply_affine(pts, inv, -inv @ t, geom)

    @classmethod
    def forward_points(cls, pts, params, geom):
        fwd, t = affine_matrix(params, geom.ndim)
        return _apply_affine(pts, fwd, t, geom)


class RandomRotation(RandomAffine):
    """Rotation only (see :class:`RandomAffine`; ``degrees`` default ``profile.rotation_deg``)."""

    def __init__(self, degrees=None, *, in_plane: bool = False, image_order: int = 1, p: float = 1.0, modality=None):
        super().__init__(degrees, 0.0, (1.0, 1.0), 0.0, in_plane=in_plane, image_order=image_order, p=p,
                         modality=modality)


class RandomTranslation(RandomAffine):
    """Translation only, in mm (default and limit ``profile.translation_max_mm``)."""

    def __init__(self, translation_mm=None, *, image_order: int = 1, p: float = 1.0, modality=None):
        super().__init__(0.0, translation_mm, (1.0, 1.0), 0.0, image_order=image_order, p=p, modality=modality)


class RandomScaling(RandomAffine):
    """Isotropic scaling only (default and limit ``profile.scale_range``)."""

    def __init__(self, scales=None, *, isotropic: bool = True, image_order: int = 1, p: float = 1.0, modality=None):
        super().__init__(0.0, 0.0, scales, 0.0, isotropic=isotropic, image_order=image_order, p=p, modality=modality)


class RandomShear(RandomAffine):
    """Shear only (default and limit ``profile.shear_max_deg``)."""

    def __init__(self, shear_deg=None, *, image_order: int = 1, p: float = 1.0, modality=None):
        super().__init__(0.0, 0.0, (1.0, 1.0), shear_deg, image_order=image_order, p=p, modality=modality)

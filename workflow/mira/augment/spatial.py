"""Spatial transforms (affine, flips, elastic, ultrasound sector) sharing ONE sampling grid.

Every spatial transform is a *backward point map*: for an output point ``p`` (physical
coordinates in mm, centred on the image, numpy axis order) it gives the input point ``q`` whose
value the output takes. A chain of spatial transforms (e.g. affine then elastic inside
:class:`~mira.augment.Compose`) composes those maps into one coordinate map and resamples the
image, every extra sequence and the label map **once** -- images with linear (or cubic)
interpolation, label maps with nearest neighbour -- so there is no double interpolation blur and
label maps cannot drift away from the image.

Resampling uses ``torch.nn.functional.grid_sample`` (linear / nearest; multi-threaded, bitwise
deterministic on CPU) or ``scipy.ndimage.map_coordinates`` (cubic, ``image_order=3``). Outside
the field of view images take the modality's ``fill_value`` (air, -1000 HU, for CT; 0 otherwise)
and label maps 0.

Conventions
-----------
* 2D rotation by a positive angle turns the content counter-clockwise on screen (row axis ``y``
  pointing down); a 3D rotation about the ``z`` axis ``(1, 0, 0)`` equals the 2D in-plane rotation.
* Forward map of :class:`RandomAffine`: ``p_out = R @ Sh @ diag(scale) @ p_in + t`` (scale, then
  shear, then rotation about the image centre, then translation ``t`` in mm).
* Elastic displacements are stated in mm (and pixels = mm / spacing) with control-point spacing in
  mm; see :class:`ElasticDeformation`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..modalities import ModalityProfile, get_profile
from .base import Transform, bounded_range, clip_to, symmetric_range, value_range_param
from .sample import Sample

# ------------------------------------------------------------------------------------------------
# geometry and resampling


@dataclass(frozen=True)
class Geometry:
    """Shape and spacing of an image; physical coordinates are centred: ``(i - (n-1)/2) * spacing``."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def axis_mm(self, a: int) -> np.ndarray:
        n = self.shape[a]
        return ((np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2.0)) * np.float32(self.spacing[a]))

    def broadcast_axis(self, a: int) -> np.ndarray:
        shape = [1] * self.ndim
        shape[a] = self.shape[a]
        return self.axis_mm(a).reshape(shape)

    def grid_points(self) -> np.ndarray:
        """Physical coordinates of every pixel, ``(ndim, *shape)`` float32."""
        out = np.empty((self.ndim, *self.shape), dtype=np.float32)
        for a in range(self.ndim):
            out[a] = self.broadcast_axis(a)
        return out

    def to_index(self, pts: np.ndarray) -> np.ndarray:
        out = np.empty_like(pts)
        for a in range(self.ndim):
            out[a] = pts[a] / np.float32(self.spacing[a]) + np.float32((self.shape[a] - 1) / 2.0)
        return out


def _ensure_points(pts: np.ndarray | None, geom: Geometry) -> np.ndarray:
    return geom.grid_points() if pts is None else pts


def warp_arrays(arrays: Sequence[np.ndarray], pts: np.ndarray, geom: Geometry, order: int, fill: float) -> list[np.ndarray]:
    """Sample each array at the physical points ``pts`` (``(ndim, *shape)``, mm, centred)."""
    if not arrays:
        return []
    if order not in (0, 1, 3):
        raise ParameterError(f"interpolation order must be 0, 1 or 3, got {order}")
    if order == 3 or min(geom.shape) < 2:
        idx = geom.to_index(pts)
        return [ndi.map_coordinates(a.astype(np.float32, copy=False), idx, order=order, mode="constant",
                                    cval=float(fill), prefilter=order > 1).astype(np.float32) for a in arrays]
    import torch
    import torch.nn.functional as F

    nd = geom.ndim
    grid = np.empty((*geom.shape, nd), dtype=np.float32)
    for a in range(nd):
        grid[..., nd - 1 - a] = pts[a] * np.float32(2.0 / (geom.spacing[a] * (geom.shape[a] - 1)))
    stack = np.stack([np.asarray(a, dtype=np.float32) for a in arrays])
    if fill != 0.0:
        stack = stack - np.float32(fill)
    with torch.no_grad():
        out = F.grid_sample(torch.from_numpy(stack)[None], torch.from_numpy(grid)[None],
                            mode="nearest" if order == 0 else "bilinear", padding_mode="zeros", align_corners=True)
    res = out[0].numpy()
    if fill != 0.0:
        res = res + np.float32(fill)
    return [res[i] for i in range(len(arrays))]


def warp_label(label: np.ndarray, pts: np.ndarray, geom: Geometry) -> np.ndarray:
    """Nearest-neighbour resampling of an integer label map (0 outside the field of view)."""
    if label.size and int(label.max()) >= 2 ** 24:
        raise ParameterError("label values must be < 2**24 to be resampled exactly")
    out = warp_arrays([label.astype(np.float32)], pts, geom, 0, 0.0)[0]
    return np.rint(out).astype(label.dtype)


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
    fill = float(first.get("fill", get_profile(sample.modality).fill_value if sample.modality else 0.0))
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
        out = _restore_field_of_view(out, fov, fill)
        if "sector" in out.meta or any(p.get("sets_field_of_view") for _, p in chain):
            out.meta["sector"] = dict(fov)
    return out


def _restore_field_of_view(sample: Sample, fov: dict, fill: float) -> Sample:
    """Ultrasound: pixels outside the original sector are set to the fill value (scan geometry kept)."""
    from .modality_specific import sector_mask

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


# ------------------------------------------------------------------------------------------------
# affine


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


# ------------------------------------------------------------------------------------------------
# flips


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
            out = _restore_field_of_view(out, fov, float(params.get("fill", 0.0)))
        return out


# ------------------------------------------------------------------------------------------------
# elastic


def _bspline3(x: np.ndarray) -> np.ndarray:
    """Cubic B-spline kernel (the basis of ``scipy.ndimage`` order-3 splines)."""
    ax = np.abs(x)
    out = np.zeros_like(ax)
    m1 = ax < 1
    m2 = (ax >= 1) & (ax < 2)
    out[m1] = 2.0 / 3.0 - ax[m1] ** 2 + 0.5 * ax[m1] ** 3
    out[m2] = (2.0 - ax[m2]) ** 3 / 6.0
    return out


def control_grid_shape(geom: Geometry, control_spacing_mm: Sequence[float]) -> tuple[int, ...]:
    """Number of control points per axis covering the image with the cubic spline's support."""
    return tuple(int(math.ceil((n - 1) * s / h)) + 5 for n, s, h in zip(geom.shape, geom.spacing, control_spacing_mm))


def _control_coords(mm: np.ndarray, h: float, k: int) -> np.ndarray:
    return mm / np.float32(h) + np.float32((k - 1) / 2.0)


def bspline_field(displacements: np.ndarray, control_spacing_mm: Sequence[float], geom: Geometry,
                  pts: np.ndarray | None = None) -> np.ndarray:
    """Evaluate a cubic B-spline displacement field (control values in mm) at pixels or points.

    On the regular grid the evaluation is separable (a product of small basis matrices, cheap even
    for 128^3 volumes); at arbitrary points it uses ``map_coordinates(order=3, prefilter=False)``,
    which evaluates the same spline. Because the B-spline basis is non-negative and sums to one, the
    field's magnitude never exceeds the largest control-point displacement.
    """
    nd = geom.ndim
    disp = np.asarray(displacements, dtype=np.float32)
    kshape = disp.shape[1:]
    if pts is None:
        bases = []
        for a in range(nd):
            u = _control_coords(geom.axis_mm(a), control_spacing_mm[a], kshape[a])
            bases.append(_bspline3(u[:, None] - np.arange(kshape[a], dtype=np.float32)[None, :]).astype(np.float32))
        out = np.empty((nd, *geom.shape), dtype=np.float32)
        for c in range(nd):
            f = disp[c]
            for a in reversed(range(nd)):
                f = np.tensordot(bases[a], f, axes=([1], [f.ndim - 1]))
            out[c] = f
        return out
    coords = np.stack([_control_coords(pts[a], control_spacing_mm[a], kshape[a]) for a in range(nd)])
    return np.stack([ndi.map_coordinates(disp[c], coords, order=3, prefilter=False, mode="nearest")
                     for c in range(nd)]).astype(np.float32)


def simard_displacement(shape: Sequence[int], alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The textbook elastic field of Simard et al. (2003), in pixels, shape ``(ndim, *shape)``.

    Each component is white noise ``U(-1, 1)`` smoothed by a Gaussian of ``sigma`` pixels
    (``mode="constant"``) and scaled by ``alpha``; ``alpha=800, sigma=6`` reproduces the classic CT
    demo setting exactly for a given generator. The RMS displacement is about
    ``alpha * 0.577 / (2 sqrt(pi) sigma)`` pixels in 2D (21.7 px for 800/6).
    """
    if sigma <= 0 or alpha < 0:
        raise ParameterError(f"elastic sigma must be > 0 and alpha >= 0, got alpha={alpha}, sigma={sigma}")
    shape = tuple(int(s) for s in shape)
    return np.stack([ndi.gaussian_filter(rng.random(shape) * 2 - 1, sigma, mode="constant", cval=0) * alpha
                     for _ in shape]).astype(np.float32)


def elastic_deform_simard(image: np.ndarray, rng: np.random.Generator, alpha: float = 800.0, sigma: float = 6.0,
                          label: np.ndarray | None = None, order: int = 1, fill: float = 0.0):
    """Textbook elastic deformation (Simard et al. 2003), parameters in pixels, no modality limit.

    ``output(p) = input(p + d(p))`` with ``d = simard_displacement(image.shape, alpha, sigma, rng)``;
    the label map (if given) is resampled with nearest neighbour on the same grid. Returns
    ``(image, label, displacement_px)``. Use :class:`ElasticDeformation` for the modality-limited,
    mm-parameterised version.
    """
    disp = simard_displacement(image.shape, alpha, sigma, rng)
    geom = Geometry(tuple(image.shape), (1.0,) * image.ndim)
    pts = geom.grid_points() + disp
    img = warp_arrays([np.asarray(image, dtype=np.float32)], pts, geom, order, fill)[0]
    lab = warp_label(np.asarray(label), pts, geom) if label is not None else None
    return img, lab, disp


class ElasticDeformation(SpatialTransform):
    """Smooth random elastic deformation, with physical parameters (mm) and guaranteed limits.

    The displacement field is a cubic B-spline on a grid of control points spaced
    ``control_spacing_mm`` apart; each control point gets a random displacement vector drawn
    uniformly in the cube ``[-m, m]^ndim`` and projected into the ball of radius
    ``m = max_displacement_mm``. Because the B-spline is a convex combination of control values, no
    pixel moves by more than ``m`` mm (``m / spacing`` pixels). Defaults and limits come from the
    profile (``elastic_max_displacement_mm``: CT 4 mm, MRI 3 mm; ``elastic_control_spacing_mm``:
    24 mm). ``m <= 0.4 * control_spacing`` is required, the sufficient condition of Choi & Lee
    (2000) for a fold-free (invertible) cubic B-spline deformation.

    ``alpha``/``sigma`` (pixels) select the textbook field of Simard et al. (2003) instead (see
    :func:`simard_displacement`; ``alpha=800, sigma=6`` is the classic setting). Under a modality
    profile that field is scaled down, when needed, so its largest displacement is within the
    profile's limit (the scale is recorded as ``limit_scale``); :func:`elastic_deform_simard`
    applies it with no limit.

    Parameters
    ----------
    max_displacement_mm : float, optional
        Largest displacement in mm; default the profile limit. Exceeding the profile raises.
    max_displacement_px : float, optional
        Same in pixels of the smallest spacing (alternative to ``max_displacement_mm``).
    control_spacing_mm : float, optional
        Control-point spacing in mm (the field's smoothness); default the profile's.
    alpha, sigma : float, optional
        Simard field scale and Gaussian sigma in pixels.

    Drawn parameters: ``mode`` (``"bspline"``/``"simard"``), ``control_spacing_mm`` (per axis),
    ``displacements_mm`` (``(ndim, *control_shape)``) or ``seed``/``alpha``/``sigma``, and
    ``max_displacement_mm``.
    """

    family = "elastic"

    def __init__(self, max_displacement_mm: float | None = None, control_spacing_mm: float | None = None, *,
                 max_displacement_px: float | None = None, alpha: float | None = None, sigma: float | None = None,
                 image_order: int = 1, p: float = 1.0, modality=None):
        if max_displacement_mm is not None and max_displacement_px is not None:
            raise ParameterError("give max_displacement_mm or max_displacement_px, not both")
        for name, v in (("max_displacement_mm", max_displacement_mm), ("max_displacement_px", max_displacement_px),
                        ("alpha", alpha)):
            if v is not None and (not np.isfinite(v) or v < 0):
                raise ParameterError(f"{name}={v} must be >= 0")
        for name, v in (("control_spacing_mm", control_spacing_mm), ("sigma", sigma)):
            if v is not None and (not np.isfinite(v) or v <= 0):
                raise ParameterError(f"{name}={v} must be > 0")
        if (alpha is None) != (sigma is None):
            raise ParameterError("the Simard field needs both alpha and sigma (pixels)")
        self.max_displacement_mm, self.max_displacement_px = max_displacement_mm, max_displacement_px
        self.control_spacing_mm, self.alpha, self.sigma = control_spacing_mm, alpha, sigma
        super().__init__(image_order=image_order, p=p, modality=modality)

    def resolve(self, profile: ModalityProfile) -> dict[str, float]:
        limit = float(profile.elastic_max_displacement_mm)
        spacing = float(self.control_spacing_mm or profile.elastic_control_spacing_mm)
        m = self.max_displacement_mm
        if m is not None and m > limit + 1e-12:
            raise ParameterError(
                f"max_displacement_mm={m:g} exceeds the {profile.name} profile's limit elastic_max_displacement_mm="
                f"{limit:g}; raise it in config profiles.{profile.name}.elastic_max_displacement_mm")
        m = limit if m is None else float(m)
        if self.alpha is None and self.max_displacement_px is None and m > 0.4 * spacing:
            raise ParameterError(
                f"max_displacement_mm={m:g} > 0.4 x control_spacing_mm={spacing:g}: the deformation could fold; "
                "use a larger control spacing or a smaller displacement")
        return {"max_mm": m, "limit_mm": limit, "control_spacing_mm": spacing}

    def sample_params(self, sample, rng, ranges, profile):
        nd = sample.ndim
        params: dict[str, Any] = {}
        if self.alpha is not None:
            params.update(mode="simard", alpha=float(self.alpha), sigma=float(self.sigma),
                          seed=int(rng.integers(0, 2 ** 63 - 1)), max_displacement_mm=ranges["limit_mm"])
        else:
            m = ranges["max_mm"]
            if self.max_displacement_px is not None:
                m = float(self.max_displacement_px) * min(sample.spacing)
                if m > ranges["limit_mm"] + 1e-12:
                    raise ParameterError(
                        f"max_displacement_px={self.max_displacement_px:g} is {m:g} mm at spacing {sample.spacing}, "
                        f"beyond the {profile.name} limit elastic_max_displacement_mm={ranges['limit_mm']:g}")
            h = ranges["control_spacing_mm"]
            if m > 0.4 * h:
                raise ParameterError(f"max displacement {m:g} mm > 0.4 x control spacing {h:g} mm: could fold")
            geom = Geometry(sample.shape, sample.spacing)
            hs = [h] * nd
            kshape = control_grid_shape(geom, hs)
            v = rng.uniform(-1.0, 1.0, size=(nd, *kshape))
            norm = np.sqrt((v ** 2).sum(axis=0, keepdims=True))
            v = v / np.maximum(norm, 1.0) * m
            params.update(mode="bspline", control_spacing_mm=hs, max_displacement_mm=m,
                          displacements_mm=np.round(v, 6))
        params.update(self.common_params(sample, profile))
        return params

    @classmethod
    def displacement(cls, params: dict, geom: Geometry, pts: np.ndarray | None = None) -> np.ndarray:
        """The displacement (mm) at the grid (``pts=None``) or at physical points ``pts``."""
        if params["mode"] == "simard":
            field = simard_displacement(geom.shape, params["alpha"], params["sigma"],
                                        np.random.default_rng(int(params["seed"])))
            field *= np.asarray(geom.spacing, dtype=np.float32).reshape((-1,) + (1,) * geom.ndim)
            limit = params.get("max_displacement_mm")
            if limit is not None:
                biggest = float(np.sqrt((field ** 2).sum(axis=0)).max())
                if biggest > limit > 0 or limit == 0:
                    field *= np.float32(0.0 if limit == 0 else limit / biggest)
            if pts is None:
                return field
            idx = geom.to_index(pts)
            return np.stack([ndi.map_coordinates(field[c], idx, order=1, mode="nearest") for c in range(geom.ndim)])
        disp = np.asarray(params["displacements_mm"], dtype=np.float32)
        expected = control_grid_shape(geom, params["control_spacing_mm"])
        if tuple(disp.shape[1:]) != expected or disp.shape[0] != geom.ndim:
            raise ParameterError(f"elastic parameters were drawn for another image geometry "
                                 f"(control grid {disp.shape[1:]}, expected {expected})")
        return bspline_field(disp, params["control_spacing_mm"], geom, pts)

    @classmethod
    def backward_points(cls, pts, params, geom):
        d = cls.displacement(params, geom, pts)
        return (geom.grid_points() if pts is None else pts) + d

    @classmethod
    def forward_points(cls, pts, params, geom, iterations: int = 20):
        """Inverse map by fixed-point iteration ``v <- -d(p + v)`` (converges for fold-free fields)."""
        base = geom.grid_points() if pts is None else pts
        v = -cls.displacement(params, geom, base)
        for _ in range(iterations):
            v = -cls.displacement(params, geom, base + v)
        return base + v


__all__ = [
    "Geometry", "SpatialTransform", "RandomAffine", "RandomRotation", "RandomTranslation", "RandomScaling",
    "RandomShear", "RandomFlip", "ElasticDeformation", "elastic_deform_simard", "simard_displacement",
    "bspline_field", "resample_chain", "rotation_matrix", "paired_labels", "warp_arrays", "warp_label",
]

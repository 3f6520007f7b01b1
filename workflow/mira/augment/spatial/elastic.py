"""Elastic deformation: cubic B-spline fields in mm with a guaranteed bound, or the Simard field.

Elastic displacements are stated in mm (and pixels = mm / spacing) with control-point spacing in
mm; see :class:`ElasticDeformation`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from ...errors import ParameterError
from ...modalities import ModalityProfile
from .chain import SpatialTransform
from .grid import Geometry, warp_arrays, warp_label


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
    """The elastic field of Simard et al. (2003) as the textbook chapter draws it, pixels, ``(ndim, *shape)``.

    Each component is standard Gaussian white noise (``rng.standard_normal(shape)``) smoothed by a
    Gaussian of ``sigma`` pixels with reflected edges (``scipy.ndimage.gaussian_filter``'s default
    ``mode="reflect"``) and scaled by ``alpha``. The components are drawn in the chapter's order,
    ``dx`` (the last numpy axis) first, then ``dy`` (then ``dz``), and stacked in numpy axis order.

    Smoothed unit white noise has standard deviation ``1 / (2 sqrt(pi) sigma)`` per component in 2D
    (``1 / (2 sqrt(2) pi^(3/4) sigma^(3/2))`` in 3D), so for ``alpha=800, sigma=6`` each
    component has an RMS of 37.6 px and the displacement vector an RMS length of 53.2 px (the
    edges are not damped: reflected noise keeps its variance up to the border).

    Parameters
    ----------
    shape : sequence of int
        Image shape (2D or 3D).
    alpha : float
        Scale of the field, pixels (>= 0).
    sigma : float
        Gaussian smoothing, pixels (> 0); large ``alpha / sigma`` folds the image.
    rng : numpy.random.Generator
        Source of the white noise.
    """
    if sigma <= 0 or alpha < 0:
        raise ParameterError(f"elastic sigma must be > 0 and alpha >= 0, got alpha={alpha}, sigma={sigma}")
    shape = tuple(int(s) for s in shape)
    drawn = [ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect") * alpha for _ in shape]
    return np.stack(drawn[::-1]).astype(np.float32)


def elastic_deform_simard(image: np.ndarray, rng: np.random.Generator, alpha: float = 800.0, sigma: float = 6.0,
                          label: np.ndarray | None = None, order: int = 1, fill: float = 0.0):
    """Textbook elastic deformation (Simard et al. 2003), parameters in pixels, no modality limit.

    ``output(p) = input(p + d(p))`` with ``d = simard_displacement(image.shape, alpha, sigma, rng)``
    (Gaussian noise, reflected edges: the chapter's field), sampled with interpolation ``order``
    (1: linear, the chapter's); points that land outside the image take ``fill``. The label map (if
    given) is resampled with nearest neighbour on the same grid. Returns ``(image, label,
    displacement_px)``. Use :class:`ElasticDeformation` for the modality-limited, mm-parameterised
    version.
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
    def check_invertible(cls, params, geom, tolerance_px: float = 0.05):
        """Refuse a field whose inverse (fixed-point iteration) misses by more than ``tolerance_px``.

        Fold-free fields (every B-spline field the profile allows) pass; an unlimited textbook field
        (``alpha=800, sigma=6``) folds and raises :class:`~mira.errors.ParameterError`.
        """
        inv = cls.forward_points(None, params, geom)
        miss = cls.backward_points(inv, params, geom) - geom.grid_points()
        scale = np.asarray(geom.spacing, dtype=np.float32).reshape((-1,) + (1,) * geom.ndim)
        err = float(np.sqrt(((miss / scale) ** 2).sum(axis=0)).max())
        if not np.isfinite(err) or err > tolerance_px:
            raise ParameterError(f"this elastic field folds (its inverse misses by up to {err:.2f} px): it cannot be "
                                 "mapped back; use a field within the profile's limit")

    @classmethod
    def forward_points(cls, pts, params, geom, iterations: int = 20):
        """Inverse map by fixed-point iteration ``v <- -d(p + v)`` (converges for fold-free fields)."""
        base = geom.grid_points() if pts is None else pts
        v = -cls.displacement(params, geom, base)
        for _ in range(iterations):
            v = -cls.displacement(params, geom, base + v)
        return base + v

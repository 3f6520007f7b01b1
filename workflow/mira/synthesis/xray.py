"""Chest radiograph computed from a 3D CT chest phantom (Beer-Lambert law along antero-posterior rays).

The thorax anatomy of :mod:`mira.synthesis.ct_anatomy` (extended to the neck: clavicles, all twelve
rib pairs, heart, aortic arch, lungs with vessel trees, diaphragm, upper abdomen) is rasterised on a
coarse 3D grid (``size`` x ``ny`` x ``size``; 400 mm field of view in x and z, 4 mm steps along y),
converted from HU to linear attenuation ``mu = mu_water * (1 + HU / 1000)`` (``mu_water`` 0.0206 /mm at
about 60 keV, air 0) and integrated along ``y``; the detector records ``I / I0 = exp(-integral)``.
So pixels whose ray crosses less material are brighter: air outside the body is 1, lung fields are
bright, mediastinum, spine and bone are dark.

Labels are projected by priority: lesion (a lesion voxel lies on the ray) > heart (>= 15 mm of heart)
> lung (>= 15 mm of lung) > bone (any bone) > soft tissue (any body) > background. Lesions are solid
lung nodules (6-15 mm radius), the only lesions a radiograph shows.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .case import LESION_REGION_BASE, SyntheticCase, jsonable
from .ct import value_tables
from .ct_anatomy import BONE, CANC, HEART, LUNG, Anatomy, draw_anatomy, rasterise
from .shapes import Grid, Painter, ellipsoid, rotation
from .tissues import LABELS, LEGENDS, resolve_tissues

FOV_MM = 400.0        #: detector field of view (mm), spacing = FOV / size
Z_CENTER_MM = 85.0    #: cranio-caudal centre of the detector (mm; z = 0 is the lower thorax)
MU_WATER = 0.0206     #: linear attenuation of water at ~60 keV, 1/mm
DY_MM = 4.0           #: ray sampling step (mm), coarser when the pixels are coarser
MIN_PATH_MM = 15.0    #: path length through lung/heart that labels a pixel as lung field/heart
SOFT_LABELS = (3, 4, 5, 6)  # soft_tissue, lung, vessel, heart: where a nodule may grow


def hu_to_mu(hu: np.ndarray, mu_water: float = MU_WATER) -> np.ndarray:
    """Linear attenuation (1/mm) from HU: ``mu_water * (1 + HU / 1000)``, clipped at 0 (air)."""
    return (np.float32(mu_water) * np.maximum(1.0 + np.asarray(hu, np.float32) / np.float32(1000.0), 0.0)).astype(
        np.float32)


def project(hu: np.ndarray, dy_mm: float, mu_water: float = MU_WATER, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Beer-Lambert projection of an HU volume along ``axis``.

    Parameters
    ----------
    hu : ndarray
        CT volume in HU.
    dy_mm : float
        Sample spacing along the ray, mm.
    mu_water : float
        Attenuation of water, 1/mm.
    axis : int
        Ray direction (1 = antero-posterior for ``(z, y, x)`` volumes).

    Returns
    -------
    intensity : ndarray of float32
        ``I / I0 = exp(-line_integral)`` in (0, 1].
    line_integral : ndarray of float32
        ``sum(mu) * dy`` (dimensionless).
    """
    integral = hu_to_mu(hu, mu_water).sum(axis=axis, dtype=np.float64) * float(dy_mm)
    return np.exp(-integral).astype(np.float32), integral.astype(np.float32)


def _draw_nodules(rng: np.random.Generator, anat: Anatomy, n: int) -> list[dict]:
    """Solid lung nodules: centres drawn uniformly in the thorax until they fall inside a lung."""
    out: list[dict] = []
    for _ in range(n):
        r = float(rng.uniform(6.0, 15.0))
        for attempt in range(400):
            p = np.array([rng.uniform(-30.0, 240.0), rng.uniform(-anat.Bc, anat.Bc), rng.uniform(-anat.Ac, anat.Ac)])
            margin = 0.7 * r if attempt < 300 else 0.0
            probes = [p] + [p + margin * e for e in np.vstack([np.eye(3)[1:], -np.eye(3)[1:]])]
            if all(anat.in_lung(q) for q in probes) and all(
                    np.linalg.norm(p - np.asarray(o["center_mm"])) > r + o["radius_mm"] for o in out):
                break
        out.append({"organ": "lung", "center_mm": p.tolist(), "radius_mm": r, "diameter_mm": 2 * r,
                    "radii_mm": (r * rng.uniform(0.85, 1.15, 3)).tolist(),
                    "yaw": float(rng.uniform(0, 2 * np.pi))})
    return out


def chest_volume(rng: np.random.Generator, *, size: int = 128, lesion: bool = True,
                 tissues: Mapping[str, Any] | None = None, spacing_mm: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, Grid, list[dict], dict]:
    """The 3D CT chest phantom behind a radiograph (draws from ``rng`` exactly as :func:`synthesize_xray`).

    Returns
    -------
    hu : ndarray of float32, shape (size, ny, size)
        HU volume, axes ``(z ascending, y, x)``.
    region : ndarray of uint8
        Region map (CT labels; lesion ``i`` has id ``LESION_REGION_BASE + i``).
    grid : Grid
        Voxel-centre coordinates (mm).
    lesions : list of dict
        Nodules (centre, radius in mm, HU).
    values : dict
        HU per CT tissue.
    """
    values, fixed = resolve_tissues("xray", tissues)
    anat = draw_anatomy(rng)
    s = float(spacing_mm) if spacing_mm else FOV_MM / size
    dy = max(DY_MM, s)
    ny = int(np.ceil(2 * (anat.B + 6.0) / dy))
    grid = Grid.regular((size, ny, size), (s, dy, s), (Z_CENTER_MM, 0.0, 0.0))
    painter = Painter(grid)
    painter.region = rasterise(anat, grid)
    n_les = int(rng.integers(1, 4)) if lesion else 0
    lesions = _draw_nodules(rng, anat, n_les)
    for i, les in enumerate(lesions):
        les["hu"] = float(fixed) if fixed is not None else float(rng.uniform(-20.0, 60.0))
        les["contrast_hu"] = les["hu"] - values["lung"]
        patch = ellipsoid(grid, les["center_mm"], les["radii_mm"], rotation(les["yaw"]))
        les["voxels"] = painter.paint(patch, LESION_REGION_BASE + i, only=SOFT_LABELS)
    mean, _ = value_tables(values, lesions)
    hu = mean.astype(np.float32)[painter.region]
    return hu, painter.region, grid, lesions, values


def synthesize_xray(rng: np.random.Generator, *, size: int = 128, lesion: bool = True,
                    tissues: Mapping[str, Any] | None = None, spacing_mm: float | None = None) -> SyntheticCase:
    """Chest radiograph (I/I0, ``size x size``, row 0 cranial, patient's left on the right).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random draw.
    size : int
        Detector pixels per side.
    lesion : bool
        Draw 1-3 solid lung nodules or none.
    tissues : mapping, optional
        HU overrides of the underlying CT tissues (CT legend names); ``"lesion"`` fixes nodule HU.
    spacing_mm : float, optional
        Detector pixel size in mm (default ``FOV_MM / size``, 400 mm across).

    Returns
    -------
    SyntheticCase
    """
    hu, region, grid, lesions, values = chest_volume(rng, size=size, lesion=lesion, tissues=tissues,
                                                     spacing_mm=spacing_mm)
    dy = grid.spacing[1]
    intensity, integral = project(hu, dy)
    lab = LABELS["xray"]

    def path(mask: np.ndarray) -> np.ndarray:
        return mask.sum(axis=1) * dy

    label = np.zeros(intensity.shape, np.uint8)
    label[path(region != 0) > 0] = lab["soft_tissue"]
    label[path((region == BONE) | (region == CANC)) > 0] = lab["bone"]
    label[path(region == LUNG) >= MIN_PATH_MM] = lab["lung"]
    label[path(region == HEART) >= MIN_PATH_MM] = lab["heart"]
    label[path(region >= LESION_REGION_BASE) > 0] = lab["lesion"]
    image, label = intensity[::-1].copy(), label[::-1].copy()  # row 0 = cranial
    s = grid.spacing[0]
    meta = {
        "modality": "xray", "ndim": 2, "shape": list(image.shape), "spacing_mm": [s, s],
        "projection": "antero-posterior, parallel rays", "mu_water_per_mm": MU_WATER, "ray_step_mm": dy,
        "z_range_mm": [float(grid.z[-1]), float(grid.z[0])], "line_integral_max": float(integral.max()),
        "n_lesions": len(lesions), "lesions": lesions, "tissues_hu": dict(values),
    }
    return SyntheticCase(image=image, label=label, spacing=(s, s), legend=dict(LEGENDS["xray"]),
                         class_label=int(np.any(label == lab["lesion"])), sequences={}, meta=jsonable(meta))

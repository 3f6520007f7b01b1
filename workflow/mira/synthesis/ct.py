"""CT phantom of the lower thorax / upper abdomen in Hounsfield units (2D axial slice or 3D volume).

The anatomy of :mod:`mira.synthesis.ct_anatomy` is rasterised on the requested grid, 1-3 lesions are
placed in liver, lung or kidney, and every tissue gets its configured mean HU plus a correlated
texture that is zero-mean per tissue (power-law spectrum in cycles/mm, ``P(f) ~ f**-2.6``, like real
soft tissue: fine detail down to the pixel scale and organ-scale shading), and a partial-volume /
point-spread blur (``hypot(0.5 px, 0.6 mm)``) after which each region's mean is restored (see
:mod:`mira.synthesis.texture`).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..modalities import PROFILES, ModalityProfile, require_profile
from .case import LESION_REGION_BASE, SyntheticCase, jsonable, region_to_label
from .ct_anatomy import KIDNEY, LIVER, LUNG, VESSEL, draw_anatomy, rasterise
from .lesions import HostSpec, lesion_voxels, place_lesions
from .shapes import Grid, Painter
from .texture import compose_image, powerlaw_texture, pv_sigma_px
from .tissues import CT_TEXTURE_HU, LABELS, LEGENDS, LESION_TEXTURE, resolve_tissues

FOV_MM = 380.0          #: default field of view across the body (mm); spacing = FOV / size
Z_CENTER_3D_MM = -40.0  #: cranio-caudal centre of a volume (mm; z = 0 is the level of a 2D slice)
PSF_SIGMA_MM = 0.6      #: in-plane point-spread sigma (mm); with sub-pixel partial volume -> blur sigma
TEXTURE_BETA = 2.6      #: power-law exponent of the tissue texture spectrum (real soft tissue ~2.5-3)
HOSTS = [HostSpec("liver", (LIVER,), (6.0, 18.0)), HostSpec("lung", (LUNG, VESSEL), (4.0, 12.0)),
         HostSpec("kidney", (KIDNEY,), (5.0, 14.0))]


def lesion_hu(rng: np.random.Generator, organ: str, host_hu: float) -> float:
    """Draw a lesion's mean HU: hypo- or hyper-dense by 20..60 HU in liver/kidney; in lung a solid
    (-30..50 HU) or, one time in three, a ground-glass (-650..-400 HU) nodule."""
    if organ == "lung":
        return float(rng.uniform(-650.0, -400.0) if rng.random() < 1 / 3 else rng.uniform(-30.0, 50.0))
    sign = -1.0 if rng.random() < 0.5 else 1.0
    return float(host_hu + sign * rng.uniform(20.0, 60.0))


def value_tables(values: Mapping[str, float], lesions: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per-region mean HU and texture SD (256 entries) for tissues and lesion regions."""
    lab = LABELS["ct"]
    mean = np.zeros(256)
    sd = np.zeros(256)
    for name, k in lab.items():
        if name != "lesion":
            mean[k] = values[name]
            sd[k] = CT_TEXTURE_HU[name]
    for i, les in enumerate(lesions):
        mean[LESION_REGION_BASE + i] = les["hu"]
        sd[LESION_REGION_BASE + i] = LESION_TEXTURE["ct"]
    return mean, sd


def synthesize_ct(rng: np.random.Generator, *, ndim: int = 2, size: int = 128, slices: int | None = None,
                  lesion: bool = True, tissues: Mapping[str, Any] | None = None,
                  spacing_mm: float | None = None, profile: ModalityProfile | None = None) -> SyntheticCase:
    """CT phantom (HU): axial slice (``ndim=2``, ``size x size``) or volume (``slices x size x size``).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random draw.
    ndim : {2, 3}
        2D axial slice at the lower-thorax level, or a volume centred 40 mm below it.
    size : int
        In-plane pixels.
    slices : int, optional
        Number of slices of a volume (default ``size // 2``).
    lesion : bool
        Draw 1-3 lesions (liver, lung or kidney) or none.
    tissues : mapping, optional
        Mean HU overrides keyed by legend names (``{"liver": 80.0}``); ``"lesion"`` fixes lesion HU.
    spacing_mm : float, optional
        Isotropic voxel spacing in mm (default ``FOV_MM / size``, 380 mm across).
    profile : ModalityProfile, optional
        CT profile whose ``value_range`` (HU) the image is clipped to (default: the built-in CT
        profile, -1024..3071 HU).

    Returns
    -------
    SyntheticCase
    """
    values, fixed_lesion = resolve_tissues("ct", tissues)
    anat = draw_anatomy(rng)
    s = float(spacing_mm) if spacing_mm else FOV_MM / size
    if ndim == 2:
        grid = Grid.regular((1, size, size), (s, s, s), (0.0, 0.0, 0.0))
    else:
        nz = int(slices) if slices else max(size // 2, 1)
        grid = Grid.regular((nz, size, size), (s, s, s), (Z_CENTER_3D_MM, 0.0, 0.0))
    painter = Painter(grid)
    painter.region = rasterise(anat, grid)
    n_les = int(rng.integers(1, 4)) if lesion else 0
    lesions = place_lesions(rng, painter, HOSTS, n_les)
    for les in lesions:
        host = {"liver": "liver", "lung": "lung", "kidney": "kidney"}[les["organ"]]
        hu = lesion_hu(rng, les["organ"], values[host])
        les["hu"] = float(fixed_lesion) if fixed_lesion is not None else hu
        les["contrast_hu"] = les["hu"] - values[host]
    region = painter.region[0] if ndim == 2 else painter.region
    spacing = (s, s) if ndim == 2 else (s, s, s)
    mean, sd = value_tables(values, lesions)
    noise = powerlaw_texture(rng, region.shape, spacing, beta=TEXTURE_BETA)
    image = compose_image(region, mean, sd, noise, multiplicative=False, pv_sigma_px=pv_sigma_px(s, PSF_SIGMA_MM))
    lo, hi = (require_profile(profile, "synthesize_ct") if profile is not None else PROFILES["ct"]).value_range
    image = np.clip(image, lo, hi)
    for les, nvox in zip(lesions, lesion_voxels(region, len(lesions))):
        les["voxels"] = nvox
    label = region_to_label(region, LABELS["ct"]["lesion"])
    class_label = int(np.any(label == LABELS["ct"]["lesion"]))
    meta = {
        "modality": "ct", "ndim": ndim, "shape": list(image.shape), "spacing_mm": list(spacing),
        "z_range_mm": [float(grid.z[0]), float(grid.z[-1])],
        "n_lesions": len(lesions), "lesions": lesions,
        "body_mm": {"half_width": anat.A, "half_depth": anat.B, "fat": anat.t_fat, "muscle": anat.t_mus},
        "diaphragm_dome_mm": {"right": anat.dome_r[0], "left": anat.dome_l[0]},
        "tissues_hu": dict(values),
    }
    return SyntheticCase(image=image.astype(np.float32), label=label, spacing=spacing, legend=dict(LEGENDS["ct"]),
                         class_label=class_label, sequences={}, meta=jsonable(meta))

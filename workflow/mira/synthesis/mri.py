"""Brain MRI phantom: T1, T2 and FLAIR magnitude images sharing one label map.

The anatomy of :mod:`mira.synthesis.brain_anatomy` is rasterised once; 1-3 MS-like white-matter
lesions (ovoid, 2-7 mm radius) are added; each contrast maps every region to its configured mean
magnitude (textbook-relative values in 0..1: CSF dark in T1 and FLAIR and bright in T2, WM brighter than
GM in T1 and darker in T2/FLAIR, scalp fat bright in T1, cortical bone dark), with a multiplicative,
zero-mean-per-region texture shared by all contrasts (the same microstructure; power-law spectrum
in cycles/mm, see :func:`mira.synthesis.texture.powerlaw_texture`) and a partial-volume /
point-spread blur (``hypot(0.5 px, 0.5 mm)``), after which each region's mean is restored exactly.
Images are non-negative.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .brain_anatomy import WM, draw_brain, rasterise_brain
from .case import LESION_REGION_BASE, SyntheticCase, jsonable, region_to_label
from .lesions import HostSpec, lesion_voxels, place_lesions
from .shapes import Grid, Painter
from .texture import compose_image, powerlaw_texture, pv_sigma_px
from .tissues import LABELS, LEGENDS, LESION_TEXTURE, MRI_SEQUENCES, MRI_TEXTURE_REL, resolve_tissues

FOV_MM = 220.0          #: default field of view (mm); spacing = FOV / size
Z_SLICE_MM = (11.0, 16.0)  #: 2D slice level above the brain centre (ventricle bodies), mm
Z_CENTER_3D_MM = 8.0    #: cranio-caudal centre of a volume, mm
PSF_SIGMA_MM = 0.5      #: in-plane point-spread sigma (mm); with sub-pixel partial volume -> blur sigma
TEXTURE_BETA = 2.6      #: power-law exponent of the tissue texture spectrum
#: lesion magnitude each contrast tends to (T1 hypointense "black hole", T2/FLAIR hyperintense)
LESION_TARGET = {"T1": 0.35, "T2": 0.92, "FLAIR": 0.95}
HOSTS = [HostSpec("white_matter", (WM,), (2.0, 7.0))]


def lesion_values(rng: np.random.Generator, values: Mapping[str, Mapping[str, float]],
                  fixed: Mapping[str, float] | None) -> dict[str, float]:
    """One lesion's magnitude per contrast: white matter moved by a drawn severity (0.5..1) towards
    :data:`LESION_TARGET`, unless fixed by configuration."""
    severity = float(rng.uniform(0.5, 1.0))
    out = {}
    for c in MRI_SEQUENCES:
        wm = values[c]["white_matter"]
        out[c] = float(fixed[c]) if fixed and c in fixed else wm + severity * (LESION_TARGET[c] - wm)
    return out


def synthesize_mri(rng: np.random.Generator, *, ndim: int = 2, size: int = 128, slices: int | None = None,
                   lesion: bool = True, tissues: Mapping[str, Any] | None = None, contrast: str = "T1",
                   spacing_mm: float | None = None) -> SyntheticCase:
    """Brain MRI phantom (magnitude, a.u.): axial slice or volume, with T1/T2/FLAIR sequences.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random draw.
    ndim : {2, 3}
        Axial slice through the ventricle bodies, or a volume (``slices x size x size``).
    size : int
        In-plane pixels.
    slices : int, optional
        Slices of a volume (default ``size // 2``).
    lesion : bool
        Draw 1-3 white-matter lesions or none.
    tissues : mapping, optional
        Overrides, ``{contrast: {tissue: value}}`` or flat ``{tissue: value}`` for ``contrast``.
    contrast : {"T1", "T2", "FLAIR"}
        Primary contrast returned as ``image``.
    spacing_mm : float, optional
        Isotropic spacing in mm (default ``FOV_MM / size``, 220 mm across).

    Returns
    -------
    SyntheticCase
    """
    values, fixed = resolve_tissues("mri", tissues, contrast)
    brain = draw_brain(rng)
    s = float(spacing_mm) if spacing_mm else FOV_MM / size
    if ndim == 2:
        z_level = float(rng.uniform(*Z_SLICE_MM))
        grid = Grid.regular((1, size, size), (s, s, s), (z_level, 0.0, 0.0))
    else:
        nz = int(slices) if slices else max(size // 2, 1)
        grid = Grid.regular((nz, size, size), (s, s, s), (Z_CENTER_3D_MM, 0.0, 0.0))
    painter = Painter(grid)
    painter.region = rasterise_brain(brain, grid)
    n_les = int(rng.integers(1, 4)) if lesion else 0
    lesions = place_lesions(rng, painter, HOSTS, n_les)
    for les in lesions:
        les["values"] = lesion_values(rng, values, fixed)
        les["contrast"] = {c: les["values"][c] - values[c]["white_matter"] for c in MRI_SEQUENCES}
    region = painter.region[0] if ndim == 2 else painter.region
    spacing = (s, s) if ndim == 2 else (s, s, s)
    noise = powerlaw_texture(rng, region.shape, spacing, beta=TEXTURE_BETA)
    for les, nvox in zip(lesions, lesion_voxels(region, len(lesions))):
        les["voxels"] = nvox
    lab = LABELS["mri"]
    sd = np.zeros(256)
    for name, k in lab.items():
        if name != "lesion":
            sd[k] = MRI_TEXTURE_REL[name]
    sd[LESION_REGION_BASE:LESION_REGION_BASE + len(lesions)] = LESION_TEXTURE["mri"]
    sequences: dict[str, np.ndarray] = {}
    for c in MRI_SEQUENCES:
        mean = np.zeros(256)
        for name, k in lab.items():
            if name != "lesion":
                mean[k] = values[c][name]
        for i, les in enumerate(lesions):
            mean[LESION_REGION_BASE + i] = les["values"][c]
        sequences[c] = compose_image(region, mean, sd, noise, multiplicative=True,
                                      pv_sigma_px=pv_sigma_px(s, PSF_SIGMA_MM))
    label = region_to_label(region, lab["lesion"])
    class_label = int(np.any(label == lab["lesion"]))
    meta = {
        "modality": "mri", "ndim": ndim, "shape": list(label.shape), "spacing_mm": list(spacing),
        "primary_contrast": contrast, "sequences": list(MRI_SEQUENCES),
        "z_range_mm": [float(grid.z[0]), float(grid.z[-1])],
        "n_lesions": len(lesions), "lesions": lesions,
        "brain_mm": {"semi_axes": brain.brain_r, "scalp": brain.t_scalp, "skull": brain.t_skull,
                     "cortex": brain.t_gm, "atrophy": brain.atrophy, "yaw_deg": float(np.degrees(brain.yaw))},
        "tissues": values,
    }
    return SyntheticCase(image=sequences[contrast], label=label, spacing=spacing, legend=dict(LEGENDS["mri"]),
                         class_label=class_label, sequences=sequences, meta=jsonable(meta))

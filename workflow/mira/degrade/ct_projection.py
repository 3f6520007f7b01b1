"""CT degradations simulated in the projection (sinogram) domain, reconstructed by filtered back-projection.

Geometry: parallel-beam, ``n_views`` angles over 180 degrees, detector bins as wide as a pixel
(scikit-image :func:`~skimage.transform.radon` / :func:`~skimage.transform.iradon`). The image in HU
is converted to linear attenuation ``mu = mu_water (1 + HU / 1000)`` (``mu_water`` = 0.02 /mm, about
70 keV); line integrals ``p = sum(mu * pixel)`` are dimensionless, so the transmitted fraction of a
ray is ``exp(-p)``.

**Registration trick.** FBP of a noise-free sinogram is not exactly the image (discretisation,
ramp-filter ringing). To keep the clean/degraded pair registered and the difference *pure*
degradation, every function reconstructs both the degraded sinogram and the ideal one and returns::

    degraded = reference + (FBP(degraded sinogram) - FBP(ideal sinogram))

so ``degraded - reference`` contains only the simulated noise, streaks or inconsistencies. The
reference is the input image, except for metal, where it is the input with the metal object pasted
in (the metal is anatomy-like content; only its artifacts are degradation).

Outputs are clipped to the CT value range [-1024, 3071] HU. Images must be 2D with isotropic
in-plane spacing (volumes are degraded slice by slice by :func:`mira.degrade.apply`).

References
----------
Kak AC, Slaney M (1988) Principles of Computerized Tomographic Imaging, IEEE Press, ch. 3 and 4.
Yu L et al. (2012) Development and validation of a practical lower-dose-simulation tool for
optimizing CT scan protocols. J Comput Assist Tomogr 36:477-487.
De Man B et al. (1999) Metal streak artifacts in X-ray computed tomography: a simulation study.
IEEE Trans Nucl Sci 46:691-696.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# scikit-image loads its submodules on first attribute access (lazy_loader): a job that imports this
# module without calling the projector does not pay for scipy.interpolate and scipy.optimize (~0.6 s).
import skimage.transform
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..metrics.mtf import FWHM_PER_SIGMA
from .noise import poisson_counts

#: Linear attenuation coefficient of water, 1/mm (about 70 keV effective energy).
MU_WATER_PER_MM = 0.02
HU_RANGE = (-1024.0, 3071.0)
FBP_FILTER = "shepp-logan"
#: Counts are floored at this many photons before the log (photon starvation cannot give log(0)).
MIN_COUNTS = 1.0


def hu_to_mu(hu: np.ndarray, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """Linear attenuation (1/mm) from HU: ``mu_water (1 + HU/1000)``, floored at 0."""
    return np.maximum(mu_water * (1.0 + np.asarray(hu, dtype=np.float64) / 1000.0), 0.0)


def mu_to_hu(mu: np.ndarray, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """HU from linear attenuation (1/mm)."""
    return (np.asarray(mu, dtype=np.float64) / mu_water - 1.0) * 1000.0


def full_view_count(size: int) -> int:
    """Views needed to sample a ``size``-pixel image without angular aliasing: ``ceil(pi/2 * size)``."""
    return int(np.ceil(np.pi / 2.0 * size))


def view_angles(n_views: int) -> np.ndarray:
    """``n_views`` equally spaced projection angles over [0, 180) degrees."""
    if int(n_views) < 2:
        raise ParameterError(f"n_views must be >= 2, got {n_views}")
    return np.linspace(0.0, 180.0, int(n_views), endpoint=False)


def _pixel_mm(image: np.ndarray, spacing: Sequence[float]) -> float:
    if np.asarray(image).ndim != 2:
        raise ParameterError(f"CT projection simulation works on 2D slices, got shape {np.shape(image)}")
    sy, sx = float(spacing[-2]), float(spacing[-1])
    if sy <= 0 or sx <= 0:
        raise ParameterError(f"spacing must be > 0, got {tuple(spacing)}")
    if abs(sy - sx) > 1e-3 * max(sy, sx):
        raise ParameterError(f"CT projection simulation needs isotropic in-plane spacing, got {sy} x {sx} mm")
    return sx


def _square(mu: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pad to a square with air (mu = 0); return the padded array and the crop back."""
    ny, nx = mu.shape
    n = max(ny, nx)
    py, px = (n - ny) // 2, (n - nx) // 2
    out = np.zeros((n, n))
    out[py:py + ny, px:px + nx] = mu
    return out, (slice(py, py + ny), slice(px, px + nx))


def forward_project(mu: np.ndarray, pixel_mm: float, angles: np.ndarray) -> np.ndarray:
    """Line integrals (dimensionless) of a square ``mu`` map (1/mm), shape (detector bins, views)."""
    return skimage.transform.radon(mu, theta=angles, circle=False, preserve_range=True) * pixel_mm


def fbp(sinogram: np.ndarray, pixel_mm: float, angles: np.ndarray, size: int,
        filter_name: str = FBP_FILTER) -> np.ndarray:
    """Filtered back-projection of line integrals into a ``size`` x ``size`` ``mu`` map (1/mm)."""
    return skimage.transform.iradon(sinogram / pixel_mm, theta=angles, output_size=size, circle=False,
                  filter_name=filter_name, preserve_range=True)


def _finish(reference: np.ndarray, d_mu: np.ndarray, crop, mu_water: float) -> np.ndarray:
    return np.clip(reference + d_mu[crop] * (1000.0 / mu_water), *HU_RANGE)


def _log_counts(expected: np.ndarray, incident: float, rng: np.random.Generator, electronic_sigma: float) -> np.ndarray:
    counts = poisson_counts(expected, rng, electronic_sigma)
    return -np.log(np.maximum(counts, MIN_COUNTS) / incident)


def low_dose_ct(image: np.ndarray, spacing: Sequence[float], incident_photons: float, rng: np.random.Generator, *,
                electronic_sigma: float = 0.0, n_views: int | None = None, filter_name: str = FBP_FILTER,
                mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """Low-dose CT: Poisson noise on transmitted counts plus electronic noise, reconstructed by FBP.

    Parameters
    ----------
    image : (ny, nx) array
        CT slice in HU.
    spacing : (sy, sx)
        Pixel spacing in mm (isotropic).
    incident_photons : float
        Unattenuated photons per detector bin and view, ``I0`` (> 0); the dose is proportional to it,
        and the image noise standard deviation to ``1 / sqrt(I0)``.
    rng : numpy.random.Generator
    electronic_sigma : float
        Electronic noise per detector reading, photon counts (>= 0).
    n_views : int, optional
        Projection angles over 180 degrees; default :func:`full_view_count` of the image size.
    filter_name : str
        FBP filter (scikit-image name): ``"shepp-logan"`` (default) or ``"ramp"`` (sharper, noisier).

    Returns
    -------
    array
        The noisy slice in HU: ``image + (FBP(noisy) - FBP(noise-free))`` (module docstring).
    """
    i0 = float(incident_photons)
    if not np.isfinite(i0) or i0 <= 0:
        raise ParameterError(f"incident_photons (dose) must be > 0, got {incident_photons}")
    if electronic_sigma < 0:
        raise ParameterError(f"electronic_sigma must be >= 0, got {electronic_sigma}")
    px = _pixel_mm(image, spacing)
    img = np.asarray(image, dtype=np.float64)
    mu, crop = _square(hu_to_mu(img, mu_water))
    angles = view_angles(n_views or full_view_count(mu.shape[0]))
    p = forward_project(mu, px, angles)
    p_noisy = _log_counts(i0 * np.exp(-p), i0, rng, electronic_sigma)
    d_mu = fbp(p_noisy, px, angles, mu.shape[0], filter_name) - fbp(p, px, angles, mu.shape[0], filter_name)
    return _finish(img, d_mu, crop, mu_water)


def sparse_view_ct(image: np.ndarray, spacing: Sequence[float], n_views: int, *, full_views: int | None = None,
                   filter_name: str = FBP_FILTER, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """Angular undersampling: FBP from ``n_views`` views instead of a full set (aliasing streaks).

    ``degraded = image + FBP(n_views) - FBP(full_views)``; ``full_views`` defaults to
    :func:`full_view_count` (``ceil(pi/2 N)``, enough views for an ``N``-pixel image).
    """
    if int(n_views) < 2:
        raise ParameterError(f"n_views must be >= 2, got {n_views}")
    px = _pixel_mm(image, spacing)
    img = np.asarray(image, dtype=np.float64)
    mu, crop = _square(hu_to_mu(img, mu_water))
    n = mu.shape[0]
    full = view_angles(full_views or full_view_count(n))
    sparse = view_angles(n_views)
    d_mu = (fbp(forward_project(mu, px, sparse), px, sparse, n, filter_name)
            - fbp(forward_project(mu, px, full), px, full, n, filter_name))
    return _finish(img, d_mu, crop, mu_water)


def metal_mask(shape: Sequence[int], spacing: Sequence[float], centers_mm: Sequence[Sequence[float]],
               radius_mm: float) -> np.ndarray:
    """Boolean mask of metal disks of ``radius_mm`` at ``centers_mm`` ((y, x) in mm from the image origin)."""
    yy, xx = np.indices(tuple(shape)[-2:], dtype=np.float64)
    yy *= float(spacing[-2])
    xx *= float(spacing[-1])
    mask = np.zeros(tuple(shape)[-2:], dtype=bool)
    for cy, cx in centers_mm:
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius_mm ** 2
    return mask


def metal_artifact_ct(image: np.ndarray, spacing: Sequence[float], centers_mm: Sequence[Sequence[float]],
                      radius_mm: float, rng: np.random.Generator, *, metal_mu_per_mm: float = 0.3,
                      incident_photons: float = 1e5, electronic_sigma: float = 5.0, beam_hardening: float = 0.3,
                      n_views: int | None = None, filter_name: str = FBP_FILTER,
                      mu_water: float = MU_WATER_PER_MM) -> tuple[np.ndarray, np.ndarray]:
    """Metal streak artifacts: metal inserted in the sinogram with beam hardening and photon starvation.

    Each metal disk replaces the tissue under it. Along every ray the metal part of the line
    integral ``p_m`` is *beam hardened* -- the polychromatic spectrum hardens inside metal, so the
    effective attenuation falls with path length: ``p_m' = ln(1 + b p_m) / b`` -- and the counts
    behind metal are Poisson with few photons (*photon starvation*), floored at 1 photon. FBP turns
    the inconsistent rays into dark and bright streaks.

    Parameters
    ----------
    image : (ny, nx) array
        CT slice in HU.
    spacing : (sy, sx)
        Pixel spacing, mm (isotropic).
    centers_mm : sequence of (y, x)
        Centres of the metal disks, mm from the image origin (pixel (0, 0) centre).
    radius_mm : float
        Disk radius, mm (> 0).
    rng : numpy.random.Generator
    metal_mu_per_mm : float
        Linear attenuation of the metal, 1/mm: titanium about 0.1, steel about 0.3 (at ~70 keV).
    incident_photons : float
        ``I0`` per detector bin and view (> 0).
    electronic_sigma : float
        Electronic noise, photon counts.
    beam_hardening : float
        ``b`` above (>= 0; 0 = monochromatic).

    Returns
    -------
    (degraded, reference) : arrays in HU
        ``reference`` is ``image`` with the metal pasted in at its HU value (clipped to 3071);
        ``degraded = reference + FBP(measured) - FBP(ideal)`` where *ideal* is the monochromatic,
        noise-free sinogram of the same object with metal.
    """
    if radius_mm <= 0:
        raise ParameterError(f"radius_mm must be > 0, got {radius_mm}")
    if metal_mu_per_mm <= 0:
        raise ParameterError(f"metal_mu_per_mm must be > 0, got {metal_mu_per_mm}")
    if incident_photons <= 0:
        raise ParameterError(f"incident_photons (dose) must be > 0, got {incident_photons}")
    if beam_hardening < 0:
        raise ParameterError(f"beam_hardening must be >= 0, got {beam_hardening}")
    px = _pixel_mm(image, spacing)
    img = np.asarray(image, dtype=np.float64)
    mask = metal_mask(img.shape, spacing, centers_mm, radius_mm)
    reference = img.copy()
    reference[mask] = min(float(mu_to_hu(metal_mu_per_mm, mu_water)), HU_RANGE[1])
    tissue, crop = _square(np.where(mask, 0.0, hu_to_mu(img, mu_water)))
    metal, _ = _square(np.where(mask, metal_mu_per_mm, 0.0))
    n = tissue.shape[0]
    angles = view_angles(n_views or full_view_count(n))
    p_t = forward_project(tissue, px, angles)
    p_m = np.maximum(forward_project(metal, px, angles), 0.0)
    p_m_eff = np.log1p(beam_hardening * p_m) / beam_hardening if beam_hardening > 0 else p_m
    i0 = float(incident_photons)
    p_meas = _log_counts(i0 * np.exp(-(p_t + p_m_eff)), i0, rng, electronic_sigma)
    d_mu = fbp(p_meas, px, angles, n, filter_name) - fbp(p_t + p_m, px, angles, n, filter_name)
    return _finish(reference, d_mu, crop, mu_water), reference


def motion_ct(image: np.ndarray, spacing: Sequence[float], amplitude_mm: float, direction_deg: float, *,
              pattern: str = "breathing", cycles: float = 1.0, phase: float = 0.0, n_views: int | None = None,
              filter_name: str = FBP_FILTER, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """Patient motion during the rotation: each view sees the object rigidly shifted.

    The displacement at view ``k`` (time ``t = k / n_views`` in [0, 1)) along ``direction_deg``
    (from +x towards +y) is ``amplitude_mm * sin(2 pi (cycles t) + phase)`` for ``pattern="breathing"``
    or ``amplitude_mm * (t - 0.5) * 2`` for ``pattern="drift"``. Every view is projected from the
    shifted slice, and FBP of the inconsistent sinogram gives blurring, doubled edges and streaks.
    ``degraded = image + FBP(moving) - FBP(static)``.
    """
    if amplitude_mm < 0:
        raise ParameterError(f"amplitude_mm must be >= 0, got {amplitude_mm}")
    if pattern not in ("breathing", "drift"):
        raise ParameterError(f"pattern must be 'breathing' or 'drift', got {pattern!r}")
    px = _pixel_mm(image, spacing)
    img = np.asarray(image, dtype=np.float64)
    mu, crop = _square(hu_to_mu(img, mu_water))
    n = mu.shape[0]
    angles = view_angles(n_views or full_view_count(n))
    t = np.arange(angles.size) / angles.size
    disp = (amplitude_mm * np.sin(2 * np.pi * cycles * t + phase) if pattern == "breathing"
            else amplitude_mm * 2.0 * (t - 0.5))
    u = np.array([np.sin(np.deg2rad(direction_deg)), np.cos(np.deg2rad(direction_deg))])  # (y, x)
    static = forward_project(mu, px, angles)
    moving = np.empty_like(static)
    for k, (ang, d) in enumerate(zip(angles, disp)):
        shifted = ndi.shift(mu, u * d / px, order=3, mode="constant", cval=0.0)
        moving[:, k] = forward_project(shifted, px, np.array([ang]))[:, 0]
    d_mu = fbp(moving, px, angles, n, filter_name) - fbp(static, px, angles, n, filter_name)
    return _finish(img, d_mu, crop, mu_water)


def _body(hu: np.ndarray, threshold_hu: float) -> np.ndarray:
    """The patient's outline: the largest connected region above ``threshold_hu``, holes (lungs) filled."""
    lab, n = ndi.label(hu > threshold_hu)
    if n == 0:
        return np.zeros(hu.shape, dtype=bool)
    sizes = ndi.sum(np.ones(hu.shape), lab, range(1, n + 1))
    return ndi.binary_fill_holes(lab == int(np.argmax(sizes)) + 1)


def layer_path_mm(body: np.ndarray, pixel_mm: float, angles: np.ndarray, thickness_mm: float,
                  view_step: int | None = None) -> np.ndarray:
    """Path length (mm) of every ray through a layer of ``thickness_mm`` wrapped around ``body``.

    The layer is the body outline dilated by ``thickness_mm`` minus the body (a larger patient of the
    same shape); the rays are those of :func:`forward_project` on the square ``body`` (same detector
    bins). A ray through the body centre crosses ``2 * thickness_mm``, a tangential one more. The
    path varies slowly with the angle, so it is projected at every ``view_step``-th view (default:
    about 64 views) and interpolated linearly in between.
    """
    n = body.shape[0]
    pad = int(np.ceil(thickness_mm / pixel_mm)) + 1
    big = np.pad(body, pad)
    ring = (ndi.distance_transform_edt(~big, sampling=pixel_mm) <= thickness_mm) & ~big
    n_views = angles.size
    step = int(view_step or max(1, n_views // 64))
    idx = np.unique(np.r_[np.arange(0, n_views, step), n_views - 1])
    sampled = forward_project(ring.astype(np.float64), pixel_mm, angles[idx])
    rows = forward_project(np.zeros((n, n)), pixel_mm, angles[:1]).shape[0]
    off = sampled.shape[0] // 2 - rows // 2
    sampled = sampled[off:off + rows]
    if idx.size == 1:
        return np.repeat(sampled, n_views, axis=1)
    j = np.clip(np.searchsorted(idx, np.arange(n_views), side="right") - 1, 0, idx.size - 2)
    w = (np.arange(n_views) - idx[j]) / (idx[j + 1] - idx[j])
    return np.maximum(sampled[:, j] * (1.0 - w) + sampled[:, j + 1] * w, 0.0)


def _projection_scatter(transmission: np.ndarray, pixel_mm: float, fraction: float, fwhm_mm: float) -> np.ndarray:
    """Scatter reaching the detector, in units of I0: source ``T (-ln T)`` spread along the detector by a
    Gaussian of ``fwhm_mm``, scaled to a mean scatter-to-primary ratio ``fraction`` over the body rays."""
    t = np.clip(transmission, 1e-12, 1.0)
    source = t * -np.log(t)
    veil = ndi.gaussian_filter1d(source, fwhm_mm / FWHM_PER_SIGMA / pixel_mm, axis=0, mode="nearest")
    body = t < 0.95
    if fraction == 0 or not body.any() or veil[body].mean() == 0:
        return np.zeros_like(t)
    return veil * (fraction * t[body].mean() / veil[body].mean())


def body_habitus_ct(image: np.ndarray, spacing: Sequence[float], extra_water_cm: float, incident_photons: float,
                    rng: np.random.Generator, *, scatter_fraction: float = 0.0, scatter_fwhm_mm: float = 100.0,
                    electronic_sigma: float = 0.0, n_views: int | None = None, body_threshold_hu: float = -500.0,
                    filter_name: str = FBP_FILTER, mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """A larger patient at the same dose: an extra water layer around the body (more noise) and scatter.

    The patient's outline (largest region above ``body_threshold_hu``, lungs filled) is wrapped in
    ``extra_water_cm`` of water (:func:`layer_path_mm`): each ray through it loses the extra factor
    ``exp(-mu_water * L)`` of its photons (``L`` about ``2 * extra_water_cm`` through the centre), so
    the counts behind the patient fall and the quantum noise of the reconstruction rises (SD about
    ``exp(mu_water L / 2)`` times that of the reference patient: x2.7 for 5 cm on each side). Scatter
    from the larger body adds a smooth background to the detected counts (:func:`_projection_scatter`:
    mean scatter-to-primary ratio ``scatter_fraction`` over the body rays, spread along the detector),
    which the log underestimates most behind the thickest parts: cupping and lower contrast. The
    detected counts are Poisson with electronic noise as in :func:`low_dose_ct`. The known layer path
    is taken off the measured line integrals before FBP, so the layer itself is not in the image and
    the pair stays registered (module docstring); what remains is its cost in noise and scatter.

    Parameters
    ----------
    image : (ny, nx) array
        CT slice in HU.
    spacing : (sy, sx)
        Pixel spacing, mm (isotropic).
    extra_water_cm : float
        Thickness of the extra water-equivalent layer (subcutaneous fat is about water-equivalent in
        attenuation) around the body, cm (>= 0).
    incident_photons : float
        ``I0``, unattenuated photons per detector bin and view (> 0): the protocol's dose.
    rng : numpy.random.Generator
    scatter_fraction : float
        Mean scatter-to-primary ratio of the counts over the rays through the body (>= 0): the
        residual after the anti-scatter grid and correction, growing with patient size.
    scatter_fwhm_mm : float
        Spread of the scatter along the detector, mm (> 0).
    electronic_sigma : float
        Electronic noise per detector reading, photon counts (>= 0).
    n_views : int, optional
        Projection angles over 180 degrees (default :func:`full_view_count`).
    body_threshold_hu : float
        HU above which a pixel belongs to the patient (outline of the layer).

    Returns
    -------
    array
        The slice in HU: ``image + FBP(measured - layer path) - FBP(ideal)``.
    """
    for key, val in (("extra_water_cm", extra_water_cm), ("scatter_fraction", scatter_fraction),
                     ("electronic_sigma", electronic_sigma)):
        if not np.isfinite(val) or val < 0:
            raise ParameterError(f"{key} must be >= 0, got {val}")
    i0 = float(incident_photons)
    if not np.isfinite(i0) or i0 <= 0:
        raise ParameterError(f"incident_photons (dose) must be > 0, got {incident_photons}")
    if not scatter_fwhm_mm > 0:
        raise ParameterError(f"scatter_fwhm_mm must be > 0, got {scatter_fwhm_mm}")
    px = _pixel_mm(image, spacing)
    img = np.asarray(image, dtype=np.float64)
    mu, crop = _square(hu_to_mu(img, mu_water))
    body, _ = _square(_body(img, body_threshold_hu).astype(np.float64))
    n = mu.shape[0]
    angles = view_angles(n_views or full_view_count(n))
    p = forward_project(mu, px, angles)
    p_layer = mu_water * layer_path_mm(body > 0.5, px, angles, 10.0 * float(extra_water_cm)) if extra_water_cm else 0.0
    primary = np.exp(-(p + p_layer))
    detected = primary + _projection_scatter(primary, px, float(scatter_fraction), float(scatter_fwhm_mm))
    p_meas = _log_counts(i0 * detected, i0, rng, electronic_sigma) - p_layer
    d_mu = fbp(p_meas, px, angles, n, filter_name) - fbp(p, px, angles, n, filter_name)
    return _finish(img, d_mu, crop, mu_water)

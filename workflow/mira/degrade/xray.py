"""Projection radiography (X-ray) degradations on detector intensity ``I / I0`` in [0, 1].

* **Quantum noise**: the detector counts photons; a pixel that would receive ``N0`` photons
  unattenuated receives ``N0 * I`` on average and Poisson-many in fact (variance = mean), plus
  Gaussian electronic noise. SNR of a pixel is ``sqrt(N0 * I)``: halving the dose costs 3 dB.
* **Scatter**: photons scattered in the patient add a smooth, low-frequency veil that lowers
  contrast (scatter-to-primary ratio, SPR, typically 0.5-5 without a grid).
* **Quantisation** to ``bits`` bits of the ADC over [0, 1].
* **Dynamic-range clipping**: the detector saturates above ``high`` and loses signal below ``low``.
* **Body habitus**: a larger patient -- an extra water-equivalent layer on the beam's way in and out
  attenuates every ray through the body (fewer photons, more quantum noise) and scatters more
  (a larger scatter veil, lower contrast).

Reference: Bushberg JT et al. (2012) The Essential Physics of Medical Imaging, 3rd ed., ch. 7-8;
Love LA, Kruger RA (1987) Scatter estimation for a digital radiographic system using convolution
filtering. Med Phys 14:178-185.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..metrics.mtf import FWHM_PER_SIGMA
from .ct_projection import MU_WATER_PER_MM
from .noise import poisson_counts

#: Pixels with ``I / I0`` below this see the patient (the rest is direct, unattenuated beam).
OBJECT_TRANSMISSION = 0.95


def quantum_noise(image: np.ndarray, photons_per_pixel: float, rng: np.random.Generator,
                  electronic_sigma: float = 0.0) -> np.ndarray:
    """Poisson (quantum) noise on detector counts plus electronic noise.

    Parameters
    ----------
    image : array
        Noise-free ``I / I0`` in [0, 1].
    photons_per_pixel : float
        ``N0``, unattenuated photons per pixel (> 0; proportional to dose).
    electronic_sigma : float
        Electronic noise, in photon counts (>= 0).

    Returns
    -------
    array
        ``counts / N0`` (not clipped: values slightly above 1 or below 0 are possible).
    """
    n0 = float(photons_per_pixel)
    if not np.isfinite(n0) or n0 <= 0:
        raise ParameterError(f"photons_per_pixel (dose) must be > 0, got {photons_per_pixel}")
    img = np.clip(np.asarray(image, dtype=np.float64), 0.0, None)
    return poisson_counts(n0 * img, rng, electronic_sigma) / n0


def scatter(image: np.ndarray, spacing: Sequence[float], spr: float, kernel_fwhm_mm: float = 60.0) -> np.ndarray:
    """Add scattered radiation: a smooth veil whose mean over the object is ``spr`` times the primary.

    The scatter source is strongest where much material is crossed but enough photons remain,
    ``I (-ln I)``; it spreads with a broad Gaussian kernel (FWHM ``kernel_fwhm_mm``) and is scaled so
    that the mean scatter-to-primary ratio over the object (pixels with ``I < 0.95``) is ``spr``.

    Parameters
    ----------
    image : array
        Primary ``I / I0`` in [0, 1].
    spacing : sequence of float
        Pixel spacing, mm.
    spr : float
        Mean scatter-to-primary ratio over the object (>= 0).
    kernel_fwhm_mm : float
        Width of the scatter spread kernel, mm (> 0).
    """
    if spr < 0 or not np.isfinite(spr):
        raise ParameterError(f"spr must be >= 0, got {spr}")
    if kernel_fwhm_mm <= 0:
        raise ParameterError(f"kernel_fwhm_mm must be > 0, got {kernel_fwhm_mm}")
    img = np.clip(np.asarray(image, dtype=np.float64), 1e-6, 1.0)
    source = img * -np.log(img)
    sigma_px = [kernel_fwhm_mm / FWHM_PER_SIGMA / float(s) for s in spacing]
    veil = ndi.gaussian_filter(source, sigma_px, mode="nearest")
    obj = img < OBJECT_TRANSMISSION
    if spr == 0 or not obj.any() or veil[obj].mean() == 0:
        return np.asarray(image, dtype=np.float64).copy()
    veil *= spr * img[obj].mean() / veil[obj].mean()
    return np.asarray(image, dtype=np.float64) + veil


def quantize(image: np.ndarray, bits: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Quantise to ``2**bits`` equally spaced levels over ``[low, high]`` (values outside are clipped)."""
    if int(bits) != bits or bits < 1 or bits > 24:
        raise ParameterError(f"bits must be an integer in 1..24, got {bits}")
    if not high > low:
        raise ParameterError(f"high must exceed low, got [{low}, {high}]")
    levels = 2 ** int(bits) - 1
    x = np.clip((np.asarray(image, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return np.round(x * levels) / levels * (high - low) + low


def clip_dynamic_range(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Detector dynamic range ``[low, high]`` of ``I / I0``: saturation above, signal loss below."""
    if not 0.0 <= low < high <= 1.0:
        raise ParameterError(f"need 0 <= low < high <= 1, got [{low}, {high}]")
    return np.clip(np.asarray(image, dtype=np.float64), low, high)


def body_habitus_xray(image: np.ndarray, spacing: Sequence[float], extra_water_cm: float, photons_per_pixel: float,
                      rng: np.random.Generator, *, spr: float = 0.0, kernel_fwhm_mm: float = 60.0,
                      electronic_sigma: float = 0.0, mu_water_per_mm: float = MU_WATER_PER_MM) -> np.ndarray:
    """A larger patient on the same exposure: extra attenuation, hence more quantum noise, and more scatter.

    The patient carries ``extra_water_cm`` of water-equivalent tissue on the beam's entrance and
    exit side, so every ray through the body (``I < 0.95``) is attenuated by the extra factor
    ``a = exp(-mu_water * 2 * extra_water_cm)``; the direct beam beside the body is not. The
    detector counts Poisson photons of the attenuated primary ``N0 a I`` plus the scatter veil of
    :func:`scatter` (scatter-to-primary ratio ``spr`` over the body), with electronic noise. The
    known uniform extra path is then removed (``/ a``, as the log processing and windowing of a
    radiograph do), so the pair stays registered: what remains is its cost -- the noise of ``N0 a``
    photons instead of ``N0`` (SNR down by ``sqrt(a)``, 4.3 dB per cm of extra water on each side)
    and a scatter veil that lowers the contrast.

    Parameters
    ----------
    image : array
        Noise-free primary ``I / I0`` of the reference patient, in [0, 1].
    spacing : sequence of float
        Pixel spacing, mm.
    extra_water_cm : float
        Thickness of the extra water-equivalent layer on each side of the patient, cm (>= 0).
    photons_per_pixel : float
        ``N0``, unattenuated photons per pixel of the exposure (> 0).
    rng : numpy.random.Generator
    spr : float
        Mean scatter-to-primary ratio over the body reaching the detector (>= 0; about 0.1-0.5 with a
        grid, growing with patient thickness).
    kernel_fwhm_mm : float
        Width of the scatter spread kernel, mm (> 0).
    electronic_sigma : float
        Electronic noise, photon counts (>= 0).
    mu_water_per_mm : float
        Linear attenuation of water at the effective energy, 1/mm (> 0).

    Returns
    -------
    array
        Degraded ``I / I0`` of the reference patient's anatomy (not clipped).
    """
    if not np.isfinite(extra_water_cm) or extra_water_cm < 0:
        raise ParameterError(f"extra_water_cm must be >= 0, got {extra_water_cm}")
    if not np.isfinite(mu_water_per_mm) or mu_water_per_mm <= 0:
        raise ParameterError(f"mu_water_per_mm must be > 0, got {mu_water_per_mm}")
    img = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    extra = np.exp(-mu_water_per_mm * 2.0 * 10.0 * float(extra_water_cm))
    atten = np.where(img < OBJECT_TRANSMISSION, extra, 1.0)
    primary = img * atten
    detected = scatter(primary, spacing, spr, kernel_fwhm_mm)
    return quantum_noise(detected, photons_per_pixel, rng, electronic_sigma) / atten

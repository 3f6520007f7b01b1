"""Ultrasound speckle on log-compressed B-mode images in [0, 1].

B-mode stores ``b = 1 + 20 log10(A / A_max) / DR`` (``DR`` the displayed dynamic range, dB), so the
echo amplitude is ``A = 10 ** ((b - 1) DR / 20)``. Speckle is the interference of many sub-resolution
scatterers: the received signal is a circular complex Gaussian field, its intensity exponential and
its amplitude Rayleigh distributed -- a *multiplicative* noise on ``A``. Averaging ``looks``
independent speckle patterns (spatial or frequency compounding) reduces the intensity contrast to
``1 / sqrt(looks)``. The speckle grain is the resolution cell: the complex field is correlated by a
Gaussian of ``grain_mm`` FWHM. After multiplying, the image is log-compressed again and clipped to
[0, 1]; pixels at 0 (no echo, outside the sector) stay 0. (Speckle also darkens log images on
average: -2.5 dB for one look, as on a real scanner.)

Reference: Wagner RF et al. (1983) Statistics of speckle in ultrasound B-scans. IEEE Trans Sonics
Ultrason 30:156-163; Szabo TL (2014) Diagnostic Ultrasound Imaging: Inside Out, 2nd ed., ch. 8.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..metrics.mtf import FWHM_PER_SIGMA

#: Displayed dynamic range assumed for stored B-mode images, dB.
DYNAMIC_RANGE_DB = 60.0


def speckle_field(shape: Sequence[int], looks: int, rng: np.random.Generator, spacing: Sequence[float] | None = None,
                  grain_mm: float = 0.0) -> np.ndarray:
    """Unit-mean multiplicative *intensity* speckle factor averaged over ``looks`` looks."""
    if int(looks) != looks or looks < 1:
        raise ParameterError(f"looks must be an integer >= 1, got {looks}")
    if grain_mm < 0:
        raise ParameterError(f"grain_mm must be >= 0, got {grain_mm}")
    shape = tuple(int(n) for n in shape)
    total = np.zeros(shape)
    sigma_px = None
    if grain_mm > 0:
        if spacing is None:
            raise ParameterError("grain_mm needs the pixel spacing")
        sigma_px = [grain_mm / FWHM_PER_SIGMA / float(s) for s in spacing]
    for _ in range(int(looks)):
        z = rng.normal(size=shape) + 1j * rng.normal(size=shape)
        if sigma_px is not None:
            z = (ndi.gaussian_filter(z.real, sigma_px, mode="wrap")
                 + 1j * ndi.gaussian_filter(z.imag, sigma_px, mode="wrap"))
        inten = np.abs(z) ** 2
        total += inten / inten.mean()
    return total / int(looks)


def speckle(image: np.ndarray, looks: int, rng: np.random.Generator, *, spacing: Sequence[float] | None = None,
            grain_mm: float = 0.0, dynamic_range_db: float = DYNAMIC_RANGE_DB) -> np.ndarray:
    """Multiplicative Rayleigh speckle on the echo amplitude of a log-compressed B-mode image.

    Parameters
    ----------
    image : array
        B-mode in [0, 1].
    looks : int
        Independent speckle looks averaged (>= 1; 1 = fully developed speckle, the strongest).
    rng : numpy.random.Generator
    spacing : sequence of float, optional
        Pixel spacing, mm (needed when ``grain_mm > 0``).
    grain_mm : float
        FWHM of the speckle grain (resolution cell), mm; 0 = uncorrelated per pixel.
    dynamic_range_db : float
        Displayed dynamic range ``DR`` of the log compression, dB (> 0).

    Returns
    -------
    array
        Speckled B-mode image in [0, 1].
    """
    if dynamic_range_db <= 0:
        raise ParameterError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
    b = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    factor = speckle_field(b.shape, looks, rng, spacing, grain_mm)
    # amplitude * sqrt(intensity factor) in the log domain: add 10 log10(factor) dB
    out = b + 10.0 * np.log10(np.maximum(factor, 1e-12)) / dynamic_range_db
    # b == 0 is "no echo" (outside the sector, or below the display floor): nothing to speckle
    return np.where(b > 0, np.clip(out, 0.0, 1.0), 0.0)

"""Ultrasound speckle and body habitus (deeper attenuation) on log-compressed B-mode images in [0, 1].

B-mode stores ``b = 1 + 20 log10(A / A_max) / DR`` (``DR`` the displayed dynamic range, dB), so the
echo amplitude is ``A = 10 ** ((b - 1) DR / 20)``. Speckle is the interference of many sub-resolution
scatterers: the received signal is a circular complex Gaussian field, its intensity exponential and
its amplitude Rayleigh distributed -- a *multiplicative* noise on ``A``. Averaging ``looks``
independent speckle patterns (spatial or frequency compounding) reduces the intensity contrast to
``1 / sqrt(looks)``. The speckle grain is the resolution cell: the complex field is correlated by a
Gaussian of ``grain_mm`` FWHM. After multiplying, the image is log-compressed again and clipped to
[0, 1]; pixels at 0 (no echo, outside the sector) stay 0. (Speckle also darkens log images on
average: -2.5 dB for one look, as on a real scanner.)

**Body habitus.** In a larger patient the echoes cross a thicker subcutaneous fat layer and travel
through more attenuating tissue than the time-gain compensation (TGC) assumes: the round-trip loss
``2 f (alpha_layer d + alpha_excess z)`` dB (frequency ``f``, layer thickness ``d``, depth ``z``)
darkens the image with depth, while the receiver's thermal noise stays where it was, so the noise
rises relative to the echoes -- the deep field of an obese patient fades into noise
(:func:`body_habitus_us`).

Reference: Wagner RF et al. (1983) Statistics of speckle in ultrasound B-scans. IEEE Trans Sonics
Ultrason 30:156-163; Szabo TL (2014) Diagnostic Ultrasound Imaging: Inside Out, 2nd ed., ch. 4 and 8
(attenuation: fat about 0.6 dB/cm/MHz, liver 0.5, fatty liver up to 0.8).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..metrics.mtf import FWHM_PER_SIGMA
from .noise import rician_noise

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


def body_habitus_us(image: np.ndarray, spacing: Sequence[float], layer_cm: float, rng: np.random.Generator, *,
                    frequency_mhz: float = 3.5, layer_db_cm_mhz: float = 0.6, excess_db_cm_mhz: float = 0.0,
                    noise_floor_db: float = -70.0, restore_gain: bool = True,
                    dynamic_range_db: float = DYNAMIC_RANGE_DB) -> np.ndarray:
    """A larger patient: TGC-uncompensated attenuation of the echoes, over a fixed receiver noise floor.

    Depth ``z`` runs down the rows (axis -2; row 0 at the transducer face). The echo amplitude
    ``A = 10 ** ((b - 1) DR / 20)`` of every pixel loses the round-trip attenuation the scanner's
    TGC does not compensate,

    ``loss(z) = 2 f (layer_db_cm_mhz * layer_cm + excess_db_cm_mhz * z)`` dB,

    through the extra subcutaneous layer (the same for every depth below it) and the tissue's extra
    attenuation beyond the TGC's model (growing with depth). The receiver then adds its thermal
    noise, a complex Gaussian of RMS amplitude ``10 ** (noise_floor_db / 20)`` relative to the
    largest echo (the detected envelope is Rician). With ``restore_gain`` the operator raises the
    overall gain by the layer's loss ``2 f layer_db_cm_mhz layer_cm`` (the brightness just below the
    layer is back, the noise rises by as much); the image is log-compressed again and clipped to
    [0, 1]. Pixels at 0 (no echo, outside the sector) stay 0. The echoes fade with depth and the
    noise relative to them grows by ``loss(z)`` dB.

    Parameters
    ----------
    image : array
        B-mode in [0, 1], depth along axis -2.
    spacing : sequence of float
        Pixel spacing, mm (the depth step is ``spacing[-2]``).
    layer_cm : float
        Extra subcutaneous (fat) layer thickness, cm (>= 0).
    rng : numpy.random.Generator
    frequency_mhz : float
        Transmit centre frequency, MHz (> 0; abdominal 2-5).
    layer_db_cm_mhz : float
        Attenuation coefficient of the layer, dB/cm/MHz (>= 0; fat about 0.6).
    excess_db_cm_mhz : float
        Attenuation of the tissue beyond what the TGC compensates, dB/cm/MHz (>= 0; fatty
        infiltration raises liver attenuation by 0.1-0.3).
    noise_floor_db : float
        RMS receiver noise relative to the largest echo amplitude, dB (< 0; -70: below the
        displayed range of a normal patient).
    restore_gain : bool
        Raise the overall gain by the layer's round-trip loss (what a sonographer does), amplifying
        the noise with the echoes; otherwise the whole image is darker by it.
    dynamic_range_db : float
        Displayed dynamic range ``DR`` of the log compression, dB (> 0).

    Returns
    -------
    array
        B-mode in [0, 1].
    """
    for key, val in (("layer_cm", layer_cm), ("layer_db_cm_mhz", layer_db_cm_mhz),
                     ("excess_db_cm_mhz", excess_db_cm_mhz)):
        if not np.isfinite(val) or val < 0:
            raise ParameterError(f"{key} must be >= 0, got {val}")
    if not frequency_mhz > 0:
        raise ParameterError(f"frequency_mhz must be > 0, got {frequency_mhz}")
    if not noise_floor_db < 0:
        raise ParameterError(f"noise_floor_db must be < 0 (dB relative to the largest echo), got {noise_floor_db}")
    if dynamic_range_db <= 0:
        raise ParameterError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
    b = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    depth_cm = np.arange(b.shape[-2]) * float(spacing[-2]) / 10.0
    loss_db = 2.0 * frequency_mhz * (layer_db_cm_mhz * layer_cm + excess_db_cm_mhz * depth_cm)
    amp = 10.0 ** (((b - 1.0) * dynamic_range_db - loss_db[:, None]) / 20.0)
    received = rician_noise(amp, 10.0 ** (noise_floor_db / 20.0) / np.sqrt(2.0), rng)  # RMS |noise| = floor
    gain_db = 2.0 * frequency_mhz * layer_db_cm_mhz * layer_cm if restore_gain else 0.0
    out = 1.0 + (20.0 * np.log10(np.maximum(received, 1e-12)) + gain_db) / dynamic_range_db
    return np.where(b > 0, np.clip(out, 0.0, 1.0), 0.0)

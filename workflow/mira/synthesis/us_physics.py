"""Ultrasound image formation in the (depth, beam angle) domain of a sector scan.

Echo formation follows the classic convolution model: random scatterers (zero-mean Gaussian
amplitudes scaled by the local echogenicity and by depth-dependent attenuation with time-gain
compensation) are convolved with a separable point-spread function, an axial Gaussian-modulated
cosine at the carrier (round-trip wavelength ``lambda / 2`` in depth) and a lateral Gaussian beam.
The envelope of the RF lines (Hilbert transform along depth) has a Rayleigh distribution in
homogeneous tissue (fully developed speckle); it is log-compressed to a dynamic range and scan
converted to a Cartesian image.

Reference: Jensen, J. A. (1991). A model for the propagation and scattering of ultrasound in tissue.
J. Acoust. Soc. Am. 89(1), 182-190.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

SOUND_SPEED_MM_US = 1.540  #: speed of sound, mm per microsecond


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1D Gaussian weights (sum 1) of standard deviation ``sigma`` samples."""
    half = max(int(np.ceil(truncate * sigma)), 1)
    t = np.arange(-half, half + 1, dtype=np.float64)
    w = np.exp(-0.5 * (t / max(sigma, 1e-6)) ** 2)
    return w / w.sum()


def axial_pulse(dr_mm: float, wavelength_mm: float, sigma_mm: float) -> np.ndarray:
    """Axial PSF sampled every ``dr_mm``: Gaussian envelope (``sigma_mm``) times a cosine whose period
    in depth is half the acoustic wavelength (round trip)."""
    half = int(np.ceil(4.0 * sigma_mm / dr_mm))
    t = np.arange(-half, half + 1) * dr_mm
    return np.exp(-0.5 * (t / sigma_mm) ** 2) * np.cos(4.0 * np.pi * t / wavelength_mm)


def rms_envelope(dr_mm: float, wavelength_mm: float, sigma_axial_mm: float, sigma_lateral_lines: float) -> float:
    """Expected RMS envelope for unit echogenicity: ``sqrt(2 * sum(h^2) * sum(g^2))``."""
    h = axial_pulse(dr_mm, wavelength_mm, sigma_axial_mm)
    g = gaussian_kernel(sigma_lateral_lines)
    return float(np.sqrt(2.0 * np.sum(h ** 2) * np.sum(g ** 2)))


def rf_lines(amplitude: np.ndarray, rng: np.random.Generator, *, dr_mm: float, wavelength_mm: float,
             sigma_axial_mm: float, sigma_lateral_lines: float, noise_rms: float = 0.0) -> np.ndarray:
    """Beamformed RF lines ``(n_depth, n_lines)`` from a scatterer-amplitude map of the same shape.

    Parameters
    ----------
    amplitude : ndarray
        Scatterer amplitude per sample (echogenicity times attenuation/TGC gain), >= 0.
    rng : numpy.random.Generator
        Draws the Gaussian scatterer strengths and the electronic noise.
    dr_mm : float
        Depth sampling step, mm (at least 4 samples per half wavelength).
    wavelength_mm : float
        Acoustic wavelength at the centre frequency, mm.
    sigma_axial_mm : float
        Gaussian envelope of the pulse along depth, mm.
    sigma_lateral_lines : float
        Gaussian beam width across lines, in lines.
    noise_rms : float
        RMS of additive electronic noise on the RF signal.
    """
    scat = rng.standard_normal(amplitude.shape).astype(np.float32) * amplitude.astype(np.float32)
    rf = ndi.correlate1d(scat, axial_pulse(dr_mm, wavelength_mm, sigma_axial_mm).astype(np.float32), axis=0,
                         mode="constant")
    rf = ndi.correlate1d(rf, gaussian_kernel(sigma_lateral_lines).astype(np.float32), axis=1, mode="nearest")
    if noise_rms > 0:
        rf += np.float32(noise_rms) * rng.standard_normal(rf.shape).astype(np.float32)
    return rf


def analytic_signal(rf: np.ndarray) -> np.ndarray:
    """Analytic signal along axis 0 (as ``scipy.signal.hilbert``): negative frequencies removed,
    positive ones doubled."""
    n = rf.shape[0]
    spec = np.fft.fft(rf, axis=0)
    h = np.zeros(n)
    h[0] = 1.0
    if n % 2 == 0:
        h[n // 2] = 1.0
        h[1:n // 2] = 2.0
    else:
        h[1:(n + 1) // 2] = 2.0
    return np.fft.ifft(spec * h.reshape((n,) + (1,) * (rf.ndim - 1)), axis=0)


def envelope(rf: np.ndarray) -> np.ndarray:
    """Envelope ``|rf + i hilbert(rf)|`` along depth (axis 0)."""
    return np.abs(analytic_signal(rf)).astype(np.float32)


def log_compress(env: np.ndarray, reference: float, dynamic_range_db: float, gain_db: float) -> np.ndarray:
    """B-mode in [0, 1]: ``(20 log10(env / reference) + gain_db) / dynamic_range_db``, clipped."""
    db = 20.0 * np.log10(np.maximum(env, 1e-12) / reference)
    return np.clip((db + gain_db) / dynamic_range_db, 0.0, 1.0).astype(np.float32)


def attenuation_gain(alpha_db_cm_mhz: np.ndarray, dr_mm: float, f0_mhz: float, tgc_db_cm_mhz: float) -> np.ndarray:
    """Amplitude factor along depth (axis 0): round-trip tissue attenuation, compensated by a TGC
    that assumes ``tgc_db_cm_mhz`` everywhere. Regions attenuating less (cysts) leave a brighter
    band behind them (posterior acoustic enhancement)."""
    path_cm = np.cumsum(alpha_db_cm_mhz, axis=0) * (dr_mm / 10.0)
    depth_cm = (np.arange(alpha_db_cm_mhz.shape[0]) + 0.5)[:, None] * (dr_mm / 10.0)
    db = 2.0 * f0_mhz * (tgc_db_cm_mhz * depth_cm - path_cm)
    return (10.0 ** (db / 20.0)).astype(np.float32)


def scan_convert(polar: np.ndarray, dr_mm: float, half_angle: float, size: int, spacing_mm: float,
                 radius_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Resample a ``(depth, angle)`` image onto a ``size x size`` Cartesian grid, apex at the top centre.

    Returns ``(image, inside, y_mm, x_mm)``: the image (0 outside the sector), the sector mask, and
    the depth / lateral coordinates (mm) of the pixel centres.
    """
    n_r, n_t = polar.shape
    y = ((np.arange(size) + 0.5) * spacing_mm)[:, None]
    x = ((np.arange(size) + 0.5 - size / 2.0) * spacing_mm)[None, :]
    r = np.hypot(y, x)
    th = np.arctan2(x, y)
    inside = (r <= radius_mm) & (np.abs(th) <= half_angle)
    ir = r / dr_mm - 0.5
    it = (th + half_angle) / (2 * half_angle / n_t) - 0.5
    img = ndi.map_coordinates(polar, [ir.ravel(), it.ravel()], order=1, mode="nearest").reshape(size, size)
    img = np.where(inside, img, 0.0).astype(np.float32)
    return img, inside, np.broadcast_to(y, (size, size)), np.broadcast_to(x, (size, size))

"""Noise models shared by the modalities: electronic (Gaussian), quantum (Poisson), MRI (Rician).

Every function takes an explicit :class:`numpy.random.Generator` and returns a new float64 array;
the input is never modified.
"""
from __future__ import annotations

import numpy as np
from scipy.special import i0e, i1e

from ..errors import ParameterError


def _check_nonneg(name: str, value: float) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ParameterError(f"{name} must be a finite number >= 0, got {value}")
    return v


def _check_pos(name: str, value: float) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value}")
    return v


def gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian (electronic) noise of standard deviation ``sigma`` (native units).

    Parameters
    ----------
    image : array
        Any shape, native units.
    sigma : float
        Noise standard deviation, same units as ``image`` (HU for CT); ``>= 0``.
    rng : numpy.random.Generator
        Source of randomness.
    """
    sigma = _check_nonneg("sigma", sigma)
    img = np.asarray(image, dtype=np.float64)
    return img + rng.normal(0.0, sigma, img.shape) if sigma > 0 else img.copy()


def poisson_counts(expected: np.ndarray, rng: np.random.Generator, electronic_sigma: float = 0.0) -> np.ndarray:
    """Detected counts: Poisson photon statistics on ``expected`` plus Gaussian electronic noise.

    Parameters
    ----------
    expected : array
        Expected photon counts per detector element (``>= 0``).
    electronic_sigma : float
        Standard deviation of the additive electronic noise, in photon counts (``>= 0``).

    Returns
    -------
    array of float
        Counts; the Poisson part has variance equal to its mean (the quantum-noise signature).
    """
    lam = np.asarray(expected, dtype=np.float64)
    if np.any(lam < 0) or not np.all(np.isfinite(lam)):
        raise ParameterError("expected photon counts must be finite and >= 0")
    electronic_sigma = _check_nonneg("electronic_sigma", electronic_sigma)
    counts = rng.poisson(lam).astype(np.float64)
    if electronic_sigma > 0:
        counts += rng.normal(0.0, electronic_sigma, lam.shape)
    return counts


def rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """MRI magnitude noise: ``|image + n_re + i n_im|`` with ``n ~ N(0, sigma^2)`` per channel.

    Complex white Gaussian noise in k-space is complex white Gaussian noise in the image (the
    orthonormal Fourier transform is unitary), so adding it to the real and imaginary channels of the
    image and taking the magnitude is the same model. The magnitude is Rician distributed: at high
    SNR it is nearly Gaussian, in the background (``image == 0``) it is Rayleigh with mean
    ``sigma * sqrt(pi / 2)`` -- the well-known positive bias (see :func:`rician_mean`).

    Parameters
    ----------
    image : array
        Noise-free magnitude (``>= 0``), a.u.
    sigma : float
        Noise standard deviation of each complex channel, a.u. (``>= 0``).
    """
    sigma = _check_nonneg("sigma", sigma)
    img = np.asarray(image, dtype=np.float64)
    if sigma == 0:
        return np.abs(img)
    re = img + rng.normal(0.0, sigma, img.shape)
    im = rng.normal(0.0, sigma, img.shape)
    return np.hypot(re, im)


def rician_mean(amplitude, sigma: float):
    """Expected magnitude of Rician noise on a true ``amplitude``: theory for :func:`rician_noise`.

    ``E[M] = sigma sqrt(pi/2) L_{1/2}(-A^2 / (2 sigma^2))`` with the Laguerre function
    ``L_{1/2}(x) = exp(x/2) [(1 - x) I0(-x/2) - x I1(-x/2)]`` (Gudbjartsson & Patz 1995, MRM 34:910).
    """
    sigma = _check_pos("sigma", sigma)
    a = np.asarray(amplitude, dtype=np.float64)
    x = -(a ** 2) / (2.0 * sigma ** 2)
    # exp(x/2) I_k(-x/2) == i_ke(-x/2) because x <= 0 (scaled Bessel functions avoid overflow)
    lag = (1.0 - x) * i0e(-x / 2.0) - x * i1e(-x / 2.0)
    return sigma * np.sqrt(np.pi / 2.0) * lag

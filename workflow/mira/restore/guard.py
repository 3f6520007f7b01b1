"""Noise-consistency guard for blind network denoisers: where a network disagrees with a classical
denoiser by more than the noise can explain, trust the classical one.

A denoiser trained on one kind of image can, on another, remove or invent image structure: a DnCNN
trained on flat-organ phantoms paints piecewise-constant tissue onto a real MR image and ends up
10-20 dB *below* the noisy input. A classical denoiser makes no such assumption about the anatomy.
Where the network is right, its output and a cheap classical estimate (BayesShrink wavelet
denoising with the modality's noise model, :func:`mira.restore.classical.denoise_wavelet_bayesshrink`)
differ by no more than about the noise level, the classical estimate's own error; where they differ
by much more, the network is off its training distribution (the discrepancy principle, Morozov 1966)::

    sigma  = MAD(diagonal Haar band(s) of x, whole image) / 0.6745     (Donoho & Johnstone 1994)
    D_loc  = sqrt(mean of (f(x) - w)^2 in a 16-pixel window)          (w: the classical estimate)
    c      = clip((FADE - D_loc / (limit * sigma)) / (FADE - 1), 0, 1) (1 up to limit * sigma, 0 from FADE x that)
    output = w + c * (f(x) - w)

So the output equals the network's where it agrees with the classical estimate to within ``limit``
noise standard deviations, the classical estimate where it disagrees by ``FADE * limit`` or more,
and a blend in between. The noise level is estimated from the finest diagonal wavelet band
(pixel-wise independent noise: MRI, X-ray, ultrasound speckle after log compression) or, for CT,
from the two finest (:data:`NOISE_LEVELS`: noise after filtered back-projection is correlated over a
few pixels). Images are in the network's working scale (window-normalised,
:func:`mira.restore.noise_models.window_normalise`). Measured effect: ``docs/benchmarks.md``.
"""
from __future__ import annotations

import numpy as np
import pywt
from scipy import ndimage as ndi

from ..errors import ParameterError

#: Default ``limit``: noise standard deviations (local RMS) the network may differ from the classical estimate.
DEFAULT_LIMIT = 1.0
#: Side of the window the local noise level and residual RMS are measured in, pixels.
DEFAULT_WINDOW = 16
#: The trust in the network falls linearly from 1 where it differs from the reference by ``limit`` noise
#: standard deviations to 0 where it differs by ``FADE * limit``.
FADE = 2.0
#: Wavelet levels whose diagonal bands estimate the noise, per modality (default 1: the finest band only).
#: CT noise after filtered back-projection is spatially correlated: the finest band alone underestimates it.
NOISE_LEVELS = {"ct": 2}
_MAD_TO_SIGMA = 1.0 / 0.6745


def noise_sigma(image: np.ndarray, levels: int = 1) -> float:
    """Noise standard deviation of a 2D image: the median absolute value of its diagonal Haar wavelet
    coefficients over the whole image, / 0.6745 (robust to sparse edges; Donoho & Johnstone 1994), the
    largest over the ``levels`` finest levels (1: pixel-wise independent noise; 2: noise correlated over
    a few pixels, whose power the finest band misses)."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 2:
        raise ParameterError(f"noise_sigma takes a 2D image of at least 2 x 2 pixels, got shape {x.shape}")
    depth = max(1, min(int(levels), pywt.dwtn_max_level(x.shape, "haar")))
    coeffs = pywt.wavedec2(x, "haar", mode="periodization", level=depth)
    return float(max(np.median(np.abs(c[2])) for c in coeffs[1:]) * _MAD_TO_SIGMA)


def guard_factor(noisy: np.ndarray, denoised: np.ndarray, limit: float = DEFAULT_LIMIT,
                 window: int = DEFAULT_WINDOW, reference: np.ndarray | None = None, levels: int = 1) -> np.ndarray:
    """Per-pixel trust ``c`` in 0..1 of the network output ``denoised`` against ``reference`` (module
    docstring: 1 where their local RMS difference is at most ``limit`` noise standard deviations of
    ``noisy``, 0 from ``FADE`` times that); without ``reference`` the noisy image is the reference."""
    if not np.isfinite(limit) or limit <= 0:
        raise ParameterError(f"guard limit must be a positive number of noise standard deviations, got {limit}")
    x, y = np.asarray(noisy, dtype=np.float64), np.asarray(denoised, dtype=np.float64)
    ref = x if reference is None else np.asarray(reference, dtype=np.float64)
    if x.shape != y.shape or ref.shape != x.shape:
        raise ParameterError(f"guard: noisy {x.shape}, denoised {y.shape} and reference {ref.shape} differ in shape")
    r = ref - y
    rms = np.sqrt(ndi.uniform_filter(r * r, size=int(window), mode="reflect"))
    allowed = float(limit) * noise_sigma(x, levels)
    if allowed <= 0:
        return np.where(rms > 0, 0.0, 1.0)
    return np.clip((FADE - rms / allowed) / (FADE - 1.0), 0.0, 1.0)


def guard_residual(noisy: np.ndarray, denoised: np.ndarray, reference: np.ndarray, limit: float | None = DEFAULT_LIMIT,
                   window: int = DEFAULT_WINDOW, levels: int = 1) -> np.ndarray:
    """``reference + c * (denoised - reference)``: the network output, pulled towards a classical reference
    denoiser's output where the two disagree by more than ``limit`` noise standard deviations of
    ``noisy`` (module docstring). ``limit=None`` returns ``denoised`` unchanged (guard off).
    """
    d = np.asarray(denoised, dtype=np.float64)
    if limit is None:
        return d
    ref = np.asarray(reference, dtype=np.float64)
    c = guard_factor(noisy, d, limit, window, reference=ref, levels=levels)
    return ref + c * (d - ref)


__all__ = ["DEFAULT_LIMIT", "DEFAULT_WINDOW", "FADE", "NOISE_LEVELS", "guard_factor", "guard_residual",
           "noise_sigma"]

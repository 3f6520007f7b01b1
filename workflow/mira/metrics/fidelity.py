"""Fidelity against a clean reference, through scikit-image, with the modality's fixed data range.

PSNR and SSIM use ``profile.metric_window``: both images are clipped to the window and
``data_range = hi - lo`` (2000 HU for CT's default window -1000..1000), never the image's own
min/max and never 255. Every method is thus scored on the same scale and the same pixels.
"""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..errors import ParameterError
from ..modalities import get_profile


def _prepare(reference: np.ndarray, test: np.ndarray, modality: str, mask: np.ndarray | None):
    if reference.shape != test.shape:
        raise ParameterError(f"shape mismatch: reference {reference.shape} vs test {test.shape}")
    lo, hi = get_profile(modality).metric_window
    ref = np.clip(reference.astype(np.float64), lo, hi)
    tst = np.clip(test.astype(np.float64), lo, hi)
    if mask is not None and mask.shape != reference.shape:
        raise ParameterError(f"mask shape {mask.shape} != image shape {reference.shape}")
    return ref, tst, float(hi - lo)


def psnr(reference: np.ndarray, test: np.ndarray, modality: str, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB over the modality's fixed window (optionally within ``mask``)."""
    ref, tst, rng = _prepare(reference, test, modality, mask)
    if mask is not None:
        ref, tst = ref[mask.astype(bool)], tst[mask.astype(bool)]
    if np.array_equal(ref, tst):
        return float("inf")
    return float(peak_signal_noise_ratio(ref, tst, data_range=rng))


def ssim(reference: np.ndarray, test: np.ndarray, modality: str) -> float:
    """Structural similarity (scikit-image, Gaussian weights as in Wang et al. 2004) over the fixed window."""
    ref, tst, rng = _prepare(reference, test, modality, None)
    win = min(7, *(s if s % 2 else s - 1 for s in ref.shape))
    return float(structural_similarity(ref, tst, data_range=rng, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, win_size=None if win >= 7 else max(3, win)))


def mae(reference: np.ndarray, test: np.ndarray, modality: str, mask: np.ndarray | None = None) -> float:
    """Mean absolute error in native units (HU for CT), after clipping both to the fixed window."""
    ref, tst, _ = _prepare(reference, test, modality, mask)
    diff = np.abs(ref - tst)
    return float(diff[mask.astype(bool)].mean() if mask is not None else diff.mean())

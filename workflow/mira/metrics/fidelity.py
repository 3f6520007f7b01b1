"""Fidelity against a clean reference, through scikit-image, with the modality's fixed data range.

PSNR and SSIM use ``profile.metric_window``: both images are clipped to the window and
``data_range = hi - lo`` (2000 HU for CT's default window -1000..1000), never the image's own
min/max and never 255. Every method is thus scored on the same scale and the same pixels.
"""
from __future__ import annotations

import numpy as np

# scikit-image loads its submodules on first attribute access (lazy_loader): a job that imports this
# module without calling psnr or ssim does not pay for scipy.stats (~1 s).
import skimage.metrics

from ..errors import ParameterError
from ..modalities import ModalityProfile, require_profile


def _prepare(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile, mask: np.ndarray | None):
    lo, hi = require_profile(profile, "metrics").metric_window
    if reference.shape != test.shape:
        raise ParameterError(f"shape mismatch: reference {reference.shape} vs test {test.shape}")
    ref = np.clip(reference.astype(np.float64), lo, hi)
    tst = np.clip(test.astype(np.float64), lo, hi)
    if mask is not None and mask.shape != reference.shape:
        raise ParameterError(f"mask shape {mask.shape} != image shape {reference.shape}")
    return ref, tst, float(hi - lo)


def psnr(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile,
         mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB over ``profile.metric_window`` (optionally within ``mask``).

    Parameters
    ----------
    reference, test : array
        Images of equal shape in the modality's native units (HU for CT).
    profile : ModalityProfile
        The resolved modality profile (with the config's overrides); both images are clipped to its
        ``metric_window`` and ``data_range = hi - lo``.
    mask : array of bool, optional
        Restrict the error to these pixels.

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical (windowed) images.
    """
    ref, tst, rng = _prepare(reference, test, profile, mask)
    if mask is not None:
        ref, tst = ref[mask.astype(bool)], tst[mask.astype(bool)]
    if np.array_equal(ref, tst):
        return float("inf")
    return float(skimage.metrics.peak_signal_noise_ratio(ref, tst, data_range=rng))


def ssim(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile) -> float:
    """Structural similarity (scikit-image, Gaussian weights as in Wang et al. 2004) over ``profile.metric_window``."""
    ref, tst, rng = _prepare(reference, test, profile, None)
    win = min(7, *(s if s % 2 else s - 1 for s in ref.shape))
    return float(skimage.metrics.structural_similarity(ref, tst, data_range=rng, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, win_size=None if win >= 7 else max(3, win)))


def mae(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile, mask: np.ndarray | None = None) -> float:
    """Mean absolute error in native units (HU for CT), after clipping both to ``profile.metric_window``."""
    ref, tst, _ = _prepare(reference, test, profile, mask)
    diff = np.abs(ref - tst)
    return float(diff[mask.astype(bool)].mean() if mask is not None else diff.mean())

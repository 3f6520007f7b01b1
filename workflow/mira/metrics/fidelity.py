"""Fidelity against a clean reference, through scikit-image, with the modality's fixed data range.

PSNR and SSIM use ``profile.metric_window``: both images are clipped to the window and
``data_range = hi - lo`` (2000 HU for CT's default window -1000..1000), never the image's own
min/max and never 255. Every method is thus scored on the same scale and the same pixels.

The window leaves out what lies beyond it (for CT above +1000 HU: dense bone, metal): a method that
flattens bone scores perfectly there. The full-range figures sit beside them: :func:`psnr_full_range`
and :func:`mae_full_range` compare the images unclipped, with ``data_range`` the width of the
profile's physical ``value_range`` (4095 HU for CT; 1 for X-ray and ultrasound, where it is the
window), and :func:`mae_above_window` is the error on the reference's pixels above the window top
alone (CT bone and metal).
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


def _unclipped(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 (within ``mask`` if given), unclipped; shapes checked."""
    if reference.shape != test.shape:
        raise ParameterError(f"shape mismatch: reference {reference.shape} vs test {test.shape}")
    ref, tst = np.asarray(reference, dtype=np.float64), np.asarray(test, dtype=np.float64)
    if mask is None:
        return ref, tst
    if mask.shape != reference.shape:
        raise ParameterError(f"mask shape {mask.shape} != image shape {reference.shape}")
    m = np.asarray(mask, dtype=bool)
    return ref[m], tst[m]


def full_data_range(profile: ModalityProfile, reference: np.ndarray | None = None) -> float:
    """Width of ``profile.value_range``: the ``data_range`` of :func:`psnr_full_range`, in native units.

    An unbounded end (MRI's ``[0, inf)``) is replaced by the farther of the window's edge and the
    reference's own extreme value, so the range always covers the window and the reference.

    Parameters
    ----------
    profile : ModalityProfile
        The resolved modality profile (CT: ``[-1024, 3071]`` HU, width 4095 HU).
    reference : array, optional
        The reference image; required only when ``value_range`` has an infinite end.

    Returns
    -------
    float
        The data range, > 0 (HU for CT).
    """
    prof = require_profile(profile, "metrics")
    lo, hi = (float(v) for v in prof.value_range)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        if reference is None or reference.size == 0:
            raise ParameterError(f"{prof.name}: value_range {prof.value_range} is unbounded; pass the reference "
                                 "image to bound the full data range")
        lo = lo if np.isfinite(lo) else min(float(prof.metric_window[0]), float(np.min(reference)))
        hi = hi if np.isfinite(hi) else max(float(prof.metric_window[1]), float(np.max(reference)))
    if not hi > lo:
        raise ParameterError(f"{prof.name}: value_range {prof.value_range} has no width")
    return hi - lo


def psnr_full_range(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile,
                    mask: np.ndarray | None = None) -> float:
    """PSNR in dB over the whole physical range: no clipping, ``data_range`` = :func:`full_data_range`.

    Parameters
    ----------
    reference, test : array
        Images of equal shape in native units (HU for CT).
    profile : ModalityProfile
        The resolved modality profile: ``data_range`` is the width of its ``value_range`` (4095 HU for
        CT; 1 for X-ray and ultrasound, where it equals :func:`psnr`; for MRI's unbounded range the
        reference's maximum or the window top, whichever is larger).
    mask : array of bool, optional
        Restrict the error to these pixels.

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical images. Damage outside the metric window (bone, metal)
        lowers it where :func:`psnr` does not see it.
    """
    ref, tst = _unclipped(reference, test, mask)
    rng = full_data_range(profile, reference)
    if np.array_equal(ref, tst):
        return float("inf")
    return float(skimage.metrics.peak_signal_noise_ratio(ref, tst, data_range=rng))


def mae_full_range(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile,
                   mask: np.ndarray | None = None) -> float:
    """Mean absolute error in native units (HU for CT) over the whole image, without the window clip.

    Parameters
    ----------
    reference, test : array
        Images of equal shape in native units.
    profile : ModalityProfile
        The resolved modality profile (checked; the error is not clipped to anything).
    mask : array of bool, optional
        Restrict the error to these pixels.

    Returns
    -------
    float
        MAE >= 0 in native units; 0 for identical images.
    """
    require_profile(profile, "metrics")
    ref, tst = _unclipped(reference, test, mask)
    return float(np.abs(ref - tst).mean())


def mae_above_window(reference: np.ndarray, test: np.ndarray, profile: ModalityProfile) -> float:
    """Mean absolute error in native units on the reference's pixels above the metric window's top.

    For CT (window -1000..1000 HU by default) these are dense bone and metal: a method that flattens
    them keeps :func:`psnr` and :func:`ssim` perfect, but not this error.

    Parameters
    ----------
    reference, test : array
        Images of equal shape in native units (HU for CT).
    profile : ModalityProfile
        The resolved modality profile; pixels with ``reference > metric_window[1]`` are scored,
        unclipped.

    Returns
    -------
    float
        MAE >= 0 in native units; ``nan`` when no reference pixel lies above the window (X-ray and
        ultrasound, whose window is their whole range; a CT slice without dense bone).
    """
    hi = float(require_profile(profile, "metrics").metric_window[1])
    if reference.shape != test.shape:
        raise ParameterError(f"shape mismatch: reference {reference.shape} vs test {test.shape}")
    above = np.asarray(reference) > hi
    if not above.any():
        return float("nan")
    return mae_full_range(reference, test, profile, mask=above)

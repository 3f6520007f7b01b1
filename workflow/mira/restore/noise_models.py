"""Noise-model-aware handling around the denoisers: one *noise domain* per modality.

The classical denoisers (and BM3D) assume additive, signal-independent white Gaussian noise of one
standard deviation ``sigma``. Each modality's stored images are first mapped into a domain where
that assumption holds as well as it can, denoised there, and mapped back:

=========  ===============================================  ==================================================
modality   forward (stored -> working domain)               inverse (working domain -> stored)
=========  ===============================================  ==================================================
``ct``     HU window normalisation ``u = (HU - lo) / (hi -  ``HU = u (hi - lo) + lo``: exact round trip, values
           lo)`` with the profile's metric window             outside the window are kept (no clipping on the way)
           (-1000..1000 HU -> 0..1)
``mri``    magnitude / window (0..1 -> 0..1)                 **Rician bias correction**: the denoised magnitude
                                                            estimates ``E[M] = sigma sqrt(pi/2) L_1/2(-A^2/2
                                                            sigma^2)``; it is inverted for the true amplitude
                                                            ``A`` (0 where ``E[M] <= sigma sqrt(pi/2)``, the
                                                            Rayleigh background level)
``us``     identity: B-mode is stored **log-compressed**, so  **log-speckle bias correction**: the mean of
           multiplicative speckle is already additive and    ``10 log10(F)`` for unit-mean speckle intensity
           signal-independent there                          averaged over ``L`` looks, ``10/ln10 (psi(L) -
                                                            ln L)`` dB (-2.5 dB for one look), is added back,
                                                            with ``L`` solved from the measured log-domain
                                                            sigma (``std = 10/ln10 sqrt(psi'(L))`` dB); pixels
                                                            outside the scan sector are set back to 0
``xray``   window normalisation (0..1, identity)             identity (quantum noise is treated as Gaussian
                                                            with the image-wide sigma)
=========  ===============================================  ==================================================

The noise level ``sigma`` is the median-absolute-deviation estimate of the finest diagonal wavelet
band (:func:`skimage.restoration.estimate_sigma`, Donoho & Johnstone 1994), measured in the
working domain (inside the scan sector for ultrasound) unless the caller gives it.

References
----------
Gudbjartsson H, Patz S (1995) The Rician distribution of noisy MRI data. Magn Reson Med 34:910-914.
Wagner RF et al. (1983) Statistics of speckle in ultrasound B-scans. IEEE Trans Sonics Ultrason 30:156-163.
Donoho DL, Johnstone IM (1994) Ideal spatial adaptation by wavelet shrinkage. Biometrika 81:425-455.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import brentq
from scipy.special import digamma, polygamma

from ..errors import ParameterError
from ..modalities import ModalityProfile, require_profile

#: Displayed dynamic range of stored ultrasound B-mode, dB (the degradation stage's convention).
US_DYNAMIC_RANGE_DB = 60.0
_DB = 10.0 / np.log(10.0)  # 10 log10(x) = _DB * ln(x)


# ---- CT / generic window normalisation ------------------------------------------------------------


def window_normalise(image: np.ndarray, profile: ModalityProfile) -> np.ndarray:
    """Map native units to the working scale ``(x - lo) / (hi - lo)`` of ``profile.metric_window``.

    For CT the window is -1000..1000 HU, so air is 0 and +1000 HU is 1; bone and metal above the
    window map above 1 and are *not* clipped, so :func:`window_denormalise` restores them exactly.
    """
    lo, hi = require_profile(profile, "window_normalise").metric_window
    return (np.asarray(image, dtype=np.float64) - lo) / (hi - lo)


def window_denormalise(unit: np.ndarray, profile: ModalityProfile) -> np.ndarray:
    """Inverse of :func:`window_normalise` (working scale back to native units, e.g. HU)."""
    lo, hi = require_profile(profile, "window_denormalise").metric_window
    return np.asarray(unit, dtype=np.float64) * (hi - lo) + lo


# ---- noise level -------------------------------------------------------------------------------------


def estimate_noise_sigma(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Noise standard deviation from the finest diagonal wavelet band (MAD / 0.6745).

    Without ``mask`` this is :func:`skimage.restoration.estimate_sigma` (3D images: the estimate of
    the middle slice's neighbourhood is replaced by the mean over slices). With ``mask`` only the
    detail coefficients whose 2x2 support lies inside the (eroded) mask are used, so the zero region
    outside an ultrasound sector does not pull the median to 0.
    """
    from skimage.restoration import estimate_sigma

    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        return float(np.mean([estimate_noise_sigma(s, None if mask is None else mask[i]) for i, s in enumerate(img)]))
    if mask is None:
        return float(estimate_sigma(img))
    import pywt

    m = np.asarray(mask, dtype=bool)
    if m.shape != img.shape:
        raise ParameterError(f"mask shape {m.shape} != image shape {img.shape}")
    _, (_, _, diag) = pywt.dwt2(img, "db2", mode="periodization")
    inside = ndi.binary_erosion(m, iterations=3)[::2, ::2][: diag.shape[0], : diag.shape[1]]
    coeffs = diag[inside] if inside.sum() >= 16 else diag.ravel()
    return float(np.median(np.abs(coeffs)) / 0.6745)


# ---- MRI: Rician bias correction -------------------------------------------------------------------

_RICE_A = np.concatenate([np.linspace(0.0, 8.0, 801), np.linspace(8.02, 60.0, 2600)])


def _rice_table() -> np.ndarray:
    from ..degrade.noise import rician_mean

    return rician_mean(_RICE_A, 1.0)


_RICE_M: np.ndarray | None = None


def rician_bias_correct(mean_magnitude: np.ndarray, sigma: float) -> np.ndarray:
    """True amplitude ``A`` whose Rician mean magnitude is ``mean_magnitude`` (noise ``sigma`` per channel).

    Inverts ``E[M](A) = sigma sqrt(pi/2) L_1/2(-A^2 / (2 sigma^2))`` (Gudbjartsson & Patz 1995) by
    interpolation on a dense table of ``A / sigma``; below the background level ``sigma sqrt(pi/2)``
    the amplitude is 0, above ``A = 60 sigma`` the asymptote ``A = sqrt(E[M]^2 - sigma^2)`` is used.

    Parameters
    ----------
    mean_magnitude : array
        A denoised magnitude image (an estimate of the local mean of the Rician data), a.u.
    sigma : float
        Noise standard deviation of each complex channel, a.u. (0 returns the input).
    """
    global _RICE_M
    m = np.asarray(mean_magnitude, dtype=np.float64)
    if sigma < 0 or not np.isfinite(sigma):
        raise ParameterError(f"sigma must be a finite number >= 0, got {sigma}")
    if sigma == 0:
        return m.copy()
    if _RICE_M is None:
        _RICE_M = _rice_table()
    r = np.maximum(m, 0.0) / sigma
    a = np.interp(r, _RICE_M, _RICE_A, left=0.0)
    high = r > _RICE_M[-1]
    a[high] = np.sqrt(r[high] ** 2 - 1.0)
    return a * sigma


# ---- ultrasound: log-domain speckle ---------------------------------------------------------------


def log_speckle_std_db(looks: float) -> float:
    """Standard deviation (dB) of ``10 log10(F)``, ``F`` unit-mean speckle intensity averaged over ``looks``."""
    return float(_DB * np.sqrt(polygamma(1, looks)))


def log_speckle_mean_db(looks: float) -> float:
    """Mean (dB) of ``10 log10(F)``: ``10/ln10 (psi(L) - ln L)`` (-2.51 dB for one look, -> 0 for many)."""
    return float(_DB * (digamma(looks) - np.log(looks)))


def looks_from_sigma(sigma_bmode: float, dynamic_range_db: float = US_DYNAMIC_RANGE_DB) -> float:
    """Equivalent number of looks whose log-speckle standard deviation is ``sigma_bmode`` (B-mode units).

    Returns 1 for a sigma at or above that of fully developed single-look speckle, ``inf`` for 0.
    """
    s_db = float(sigma_bmode) * float(dynamic_range_db)
    if s_db <= 0:
        return float("inf")
    if s_db >= log_speckle_std_db(1.0):
        return 1.0
    hi = 1e6
    if s_db <= log_speckle_std_db(hi):
        return hi
    return float(brentq(lambda L: log_speckle_std_db(L) - s_db, 1.0, hi))


def sector_mask(image: np.ndarray) -> np.ndarray:
    """Pixels inside the ultrasound scan sector: non-zero echo, gaps closed, holes filled."""
    img = np.asarray(image)
    fg = img > 0
    if img.ndim == 3:
        return np.stack([sector_mask(s) for s in img])
    closed = ndi.binary_closing(fg, structure=np.ones((3, 3), bool), iterations=2, border_value=0)
    return ndi.binary_fill_holes(closed | fg)


# ---- the domain object --------------------------------------------------------------------------


@dataclass
class NoiseDomain:
    """Forward/inverse mapping of one image into the denoisers' working domain.

    Create it with :func:`noise_domain`; ``forward`` returns the working-domain image, ``inverse``
    maps a denoised working-domain image back to native units (with the modality's bias correction).
    ``sigma`` (working units) is the noise level the denoiser should assume. ``profile`` is the
    resolved modality profile: its ``metric_window`` defines the working scale.
    """

    profile: ModalityProfile
    noise_model: bool = True
    sigma: float = 0.0
    mask: np.ndarray | None = field(default=None, repr=False)
    looks: float = float("inf")

    @property
    def modality(self) -> str:
        """Name of the modality (``profile.name``)."""
        return self.profile.name

    def forward(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Map ``image`` (native units) to the working domain and set :attr:`sigma`.

        ``sigma`` (native units) overrides the estimate.
        """
        u = window_normalise(image, self.profile)
        lo, hi = self.profile.metric_window
        if self.modality == "us" and self.noise_model:
            self.mask = sector_mask(image)
        if sigma is not None:
            if not np.isfinite(sigma) or sigma < 0:
                raise ParameterError(f"sigma must be a finite number >= 0 (native units), got {sigma}")
            self.sigma = float(sigma) / (hi - lo)
        else:
            self.sigma = estimate_noise_sigma(u, self.mask)
        if self.modality == "us" and self.noise_model:
            self.looks = looks_from_sigma(self.sigma)
        return u

    def inverse(self, unit: np.ndarray) -> np.ndarray:
        """Map a denoised working-domain image back to native units, clipped to the physical range."""
        v = np.asarray(unit, dtype=np.float64)
        prof = self.profile
        if self.noise_model and self.modality == "mri":
            lo, hi = prof.metric_window
            v = rician_bias_correct(v * (hi - lo), self.sigma * (hi - lo)) / (hi - lo)
        if self.noise_model and self.modality == "us":
            if np.isfinite(self.looks):
                v = v - log_speckle_mean_db(self.looks) / US_DYNAMIC_RANGE_DB
            if self.mask is not None:
                v = np.where(self.mask, v, 0.0)
        return prof.clip(window_denormalise(v, prof))


def noise_domain(profile: ModalityProfile, noise_model: bool = True) -> NoiseDomain:
    """A fresh :class:`NoiseDomain` for ``profile`` (``noise_model=False``: plain window normalisation)."""
    return NoiseDomain(profile=require_profile(profile, "noise_domain"), noise_model=bool(noise_model))

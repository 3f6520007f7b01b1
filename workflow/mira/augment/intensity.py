"""Intensity transforms in native units: contrast, brightness, gamma, noise, blur.

Each has a pure function on arrays (``adjust_contrast``, ``adjust_brightness``, ``adjust_gamma``,
``add_noise``, ``gaussian_blur``) and a random transform class whose ranges default to, and are
bounded by, the modality profile (CT: contrast 0.8-1.2, brightness +-30 HU, noise sigma 10-20 HU;
MRI: contrast 0.7-1.0; X-ray: contrast 0.9-1.1). Results are clipped to the profile's
``value_range`` (CT stays within [-1024, 3071] HU, MRI >= 0, X-ray and ultrasound within [0, 1]).
Extra sequences (MRI) get the same drawn parameters; noise is drawn independently per sequence.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .base import Transform, bounded_range, clip_to, symmetric_range, value_range_param
from .sample import Sample
from .spatial.sector import sector_mask

# ------------------------------------------------------------------------------------------------
# pure functions


def adjust_contrast(image: np.ndarray, factor: float, mean: float | None = None) -> np.ndarray:
    """Scale deviations from the mean: ``(x - mean) * factor + mean`` (mean of the image by default)."""
    if factor < 0 or not np.isfinite(factor):
        raise ParameterError(f"contrast factor must be >= 0, got {factor}")
    x = np.asarray(image, dtype=np.float32)
    m = np.float32(x.mean(dtype=np.float64) if mean is None else mean)
    return ((x - m) * np.float32(factor) + m).astype(np.float32)


def adjust_brightness(image: np.ndarray, offset: float) -> np.ndarray:
    """Add ``offset`` (native units: HU for CT)."""
    return (np.asarray(image, dtype=np.float32) + np.float32(offset)).astype(np.float32)


def adjust_gamma(image: np.ndarray, gamma: float, window: Sequence[float]) -> np.ndarray:
    """Gamma on the window mapped to 0..1: ``lo + (hi - lo) * sign(t) |t|^gamma``, ``t = (x - lo)/(hi - lo)``.

    ``window`` is the modality's ``metric_window`` (CT -1000..1000 HU), so air and water stay
    anchored and only the grey-level curve between them bends.
    """
    if gamma <= 0 or not np.isfinite(gamma):
        raise ParameterError(f"gamma must be > 0, got {gamma}")
    lo, hi = float(window[0]), float(window[1])
    if hi <= lo:
        raise ParameterError(f"gamma window {window} must have hi > lo")
    t = (np.asarray(image, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return (np.float32(lo) + np.float32(hi - lo) * np.sign(t) * np.abs(t) ** np.float32(gamma)).astype(np.float32)


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator, kind: str = "gaussian") -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``sigma`` (native units), or Rician for magnitude MRI.

    ``kind="rician"`` returns ``|x + n_re + i n_im|`` with both components ``N(0, sigma^2)``, the
    noise of a magnitude MR image, which stays >= 0.
    """
    if sigma < 0 or not np.isfinite(sigma):
        raise ParameterError(f"noise sigma must be >= 0, got {sigma}")
    x = np.asarray(image, dtype=np.float32)
    s = np.float32(sigma)
    if kind == "gaussian":
        return x + s * rng.standard_normal(x.shape, dtype=np.float32)
    if kind == "rician":
        re = x + s * rng.standard_normal(x.shape, dtype=np.float32)
        im = s * rng.standard_normal(x.shape, dtype=np.float32)
        return np.sqrt(re * re + im * im)
    raise ParameterError(f"noise kind must be 'gaussian' or 'rician', got {kind!r}")


def gaussian_blur(image: np.ndarray, sigma_mm: float | Sequence[float], spacing: Sequence[float]) -> np.ndarray:
    """Gaussian blur with ``sigma_mm`` in mm (converted per axis with ``spacing``)."""
    x = np.asarray(image, dtype=np.float32)
    sig = np.broadcast_to(np.asarray(sigma_mm, dtype=np.float64), (x.ndim,))
    if np.any(sig < 0) or not np.all(np.isfinite(sig)):
        raise ParameterError(f"blur sigma must be >= 0 mm, got {sigma_mm}")
    px = sig / np.asarray(spacing, dtype=np.float64)
    if not np.any(px > 0):
        return x.copy()
    return ndi.gaussian_filter(x, px, mode="nearest").astype(np.float32)


# ------------------------------------------------------------------------------------------------
# transforms


class IntensityTransform(Transform):
    """Base of transforms that change values but not positions (label maps untouched)."""

    family = "intensity"

    @classmethod
    def apply_array(cls, array: np.ndarray, params: dict, index: int, sample: Sample) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def apply(cls, sample: Sample, params: dict) -> Sample:
        vr = params.get("value_range")
        channels = {name: clip_to(cls.apply_array(arr, params, i, sample), vr)
                    for i, (name, arr) in enumerate(sample.channels().items())}
        fov = params.get("keep_field_of_view")
        if fov is not None:  # ultrasound: nothing changes outside the scan sector
            inside = sector_mask(sample.shape, sample.spacing, fov)
            channels = {k: np.where(inside, v, sample.channels()[k]).astype(np.float32) for k, v in channels.items()}
        return sample.with_channels(channels)

    def draw(self, sample: Sample, rng: np.random.Generator) -> dict[str, Any] | None:
        params = super().draw(sample, rng)
        if params is not None and sample.modality == "us" and sample.meta.get("sector") is not None:
            params["keep_field_of_view"] = dict(sample.meta["sector"])
        return params


def _base_params(profile: ModalityProfile) -> dict[str, Any]:
    return {"value_range": value_range_param(profile)}


class RandomContrast(IntensityTransform):
    """Contrast about the image mean, factor drawn from ``factor_range`` (default/limit ``profile.contrast_range``)."""

    def __init__(self, factor_range=None, *, p: float = 1.0, modality=None):
        self.factor_range = factor_range
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        return bounded_range(self.factor_range, profile.contrast_range, "factor_range", profile, "contrast_range")

    def sample_params(self, sample, rng, ranges, profile):
        return {"factor": rng.uniform(*ranges), **_base_params(profile)}

    @classmethod
    def apply_array(cls, array, params, index, sample):
        return adjust_contrast(array, params["factor"])


class RandomBrightness(IntensityTransform):
    """Brightness offset in native units (HU for CT); default/limit ``+-profile.brightness_max``."""

    def __init__(self, max_offset=None, *, p: float = 1.0, modality=None):
        self.max_offset = max_offset
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        return symmetric_range(self.max_offset, profile.brightness_max, "max_offset", profile, "brightness_max")

    def sample_params(self, sample, rng, ranges, profile):
        return {"offset": rng.uniform(*ranges), **_base_params(profile)}

    @classmethod
    def apply_array(cls, array, params, index, sample):
        return adjust_brightness(array, params["offset"])


class RandomGamma(IntensityTransform):
    """Gamma on the modality window (see :func:`adjust_gamma`); default/limit ``profile.gamma_range``."""

    def __init__(self, gamma_range=None, *, p: float = 1.0, modality=None):
        self.gamma_range = gamma_range
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        return bounded_range(self.gamma_range, profile.gamma_range, "gamma_range", profile, "gamma_range")

    def sample_params(self, sample, rng, ranges, profile):
        lo, hi = ranges
        # log-uniform, so gamma and 1/gamma are equally likely
        gamma = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        return {"gamma": gamma, "window": list(profile.metric_window), **_base_params(profile)}

    @classmethod
    def apply_array(cls, array, params, index, sample):
        return adjust_gamma(array, params["gamma"], params["window"])


class RandomNoise(IntensityTransform):
    """Additive noise, sigma in native units from ``sigma_range`` (default/limit ``profile.noise_sigma_range``).

    Gaussian for CT, X-ray and ultrasound; Rician (magnitude of complex Gaussian noise) for MRI,
    which keeps magnitudes >= 0 without clipping. The noise is generated from a recorded ``seed``.
    """

    def __init__(self, sigma_range=None, *, kind: str | None = None, p: float = 1.0, modality=None):
        if kind not in (None, "gaussian", "rician"):
            raise ParameterError(f"noise kind must be 'gaussian' or 'rician', got {kind!r}")
        if sigma_range is not None:
            vals = np.atleast_1d(np.asarray(sigma_range, dtype=float))
            if np.any(vals < 0) or not np.all(np.isfinite(vals)):
                raise ParameterError(f"noise sigma_range={sigma_range} must be >= 0")
        self.sigma_range, self.kind = sigma_range, kind
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        return bounded_range(self.sigma_range, profile.noise_sigma_range, "sigma_range", profile, "noise_sigma_range")

    def sample_params(self, sample, rng, ranges, profile):
        kind = self.kind or ("rician" if profile.name == "mri" else "gaussian")
        return {"sigma": rng.uniform(*ranges), "kind": kind, "seed": int(rng.integers(0, 2 ** 63 - 1)),
                **_base_params(profile)}

    @classmethod
    def apply_array(cls, array, params, index, sample):
        rng = np.random.default_rng([int(params["seed"]), index])
        return add_noise(array, params["sigma"], rng, params.get("kind", "gaussian"))


class RandomBlur(IntensityTransform):
    """Gaussian blur, sigma in mm from ``sigma_mm_range`` (default/limit ``profile.blur_sigma_mm_range``)."""

    def __init__(self, sigma_mm_range=None, *, p: float = 1.0, modality=None):
        if sigma_mm_range is not None:
            vals = np.atleast_1d(np.asarray(sigma_mm_range, dtype=float))
            if np.any(vals < 0) or not np.all(np.isfinite(vals)):
                raise ParameterError(f"blur sigma_mm_range={sigma_mm_range} must be >= 0")
        self.sigma_mm_range = sigma_mm_range
        super().__init__(p=p, modality=modality)

    def resolve(self, profile):
        return bounded_range(self.sigma_mm_range, profile.blur_sigma_mm_range, "sigma_mm_range", profile,
                             "blur_sigma_mm_range")

    def sample_params(self, sample, rng, ranges, profile):
        return {"sigma_mm": rng.uniform(*ranges), **_base_params(profile)}

    @classmethod
    def apply_array(cls, array, params, index, sample):
        return gaussian_blur(array, params["sigma_mm"], sample.spacing)


__all__ = [
    "adjust_contrast", "adjust_brightness", "adjust_gamma", "add_noise", "gaussian_blur", "IntensityTransform",
    "RandomContrast", "RandomBrightness", "RandomGamma", "RandomNoise", "RandomBlur",
]

"""Appearance randomisation of clean training images, applied before the synthetic degradation.

A restoration network trained on phantoms alone learns the phantoms' look (flat organs at one pixel
size) and imposes it on real images. :func:`randomise_appearance` varies what does *not* define the
noise or blur model, on the clean image in native units, so the network cannot rely on it:

1. **anatomy scale** -- an in-plane zoom by a factor drawn log-uniformly from ``zoom`` (default
   0.5..2, so 3 mm phantom pixels look like 1.5..6 mm and 1 mm ones like 0.5..2 mm), linear
   interpolation (:func:`scipy.ndimage.zoom`), then centre crop, or pad (``pad_mode``: reflect, or the
   profile's fill value) back to the input shape. Geometry changes: use it for restoration training
   only (labels no longer align).
2. **contrast** -- a factor ``c`` drawn log-uniformly from ``contrast``: CT: HU differences inside the
   soft-tissue window (40 +- 200 HU) are scaled by ``c`` about the tissue level (40 HU) and values
   outside continue with slope 1 (air stays near -1000 HU, monotone); MRI: a global gain (stays
   non-negative); X-ray and ultrasound: about the image mean.
3. **gamma** -- an exponent drawn log-uniformly from ``gamma`` on the window-normalised image
   (CT: the soft-tissue window -160..240 HU; others: ``profile.metric_window``), mapped back;
   values outside the window are unchanged (the map is continuous and monotone).
4. **texture** -- correlated Gaussian texture (:func:`mira.synthesis.texture.correlated_noise`,
   correlation lengths 1 and 4 pixels) with a standard deviation drawn uniformly from ``texture``
   as a fraction of the window width (CT: of 400 HU; others: of the metric window width),
   additive (CT, X-ray, ultrasound) or multiplicative (MRI).

The result is clipped to ``profile.value_range``, finite and float32. Every draw comes from ``rng``
in a fixed order (all parameters are drawn even for degenerate ranges), so the same generator state
gives identical bytes. ``strength`` (0..1) shrinks every range towards the identity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

import numpy as np
from scipy import ndimage as ndi

from ..errors import ConfigError, ParameterError
from ..modalities import ModalityProfile, require_profile

__all__ = ["AppearanceSettings", "randomise_appearance", "CT_TISSUE_LEVEL_HU", "CT_TISSUE_WINDOW_HU"]

CT_TISSUE_LEVEL_HU = 40.0    #: centre of the CT soft-tissue window (HU)
CT_TISSUE_WINDOW_HU = 400.0  #: width of the CT soft-tissue window (HU)
_RANGES = ("contrast", "gamma", "texture", "zoom")


@dataclass(frozen=True)
class AppearanceSettings:
    """Ranges of the appearance randomisation (see the module docstring).

    Attributes
    ----------
    enabled : bool
        ``False``: :func:`randomise_appearance` returns an unchanged copy.
    strength : float
        0..1; scales every range towards the identity (0 = identity, 1 = the ranges as given).
    contrast : (float, float)
        Contrast factor range, > 0 (default 0.75..1.33), drawn log-uniformly.
    gamma : (float, float)
        Gamma exponent range, > 0 (default 0.8..1.25), drawn log-uniformly.
    texture : (float, float)
        Added texture SD range as a fraction (0..0.2) of the window width (default 0..0.02: up to
        8 HU for CT, 2 % of the magnitude for MRI).
    zoom : (float, float)
        In-plane zoom factor range, 0.25..4 (default 0.5..2), drawn log-uniformly.
    pad_mode : {"reflect", "constant"}
        How a zoomed-out image is padded back: mirrored, or ``profile.fill_value``.
    """

    enabled: bool = True
    strength: float = 1.0
    contrast: tuple[float, float] = (0.75, 1.33)
    gamma: tuple[float, float] = (0.8, 1.25)
    texture: tuple[float, float] = (0.0, 0.02)
    zoom: tuple[float, float] = (0.5, 2.0)
    pad_mode: str = "reflect"

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"appearance.enabled must be true or false, got {self.enabled!r}")
        if not (isinstance(self.strength, (int, float)) and 0.0 <= float(self.strength) <= 1.0):
            raise ConfigError(f"appearance.strength must be a number in [0, 1], got {self.strength!r}")
        limits = {"contrast": (0.1, 10.0), "gamma": (0.1, 10.0), "texture": (0.0, 0.2), "zoom": (0.25, 4.0)}
        for key in _RANGES:
            val = getattr(self, key)
            try:
                lo, hi = (float(v) for v in val)
            except (TypeError, ValueError):
                raise ConfigError(f"appearance.{key} must be [low, high], got {val!r}") from None
            a, b = limits[key]
            if not (math.isfinite(lo) and math.isfinite(hi) and a <= lo <= hi <= b):
                raise ConfigError(f"appearance.{key}={[lo, hi]} must satisfy {a} <= low <= high <= {b}")
            object.__setattr__(self, key, (lo, hi))
        if self.pad_mode not in ("reflect", "constant"):
            raise ConfigError(f"appearance.pad_mode must be 'reflect' or 'constant', got {self.pad_mode!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> "AppearanceSettings":
        """Settings from a config mapping (keys: enabled, strength, contrast, gamma, texture, zoom,
        pad_mode; ranges as two-element lists). Unknown keys or bad values raise ConfigError."""
        if mapping is None:
            return cls()
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"appearance: expected a mapping, got {type(mapping).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(f"appearance.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
        clean = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in mapping.items()}
        return cls(**clean)

    def effective(self) -> "AppearanceSettings":
        """The ranges after ``strength``: log ranges shrink towards 1, the texture range towards 0."""
        s = float(self.strength)

        def shrink_log(r: tuple[float, float]) -> tuple[float, float]:
            return (float(np.exp(s * np.log(r[0]))), float(np.exp(s * np.log(r[1]))))

        return replace(self, strength=1.0, contrast=shrink_log(self.contrast), gamma=shrink_log(self.gamma),
                       zoom=shrink_log(self.zoom), texture=(s * self.texture[0], s * self.texture[1]))


def _log_uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    u = float(rng.random())
    return float(np.exp(np.log(r[0]) + u * (np.log(r[1]) - np.log(r[0]))))


def _window(profile: ModalityProfile) -> tuple[float, float]:
    if profile.name == "ct":
        return (CT_TISSUE_LEVEL_HU - CT_TISSUE_WINDOW_HU / 2, CT_TISSUE_LEVEL_HU + CT_TISSUE_WINDOW_HU / 2)
    return (float(profile.metric_window[0]), float(profile.metric_window[1]))


def zoom_to_shape(image: np.ndarray, factor: float, fill: float, pad_mode: str = "reflect") -> np.ndarray:
    """Zoom the last two axes of ``image`` by ``factor`` (linear), then centre crop / pad back to its shape.

    ``pad_mode`` ``"reflect"`` mirrors the zoomed image, ``"constant"`` pads with ``fill`` (native units).
    """
    img = np.asarray(image, dtype=np.float32)
    if abs(factor - 1.0) < 1e-6:
        return img.copy()
    z = ndi.zoom(img, [1.0] * (img.ndim - 2) + [factor, factor], order=1, mode="nearest", grid_mode=True)
    out = z
    for ax in (img.ndim - 2, img.ndim - 1):
        n, m = img.shape[ax], out.shape[ax]
        if m > n:
            start = (m - n) // 2
            out = np.take(out, np.arange(start, start + n), axis=ax)
        elif m < n:
            before = (n - m) // 2
            pad = [(0, 0)] * img.ndim
            pad[ax] = (before, n - m - before)
            if pad_mode == "reflect":
                out = np.pad(out, pad, mode="symmetric" if m > 1 else "edge")
                while out.shape[ax] < n:  # extremely small zoomed image: keep mirroring
                    out = np.pad(out, pad, mode="symmetric")
                out = np.take(out, np.arange(n), axis=ax)
            else:
                out = np.pad(out, pad, mode="constant", constant_values=fill)
    return np.ascontiguousarray(out, dtype=np.float32)


def _contrast(x: np.ndarray, profile: ModalityProfile, c: float) -> np.ndarray:
    if profile.name == "ct":
        lvl, half = CT_TISSUE_LEVEL_HU, CT_TISSUE_WINDOW_HU / 2
        d = x - lvl
        inner = np.clip(d, -half, half)
        return lvl + c * inner + (d - inner)  # slope c inside the window, 1 outside, continuous
    if profile.name == "mri":
        return x * c
    mean = float(x.mean())
    return mean + c * (x - mean)


def _gamma(x: np.ndarray, profile: ModalityProfile, g: float) -> np.ndarray:
    lo, hi = _window(profile)
    u = (x - lo) / (hi - lo)
    inside = (u > 0) & (u < 1)
    out = x.copy()
    out[inside] = lo + (hi - lo) * np.power(u[inside], g)
    return out


def randomise_appearance(image: np.ndarray, profile: ModalityProfile, rng: np.random.Generator,
                         settings: AppearanceSettings | None = None) -> np.ndarray:
    """Randomise zoom, contrast, gamma and texture of a clean image (native units; see the module).

    Parameters
    ----------
    image : ndarray
        Clean 2D image ``(y, x)`` or stack ``(..., y, x)`` in native units (HU for CT, magnitude
        for MRI, 0..1 for X-ray and ultrasound); the zoom acts on the last two axes.
    profile : ModalityProfile
        The modality's resolved profile: ``value_range`` bounds the output, ``metric_window`` sets
        the gamma/texture window (CT uses the soft-tissue window 40 +- 200 HU).
    rng : numpy.random.Generator
        Source of every draw; same state -> identical bytes.
    settings : AppearanceSettings, optional
        Ranges (default :class:`AppearanceSettings`).

    Returns
    -------
    ndarray of float32
        Same shape, finite, inside ``profile.value_range``. A copy of ``image`` when disabled.

    Raises
    ------
    ParameterError
        ``image`` has fewer than 2 dimensions or non-finite values, ``rng`` is not a Generator.
    """
    prof = require_profile(profile, "randomise_appearance")
    cfg = settings if settings is not None else AppearanceSettings()
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    arr = np.asarray(image)
    if arr.ndim < 2 or min(arr.shape[-2:]) < 2:
        raise ParameterError(f"randomise_appearance needs an image of at least 2 x 2 pixels, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("randomise_appearance needs a finite image")
    if not cfg.enabled:
        return arr.copy()
    eff = cfg.effective()
    zoom, c, g = _log_uniform(rng, eff.zoom), _log_uniform(rng, eff.contrast), _log_uniform(rng, eff.gamma)
    tex_sd = float(rng.uniform(*eff.texture))
    from ..synthesis.texture import correlated_noise

    noise = correlated_noise(rng, arr.shape, (1.0,) * arr.ndim, scales_mm=(1.0, 4.0), weights=(0.5, 0.5))
    x = zoom_to_shape(arr, zoom, prof.fill_value, cfg.pad_mode).astype(np.float64)
    x = _gamma(_contrast(x, prof, c), prof, g)
    lo, hi = _window(prof)
    if tex_sd > 0:
        if prof.name == "mri":
            x = x * np.maximum(1.0 + tex_sd * noise, 0.0)
        else:
            x = x + tex_sd * (hi - lo) * noise
    out = prof.clip(x).astype(np.float32)
    return np.nan_to_num(out, nan=float(prof.fill_value), posinf=float(min(prof.value_range[1], 3.4e38)),
                         neginf=float(prof.value_range[0]))

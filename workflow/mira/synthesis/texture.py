"""Tissue texture and partial volume that leave each region's mean value unchanged.

An image is composed from a region map: every region gets its configured value, plus a smooth,
spatially correlated texture that is zero-mean inside every region (additive in HU for CT,
multiplicative for MRI magnitude so the image stays non-negative), plus an optional slight Gaussian
blur that mimics partial volume at boundaries. After the blur the mean of every region is restored
exactly (additive offset for CT, gain for MRI), so the mean value of each label region equals its
configured value up to float32 rounding.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi


def correlated_noise(rng: np.random.Generator, shape: Sequence[int], spacing: Sequence[float],
                     scales_mm: Sequence[float] = (1.0, 6.0), weights: Sequence[float] = (0.6, 0.4)) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise with correlation lengths ``scales_mm`` (mm).

    White Gaussian noise drawn from ``rng`` is low-pass filtered with a Gaussian of each scale
    (sigma in mm, converted to pixels with ``spacing``), the filtered fields are mixed with
    ``weights`` and the result normalised to unit standard deviation (float32).
    """
    white = rng.standard_normal(tuple(shape), dtype=np.float32)
    out = np.zeros(shape, dtype=np.float32)
    for s_mm, w in zip(scales_mm, weights):
        sigma = [max(s_mm / sp, 0.0) if np.isfinite(sp) else 0.0 for sp in spacing]
        field = ndi.gaussian_filter(white, sigma, mode="wrap") if max(sigma) > 0.3 else white
        out += np.float32(w) * field / np.float32(max(float(field.std()), 1e-12))
    out -= out.mean()
    out /= np.float32(max(float(out.std()), 1e-12))
    return out


def region_means(image: np.ndarray, region: np.ndarray, n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-region ``(mean, count)`` of ``image`` for region ids ``0..n-1`` (mean 0 where count is 0)."""
    flat = region.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    sums = np.bincount(flat, weights=image.ravel().astype(np.float64), minlength=n)
    means = np.divide(sums, counts, out=np.zeros(n), where=counts > 0)
    return means, counts


def compose_image(region: np.ndarray, values: np.ndarray, texture_sd: np.ndarray, noise: np.ndarray | None,
                  multiplicative: bool = False, pv_sigma_px: float = 0.0) -> np.ndarray:
    """Image whose mean over every region equals ``values[region_id]``.

    Parameters
    ----------
    region : ndarray of uint8
        Region ids (0..255).
    values : ndarray, shape (256,)
        Mean value of every region id (native units: HU, or MRI magnitude).
    texture_sd : ndarray, shape (256,)
        Texture strength per region: standard deviation in native units (additive) or as a
        fraction of the value (``multiplicative=True``).
    noise : ndarray or None
        Unit-variance correlated noise of ``region.shape`` (see :func:`correlated_noise`), or
        ``None`` for no texture. It is made zero-mean inside each region before use.
    multiplicative : bool
        Multiplicative texture and gain correction (keeps non-negative values non-negative).
    pv_sigma_px : float
        Sigma of the partial-volume blur in pixels (0 for none).

    Returns
    -------
    ndarray of float32
    """
    values = np.asarray(values, dtype=np.float64)
    base = values[region].astype(np.float32)
    if noise is not None:
        nmean, _ = region_means(noise, region)
        tex = (noise - nmean[region].astype(np.float32)) * np.asarray(texture_sd, np.float32)[region]
        img = base * (1.0 + tex) if multiplicative else base + tex
        if multiplicative:
            img = np.maximum(img, 0.0)
    else:
        img = base
    if pv_sigma_px > 0:
        img = ndi.gaussian_filter(img, pv_sigma_px, mode="nearest")
    means, counts = region_means(img, region)
    present = counts > 0
    if multiplicative:
        gain = np.ones(values.size)
        ok = present & (means > 0)
        gain[ok] = values[ok] / means[ok]
        out = img * gain[region].astype(np.float32)
        zero = present & ~(means > 0)  # region blurred to nothing: fall back to its value
        if zero.any():
            sel = zero[region]
            out[sel] = values[region][sel]
    else:
        offset = np.where(present, values - means, 0.0)
        out = img + offset[region].astype(np.float32)
    return out.astype(np.float32)

"""Tissue texture and partial volume that leave each region's mean value unchanged.

An image is composed from a region map: every region gets its configured value, plus a
spatially correlated texture (:func:`powerlaw_texture`: a power-law spectrum in cycles/mm like real
soft tissue, or :func:`correlated_noise`: a mix of Gaussian correlation lengths) that is zero-mean
inside every region (additive in HU for CT,
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


def powerlaw_texture(rng: np.random.Generator, shape: Sequence[int], spacing: Sequence[float],
                     beta: float = 2.6, outer_mm: float = 25.0, ref_spacing_mm: float = 1.0) -> np.ndarray:
    """Zero-mean Gaussian tissue texture with a power-law spectrum defined in millimetres.

    The power spectrum is ``P(f) ~ (f**2 + f0**2) ** (-beta / 2)`` with ``f`` in cycles/mm and
    ``f0 = 1 / outer_mm`` (structure from the pixel scale up to ``outer_mm``, about organ-scale
    shading), shaped from white noise drawn from ``rng`` with one FFT (periodic, float32). Real soft
    tissue has ``beta`` about 2.5-3 (cf. :func:`mira.metrics.texture_stats.psd_slope`). Unlike
    :func:`correlated_noise`, the texture is a physical field sampled on the pixel grid: its standard
    deviation is 1 on a grid of ``ref_spacing_mm`` pixels and smaller on coarser grids, by the
    fraction of the spectrum's variance below their Nyquist frequency (fine structure averages out
    in a large pixel). ``spacing`` in mm, one value per axis (``inf`` for a singleton axis).
    """
    shape = tuple(int(n) for n in shape)
    white = rng.standard_normal(shape, dtype=np.float32)
    sp = [float(d) if np.isfinite(d) else 1.0 for d in spacing]
    freqs = [np.fft.fftfreq(n, d=d) for n, d in zip(shape[:-1], sp[:-1])] + [np.fft.rfftfreq(shape[-1], d=sp[-1])]
    f2 = np.zeros([len(f) for f in freqs], dtype=np.float64)
    for ax, f in enumerate(freqs):
        f2 += (f ** 2).reshape([-1 if i == ax else 1 for i in range(len(freqs))])
    f0 = 1.0 / float(outer_mm)
    amp = (f2 + f0 * f0) ** (-beta / 4.0)
    amp.flat[0] = 0.0
    field = np.fft.irfftn(np.fft.rfftn(white) * amp, s=shape, axes=tuple(range(len(shape)))).astype(np.float32)
    field -= field.mean()
    field /= np.float32(max(float(field.std()), 1e-12))
    ndim_eff = sum(1 for n in shape if n > 1)
    return field * np.float32(_captured_sd(beta, f0, 0.5 / max(sp), 0.5 / ref_spacing_mm, ndim_eff))


def _captured_sd(beta: float, f0: float, f_nyq: float, f_ref: float, ndim: int) -> float:
    """sqrt of the variance of the power law below ``f_nyq`` relative to below ``f_ref`` (<= 1)."""
    f = np.linspace(0.0, max(f_nyq, f_ref), 4096)
    dens = f ** max(ndim - 1, 0) * (f * f + f0 * f0) ** (-beta / 2.0)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(f))])
    got, ref = np.interp(f_nyq, f, cum), np.interp(f_ref, f, cum)
    return float(min(1.0, np.sqrt(got / ref))) if ref > 0 else 1.0


def pv_sigma_px(spacing_mm: float, psf_sigma_mm: float, sub_pixel: float = 0.5) -> float:
    """Partial-volume / point-spread blur sigma in pixels: ``hypot(sub_pixel, psf_sigma_mm / spacing)``.

    ``sub_pixel`` (pixels) models a boundary shared by one pixel; ``psf_sigma_mm`` (mm) the scanner's
    in-plane resolution, which spreads an edge over several pixels of a fine grid (0.5 mm pixels)
    and over about half a pixel of a coarse one (3 mm pixels).
    """
    return float(np.hypot(sub_pixel, psf_sigma_mm / float(spacing_mm)))


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

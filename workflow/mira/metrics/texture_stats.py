"""Texture statistics measured inside tissue: power-spectrum slope, local variation, flatness.

They compare the *look* of images (phantoms against real scans) rather than their fidelity to a
reference, and they are the cues by which a network trained on piecewise-constant phantoms fails on
real tissue (posterised output):

* :func:`psd_slope` -- slope ``beta`` of the radially averaged power spectrum ``P(f) ~ f**beta``,
  fitted on log-log axes over a frequency band given in **cycles/mm** (pixel spacing accounted
  for). White noise gives ``beta ~ 0``; smooth, correlated texture and large flat regions with a few
  sharp edges give steep negative slopes (``beta ~ -3``); real soft tissue typically ``-1.5..-3``.
* :func:`local_std` -- standard deviation in small square windows (``window_px`` x ``window_px``
  **pixels**, default 5 x 5) lying wholly inside the tissue mask, in native units (divide by a
  display window width to compare modalities).
* :func:`flat_fraction` -- the fraction of those windows whose local standard deviation is below
  ``threshold`` (default 0.5 %) of a display window width: the posterisation cue (a piecewise-constant
  image has almost every window flat; real images almost none).
* :func:`gradient_percentiles` -- percentiles of the gradient magnitude per pixel (central
  differences), as a fraction of the window width per pixel: an edge-sharpness statistic.

:func:`tissue_mask` selects tissue (inside the body, excluding air/background and bone) per modality,
and :func:`texture_summary` bundles all statistics for one image. Every function is deterministic.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError

__all__ = ["tissue_mask", "radial_psd", "psd_slope", "local_std", "flat_fraction", "gradient_percentiles",
           "TextureStats", "texture_summary", "display_window"]

#: soft-tissue HU range of the CT tissue mask (fat to dense soft tissue; lung/air and bone excluded)
CT_TISSUE_HU = (-200.0, 300.0)
#: soft-tissue display window width used for CT texture statistics (HU; W400/L40)
CT_WINDOW_HU = 400.0


def _image2d(image: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ParameterError(f"texture statistics need a 2D image, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ParameterError("texture statistics need a finite image")
    m = np.ones(img.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != img.shape:
        raise ParameterError(f"mask shape {m.shape} != image shape {img.shape}")
    return img, m


def _spacing2(spacing: Sequence[float] | float) -> tuple[float, float]:
    sp = np.broadcast_to(np.asarray(spacing, dtype=float), (2,))
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ParameterError(f"spacing must be two positive numbers of mm, got {spacing!r}")
    return float(sp[0]), float(sp[1])


def tissue_mask(image: np.ndarray, modality: str) -> np.ndarray:
    """Boolean mask of tissue pixels: inside the body, excluding air/background and bone.

    * ``ct`` (HU): ``-200 <= HU <= 300`` (fat and soft tissue; lung, air and bone excluded);
    * ``mri`` (magnitude, any scale): above 15 % of the 99th percentile of the non-zero signal
      (background, cortical bone and dark CSF excluded);
    * ``us`` (B-mode 0..1): the largest connected region where the 7 x 7 pixel mean is above 0.03
      (the scanned sector; burnt-in annotations are small separate components and dropped) and not
      exactly constant over 5 x 5 pixels (flat graphics bars);
    * ``xray`` (I/I0 0..1): ``0.02 < I/I0 < 0.98``.

    Every mask is opened with a 3 x 3 structuring element (isolated pixels removed).
    """
    img, _ = _image2d(image)
    key = str(modality).lower()
    if key == "ct":
        m = (img >= CT_TISSUE_HU[0]) & (img <= CT_TISSUE_HU[1])
    elif key == "mri":
        pos = img[img > 0]
        ref = float(np.percentile(pos, 99)) if pos.size else 0.0
        m = img > 0.15 * ref if ref > 0 else np.zeros(img.shape, bool)
    elif key == "us":
        var = ndi.uniform_filter(img * img, 5) - ndi.uniform_filter(img, 5) ** 2
        m = (ndi.uniform_filter(img, 7, mode="constant") > 0.03) & (var > 1e-8)  # drop flat graphics
        lab, n = ndi.label(m)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            m = lab == int(np.argmax(sizes))
    elif key == "xray":
        m = (img > 0.02) & (img < 0.98)
    else:
        raise ParameterError(f"unknown modality {modality!r} for tissue_mask (ct, mri, us, xray)")
    return ndi.binary_opening(m, np.ones((3, 3), bool))


def display_window(image: np.ndarray, mask: np.ndarray, modality: str) -> float:
    """Width of the display window (native units) that texture statistics are relative to.

    CT: the soft-tissue window, 400 HU. MRI: the 99th percentile of tissue magnitude (MRI scale is
    arbitrary, so this makes the statistics scale-free). Ultrasound and X-ray: 1.0 (the 0..1 range).
    """
    key = str(modality).lower()
    if key == "ct":
        return CT_WINDOW_HU
    if key == "mri":
        img, m = _image2d(image, mask)
        vals = img[m]
        return float(np.percentile(vals, 99)) if vals.size and np.percentile(vals, 99) > 0 else 1.0
    return 1.0


def radial_psd(image: np.ndarray, mask: np.ndarray | None, spacing: Sequence[float] | float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of ``image`` inside ``mask``.

    The image minus its mean inside the mask is set to 0 outside the mask and multiplied by a smooth
    window (the mask eroded by 2 pixels and blurred with a 2-pixel Gaussian), so region boundaries
    do not leak into the spectrum. Returns ``(f, P)``: ring centre frequencies in cycles/mm
    (``spacing`` in mm, numpy order) up to the Nyquist frequency of the coarser axis, and the mean
    power per ring (native units squared, normalised by the window energy; 0 for an empty ring).
    """
    img, m = _image2d(image, mask)
    dy, dx = _spacing2(spacing)
    if m.sum() < 16:
        raise ParameterError("radial_psd: the mask selects fewer than 16 pixels")
    core = ndi.binary_erosion(m, iterations=2)
    if core.sum() < 16:
        core = m
    w = ndi.gaussian_filter(core.astype(np.float64), 2.0) * m
    mean = float(np.sum(w * img) / max(float(w.sum()), 1e-12))
    x = np.where(m, img - mean, 0.0) * w
    power = np.abs(np.fft.fft2(x)) ** 2 / max(float(np.sum(w ** 2)), 1e-12)
    fy = np.fft.fftfreq(img.shape[0], d=dy)[:, None]
    fx = np.fft.fftfreq(img.shape[1], d=dx)[None, :]
    fr = np.sqrt(fy ** 2 + fx ** 2)
    step = max(1.0 / (img.shape[0] * dy), 1.0 / (img.shape[1] * dx))
    fmax = min(0.5 / dy, 0.5 / dx)
    nbin = int(fmax / step)
    idx = np.floor(fr / step + 0.5).astype(np.int64).ravel()
    keep = (idx >= 1) & (idx <= nbin)
    sums = np.bincount(idx[keep], weights=power.ravel()[keep], minlength=nbin + 1)
    counts = np.bincount(idx[keep], minlength=nbin + 1)
    ring = np.divide(sums, counts, out=np.zeros(nbin + 1), where=counts > 0)
    return np.arange(1, nbin + 1) * step, ring[1:]


def psd_slope(image: np.ndarray, mask: np.ndarray | None, spacing: Sequence[float] | float,
              band_cyc_per_mm: tuple[float, float] | None = None,
              band_nyquist: tuple[float, float] = (0.1, 0.5)) -> float:
    """Log-log slope ``beta`` of the radially averaged power spectrum, ``P(f) ~ f**beta``.

    Parameters
    ----------
    image, mask : ndarray
        2D image (native units) and tissue mask (``None``: whole image).
    spacing : float or (float, float)
        Pixel spacing in mm.
    band_cyc_per_mm : (float, float), optional
        Fit band in cycles/mm. Default: ``band_nyquist`` times the image's Nyquist frequency.
    band_nyquist : (float, float)
        Fit band as fractions (0..1) of the Nyquist frequency when ``band_cyc_per_mm`` is not given.

    Returns
    -------
    float
        The slope (dimensionless; 0 for white noise, about -2..-4 for smooth fields). 0.0 for an
        image without variation inside the mask.

    Raises
    ------
    ParameterError
        Bad band, or fewer than 3 frequency rings inside it.
    """
    f, p = radial_psd(image, mask, spacing)
    if band_cyc_per_mm is None:
        nyq = float(f[-1]) if f.size else 0.0
        lo, hi = band_nyquist[0] * nyq, band_nyquist[1] * nyq
    else:
        lo, hi = (float(v) for v in band_cyc_per_mm)
    if not 0 < lo < hi:
        raise ParameterError(f"psd_slope: band must be 0 < low < high cycles/mm, got ({lo}, {hi})")
    sel = (f >= lo) & (f <= hi)
    if sel.sum() < 3:
        raise ParameterError(f"psd_slope: fewer than 3 frequency rings in ({lo:.3g}, {hi:.3g}) cycles/mm")
    if float(p[sel].max(initial=0.0)) <= 1e-20:
        return 0.0
    ok = sel & (p > 1e-30)
    slope = np.polyfit(np.log(f[ok]), np.log(p[ok]), 1)[0]
    return float(slope)


def local_std(image: np.ndarray, mask: np.ndarray | None, window_px: int = 5) -> np.ndarray:
    """Standard deviations (native units) in ``window_px`` x ``window_px`` **pixel** windows.

    One value per pixel whose whole window lies inside ``mask`` (1D array, possibly empty).
    ``window_px`` must be an odd integer >= 3.
    """
    img, m = _image2d(image, mask)
    if int(window_px) != window_px or window_px < 3 or window_px % 2 == 0:
        raise ParameterError(f"window_px must be an odd integer >= 3, got {window_px!r}")
    k = int(window_px)
    mean = ndi.uniform_filter(img, k, mode="reflect")
    sq = ndi.uniform_filter(img * img, k, mode="reflect")
    var = np.maximum(sq - mean * mean, 0.0)
    inside = ndi.binary_erosion(m, np.ones((k, k), bool), border_value=0)
    return np.sqrt(var[inside])


def flat_fraction(image: np.ndarray, mask: np.ndarray | None, window_width: float, window_px: int = 5,
                  threshold: float = 0.005) -> float:
    """Fraction (0..1) of tissue windows whose local standard deviation is below ``threshold`` times
    ``window_width`` (native units; e.g. 400 HU for CT): 1.0 for a piecewise-constant image.
    ``nan`` when no window fits inside the mask."""
    if not window_width > 0:
        raise ParameterError(f"window_width must be > 0, got {window_width!r}")
    s = local_std(image, mask, window_px)
    return float(np.mean(s < threshold * window_width)) if s.size else float("nan")


def gradient_percentiles(image: np.ndarray, mask: np.ndarray | None, window_width: float,
                         q: Sequence[float] = (50.0, 90.0)) -> tuple[float, ...]:
    """Percentiles ``q`` (0..100) of the gradient magnitude inside ``mask`` (eroded by one pixel), as a fraction of
    ``window_width`` per **pixel** (central differences); ``nan`` for an empty mask."""
    img, m = _image2d(image, mask)
    if not window_width > 0:
        raise ParameterError(f"window_width must be > 0, got {window_width!r}")
    gy, gx = np.gradient(img)
    inner = ndi.binary_erosion(m)  # both neighbours of a central difference inside the mask
    g = np.hypot(gy, gx)[inner if inner.any() else m] / float(window_width)
    if not g.size:
        return tuple(float("nan") for _ in q)
    return tuple(float(v) for v in np.percentile(g, list(q)))


@dataclass(frozen=True)
class TextureStats:
    """Texture statistics of one image (see the module docstring).

    ``slope_mm``: PSD slope over a band in cycles/mm; ``slope_px``: over 0.1..0.5 of Nyquist;
    ``local_std``: median 5 x 5-pixel local SD as a fraction of the window; ``flat``: flat-window
    fraction (0..1); ``grad50``/``grad90``: gradient-magnitude percentiles (fraction of window per
    pixel); ``window``: window width (native units); ``pixels``: tissue pixels.
    """

    slope_mm: float
    slope_px: float
    local_std: float
    flat: float
    grad50: float
    grad90: float
    window: float
    pixels: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def texture_summary(image: np.ndarray, modality: str, spacing: Sequence[float] | float,
                    band_cyc_per_mm: tuple[float, float] | None = None, mask: np.ndarray | None = None,
                    window_px: int = 5) -> TextureStats:
    """All texture statistics of a 2D image inside its :func:`tissue_mask` (or ``mask``).

    ``band_cyc_per_mm`` is the fit band of ``slope_mm`` (default 0.1..0.5 of the Nyquist frequency,
    then ``slope_mm == slope_px``); ``window_px`` the local window side in pixels.
    """
    img, _ = _image2d(image)
    m = tissue_mask(img, modality) if mask is None else np.asarray(mask, bool)
    win = display_window(img, m, modality)
    s = local_std(img, m, window_px)
    g50, g90 = gradient_percentiles(img, m, win)
    slope_px = psd_slope(img, m, spacing)
    slope_mm = psd_slope(img, m, spacing, band_cyc_per_mm) if band_cyc_per_mm is not None else slope_px
    return TextureStats(slope_mm=slope_mm, slope_px=slope_px,
                        local_std=float(np.median(s)) / win if s.size else float("nan"),
                        flat=flat_fraction(img, m, win, window_px), grad50=g50, grad90=g90, window=win,
                        pixels=int(m.sum()))

"""Resolution loss: Gaussian point-spread-function blur, anti-aliased downsampling for
super-resolution pairs, and aliasing from insufficient sampling.

All sizes are physical (mm) and converted to pixels with the image spacing.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# scikit-image loads its submodules on first attribute access (lazy_loader): a job that imports this
# module without calling resize does not pay for scipy.interpolate (~0.6 s).
import skimage.transform
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..metrics.mtf import FWHM_PER_SIGMA


def _per_axis(value, ndim: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(ndim, float(arr))
    if arr.shape != (ndim,):
        raise ParameterError(f"{name} must be a number or one value per axis ({ndim}), got {value}")
    return arr


def psf_blur(image: np.ndarray, spacing: Sequence[float], fwhm_mm) -> np.ndarray:
    """Convolve with a Gaussian point-spread function of full width at half maximum ``fwhm_mm``.

    Parameters
    ----------
    image : array
        2D or 3D, native units.
    spacing : sequence of float
        Pixel spacing per axis, mm.
    fwhm_mm : float or sequence
        PSF FWHM in mm (isotropic, or one per axis; 0 = no blur along that axis). The PSF's standard
        deviation is ``FWHM / 2.3548`` and its MTF ``exp(-2 pi^2 sigma^2 f^2)``.

    Returns
    -------
    array
        Blurred image (edges replicated at the border), float64.
    """
    img = np.asarray(image, dtype=np.float64)
    fwhm = _per_axis(fwhm_mm, img.ndim, "fwhm_mm")
    sp = _per_axis(spacing, img.ndim, "spacing")
    if np.any(fwhm < 0) or not np.all(np.isfinite(fwhm)):
        raise ParameterError(f"fwhm_mm must be >= 0, got {fwhm_mm}")
    if np.any(sp <= 0):
        raise ParameterError(f"spacing must be > 0, got {tuple(spacing)}")
    sigma_px = fwhm / FWHM_PER_SIGMA / sp
    return ndi.gaussian_filter(img, sigma_px, mode="nearest", truncate=4.0) if np.any(sigma_px > 0) else img.copy()


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the trailing rows/columns so every axis is a multiple of ``scale`` (super-resolution convention)."""
    return np.asarray(image)[tuple(slice(0, n - n % scale) for n in np.shape(image))]


def downsample(image: np.ndarray, spacing: Sequence[float], scale: int, *, anti_aliasing: bool = True,
               order: int = 1) -> tuple[np.ndarray, tuple[float, ...], np.ndarray]:
    """Low-resolution input for super-resolution: ``scale`` times fewer pixels per axis.

    The image is first cropped to a multiple of ``scale`` (:func:`modcrop`), then resized with
    scikit-image (:func:`skimage.transform.resize`, Gaussian anti-aliasing filter of
    ``sigma = (scale - 1) / 2`` pixels before resampling when ``anti_aliasing``), so LR pixel ``j``
    covers HR pixels ``j*scale .. (j+1)*scale - 1``.

    Returns
    -------
    (lr, lr_spacing, hr) : array, tuple, array
        The LR image, its spacing (``spacing * scale``) and the cropped HR reference.
    """
    s = int(scale)
    if s != scale or s < 2:
        raise ParameterError(f"scale must be an integer >= 2, got {scale}")
    hr = modcrop(np.asarray(image, dtype=np.float64), s)
    if min(hr.shape) < s:
        raise ParameterError(f"image of shape {np.shape(image)} is too small for scale {s}")
    lr_shape = tuple(n // s for n in hr.shape)
    lr = skimage.transform.resize(hr, lr_shape, order=order, mode="edge", anti_aliasing=anti_aliasing,
                                  preserve_range=True)
    return lr, tuple(float(v) * s for v in spacing), hr


def downsample_labels(labels: np.ndarray, scale: int) -> np.ndarray:
    """Label map on the LR grid of :func:`downsample`: the label at the centre of each HR block."""
    s = int(scale)
    lab = modcrop(np.asarray(labels), s)
    idx = tuple(slice(s // 2, None, s) for _ in range(lab.ndim))
    return lab[idx][tuple(slice(0, n // s) for n in lab.shape)].copy()


def upsample_to(lr: np.ndarray, shape: Sequence[int], order: int = 3) -> np.ndarray:
    """Resize an LR image back onto the HR grid (pixel-area aligned, as :func:`downsample` assumes)."""
    return skimage.transform.resize(np.asarray(lr, dtype=np.float64), tuple(shape), order=order, mode="edge",
                                    anti_aliasing=False, preserve_range=True)


def aliasing(image: np.ndarray, spacing: Sequence[float], factor: float, *, order: int = 3) -> np.ndarray:
    """Sampling without an anti-aliasing filter: point samples every ``factor`` pixels, interpolated back.

    The detector (or scan-line) pitch is ``factor`` times coarser than the image grid and nothing
    limits the bandwidth before sampling, so frequencies above the coarse Nyquist ``0.5 / factor``
    cycles/pixel fold back as moire and jagged edges. The samples are interpolated back onto the
    original grid (cubic spline, ``order``) so the result pairs pixel by pixel with the input.

    Parameters
    ----------
    factor : float
        Sampling pitch in pixels of the input grid (>= 1; 1 returns the image).
    """
    img = np.asarray(image, dtype=np.float64)
    if not np.isfinite(factor) or factor < 1:
        raise ParameterError(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return img.copy()
    axes_lr = [np.arange(0.0, n - 1 + 1e-9, factor) for n in img.shape]
    grid = np.meshgrid(*axes_lr, indexing="ij")
    samples = ndi.map_coordinates(img, grid, order=1, mode="nearest")  # point sampling (exact on integer pitch)
    back = np.meshgrid(*[np.arange(n) / factor for n in img.shape], indexing="ij")
    return ndi.map_coordinates(samples, back, order=order, mode="nearest")

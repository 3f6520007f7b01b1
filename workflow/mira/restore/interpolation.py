"""Interpolation super-resolution: nearest, bilinear, bicubic and Lanczos upscaling by an integer factor.

Images are resized with Pillow on 32-bit float (``"F"`` mode) images, so values keep their native
units (no 8-bit quantisation): ``NEAREST``, ``BILINEAR``, ``BICUBIC`` (Keys cubic convolution,
``a = -0.5``) and ``LANCZOS`` (3-lobe windowed sinc). Pillow aligns pixel *areas* (the centre of
low-resolution pixel ``j`` lies at high-resolution coordinate ``scale * j + (scale - 1) / 2``), the
same convention as the degradation stage's downsampling (:func:`mira.degrade.resolution.downsample`),
so the output lies exactly on the reference grid: ``output.shape == scale * input.shape``.

Volumes are upscaled in-plane (the last two axes) slice by slice; the slice axis is left unchanged.
Cubic and Lanczos kernels overshoot at edges; the result is clipped to the modality's physical value
range when a modality profile is given.
"""
from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile, require_profile

#: Interpolation kernels by method name.
KERNELS = ("nearest", "bilinear", "bicubic", "lanczos")
MAX_SCALE = 8


def check_scale(scale) -> int:
    """Return ``scale`` as an int, or raise ParameterError if it is not an integer in 2..8."""
    try:
        s = int(scale)
    except (TypeError, ValueError):
        raise ParameterError(f"scale must be an integer in 2..{MAX_SCALE}, got {scale!r}") from None
    if s != scale or not 2 <= s <= MAX_SCALE:
        raise ParameterError(f"scale must be an integer in 2..{MAX_SCALE}, got {scale!r}")
    return s


def _resample(kernel: str):
    from PIL import Image

    return {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[kernel]


def upscale(image: np.ndarray, scale: int, kernel: str = "bicubic",
            profile: ModalityProfile | None = None) -> np.ndarray:
    """Upscale a 2D image (or each slice of a volume) by an integer ``scale`` with an interpolation kernel.

    Parameters
    ----------
    image : array
        ``(y, x)`` or ``(z, y, x)`` low-resolution image, native units.
    scale : int
        Upscaling factor, 2..8.
    kernel : str
        ``"nearest"``, ``"bilinear"``, ``"bicubic"`` or ``"lanczos"``.
    profile : ModalityProfile, optional
        If given, the output is clipped to ``profile.value_range``.

    Returns
    -------
    array of float64
        Shape ``(..., scale * ny, scale * nx)``.
    """
    from PIL import Image

    if kernel not in KERNELS:
        raise ParameterError(f"unknown interpolation kernel {kernel!r} (known: {', '.join(KERNELS)})")
    s = check_scale(scale)
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ParameterError(f"upscaling takes 2D or 3D images, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ParameterError("image contains NaN or inf")
    resample = _resample(kernel)

    def one(sl: np.ndarray) -> np.ndarray:
        ny, nx = sl.shape
        out = Image.fromarray(sl.astype(np.float32)).resize((nx * s, ny * s), resample=resample)
        return np.asarray(out, dtype=np.float64)

    out = one(img) if img.ndim == 2 else np.stack([one(z) for z in img])
    return require_profile(profile, "upscale").clip(out) if profile is not None else out


def upscale_nearest(image: np.ndarray, scale: int, profile: ModalityProfile | None = None) -> np.ndarray:
    """Nearest-neighbour upscaling (pixel replication); see :func:`upscale`."""
    return upscale(image, scale, "nearest", profile)


def upscale_bilinear(image: np.ndarray, scale: int, profile: ModalityProfile | None = None) -> np.ndarray:
    """Bilinear upscaling; see :func:`upscale`."""
    return upscale(image, scale, "bilinear", profile)


def upscale_bicubic(image: np.ndarray, scale: int, profile: ModalityProfile | None = None) -> np.ndarray:
    """Bicubic (Keys, a = -0.5) upscaling, the usual super-resolution baseline; see :func:`upscale`."""
    return upscale(image, scale, "bicubic", profile)


def upscale_lanczos(image: np.ndarray, scale: int, profile: ModalityProfile | None = None) -> np.ndarray:
    """Lanczos-3 upscaling; see :func:`upscale`."""
    return upscale(image, scale, "lanczos", profile)


UPSCALERS = {"nearest": upscale_nearest, "bilinear": upscale_bilinear, "bicubic": upscale_bicubic,
             "lanczos": upscale_lanczos}

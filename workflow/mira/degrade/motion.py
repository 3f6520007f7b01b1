"""Patient motion blur during an exposure (projection radiography).

During an X-ray exposure of duration ``T`` a patient moving at constant velocity smears every point
along a line of length ``L`` (mm): the PSF is a uniform line segment and the MTF along the motion is
``|sinc(L f)|`` (first zero at ``f = 1 / L``), unchanged across it. CT motion, which makes the
projections inconsistent instead, is simulated in the sinogram (:func:`mira.degrade.ct_projection.motion_ct`);
MRI motion corrupts k-space lines (:func:`mira.degrade.mri_kspace.motion_ghosting`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ParameterError


def linear_motion_blur(image: np.ndarray, spacing: Sequence[float], length_mm: float,
                       direction_deg: float) -> np.ndarray:
    """Blur by uniform linear motion of ``length_mm`` along ``direction_deg`` (from +x towards +y).

    The blur is applied exactly in the Fourier domain -- the transfer function of a uniform segment
    of length ``L`` centred on the mean position is the real ``sinc(L (f . u))`` (``u`` the unit motion
    vector), so the blurred image stays registered with the sharp one and there is no interpolation
    blur. The image is padded by replicating its border (``L`` plus two pixels) to avoid wrap-around.

    Parameters
    ----------
    image : (ny, nx) array
    spacing : (sy, sx)
        Pixel spacing, mm.
    length_mm : float
        Distance travelled during the exposure, mm (>= 0).
    direction_deg : float
        Direction of motion in the image plane, degrees.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ParameterError(f"linear_motion_blur works on 2D images, got shape {img.shape}")
    if length_mm < 0 or not np.isfinite(length_mm):
        raise ParameterError(f"length_mm must be >= 0, got {length_mm}")
    if length_mm == 0:
        return img.copy()
    sy, sx = float(spacing[-2]), float(spacing[-1])
    pad = int(np.ceil(length_mm / min(sy, sx))) + 2
    padded = np.pad(img, pad, mode="edge")
    fy = np.fft.fftfreq(padded.shape[0], d=sy)[:, None]
    fx = np.fft.fftfreq(padded.shape[1], d=sx)[None, :]
    t = np.deg2rad(direction_deg)
    otf = np.sinc(length_mm * (fy * np.sin(t) + fx * np.cos(t)))
    out = np.fft.ifft2(np.fft.fft2(padded) * otf).real
    return out[pad:pad + img.shape[0], pad:pad + img.shape[1]]

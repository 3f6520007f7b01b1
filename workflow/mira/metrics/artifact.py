"""Artifact index: how much structured error a degradation adds, relative to the anatomy's contrast.

Definition (used by the degradation grading, :mod:`mira.degrade.grading`)::

    AI (%) = 100 * RMS_R(degraded - reference) / SD_A(original)

* ``reference`` is the artifact-free image the degraded one is paired with (normally the clean
  image; for CT metal it is the clean image with the metal object pasted in, so the metal itself is
  not counted as an artifact, only its streaks);
* ``original`` is the clean image (its standard deviation in ``R`` is the *RMS contrast* of the
  anatomy: how much grey-level structure there is to spoil);
* ``R`` is where artifacts are counted: by default the whole field of view (every pixel), because
  ghosts, streaks and aliasing replicas land outside the body as well as inside it;
* ``A`` is the anatomy whose contrast normalises the index: the labelled body (label > 0) in the
  grading, so that the air around a patient (or the unattenuated detector area of a radiograph)
  does not inflate the contrast; by default ``R``.

An AI of 5 % means the artifacts carry a twentieth of the RMS contrast of the anatomy; bands:
mild < 5 %, moderate 5-15 %, severe > 15 %. The index is 0 for an unchanged image and grows
linearly with the artifact amplitude. It counts any difference, so it is used for the degradations
whose difference *is* the artifact (ghosting, streaks, aliasing, ringing, scatter, quantisation,
clipping, bias field); noise is graded by SNR/CNR and blur by the MTF instead.
"""
from __future__ import annotations

import numpy as np

from ..errors import ParameterError


def artifact_index(degraded: np.ndarray, reference: np.ndarray, original: np.ndarray | None = None,
                   mask: np.ndarray | None = None, contrast_mask: np.ndarray | None = None) -> float:
    """Artifact index in percent (see module docstring).

    Parameters
    ----------
    degraded, reference : array
        The degraded image and its artifact-free reference, same shape, native units.
    original : array, optional
        The clean image whose RMS contrast normalises the index (default ``reference``).
    mask : bool array, optional
        Region ``R`` where the difference is measured (default: every pixel).
    contrast_mask : bool array, optional
        Region ``A`` whose standard deviation of ``original`` normalises (default: ``R``).

    Returns
    -------
    float
        ``100 * RMS_R(degraded - reference) / SD_A(original)``; ``inf`` if the original is flat in
        ``A`` but the images differ, 0 if they are equal.
    """
    deg = np.asarray(degraded, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    org = ref if original is None else np.asarray(original, dtype=np.float64)
    if deg.shape != ref.shape or org.shape != ref.shape:
        raise ParameterError(f"shape mismatch: degraded {deg.shape}, reference {ref.shape}, original {org.shape}")
    m = _region(mask, ref.shape, "mask")
    a = m if contrast_mask is None else _region(contrast_mask, ref.shape, "contrast_mask")
    rms = float(np.sqrt(np.mean((deg[m] - ref[m]) ** 2)))
    sd = float(np.std(org[a]))
    if rms == 0.0:
        return 0.0
    return float("inf") if sd == 0.0 else 100.0 * rms / sd


def _region(mask, shape, name: str) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise ParameterError(f"{name} shape {m.shape} != image shape {shape}")
    if m.sum() < 2:
        raise ParameterError(f"{name} selects fewer than 2 pixels")
    return m

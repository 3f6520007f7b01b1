"""MRI degradations in k-space: Cartesian undersampling, truncation (Gibbs), motion ghosting, spikes; bias field.

Conventions. The stored magnitude image (2D, ``(y, x)``) is taken as the real, zero-phase complex
image; its k-space is the centred orthonormal 2D DFT (:func:`to_kspace`). Phase encoding runs along
``y`` (axis -2, k-space *lines* are rows), frequency encoding along ``x``: undersampling removes
lines, motion corrupts lines, so aliasing and ghosts appear along ``y``. Every function returns the
magnitude of the reconstruction (what a scanner stores), float64 and ``>= 0``; volumes are handled
slice by slice by :func:`mira.degrade.apply`.

References
----------
Bernstein MA, King KF, Zhou XJ (2004) Handbook of MRI Pulse Sequences, Elsevier (ch. 11, 13).
Zbontar J et al. (2018) fastMRI: an open dataset and benchmarks for accelerated MRI. arXiv:1811.08839.
Perez-Garcia F, Sparks R, Ourselin S (2021) TorchIO, Comput Methods Programs Biomed 208:106236
(RandomSpike, the model the spike degradation follows).
Sled JG, Zijdenbos AP, Evans AC (1998) A nonparametric method for automatic correction of intensity
nonuniformity in MRI data. IEEE TMI 17:87-97.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ParameterError

_AXES = (-2, -1)


def to_kspace(image: np.ndarray) -> np.ndarray:
    """Centred, orthonormal 2D DFT of the last two axes (DC at the array centre)."""
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=_AXES), axes=_AXES, norm="ortho"), axes=_AXES)


def from_kspace(kspace: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_kspace` (complex image)."""
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=_AXES), axes=_AXES, norm="ortho"), axes=_AXES)


def cartesian_mask(n_lines: int, acceleration: float, center_fraction: float = 0.08, *, pattern: str = "equispaced",
                   rng: np.random.Generator | None = None, offset: int = 0) -> np.ndarray:
    """Which phase-encode lines are acquired (boolean, length ``n_lines``, k-space centre at ``n_lines // 2``).

    Parameters
    ----------
    n_lines : int
        Phase-encode lines of a full acquisition (image rows).
    acceleration : float
        Undersampling factor ``R >= 1``: about ``n_lines / R`` lines are kept.
    center_fraction : float
        Fraction of lines around the centre always acquired (auto-calibration region), in [0, 1].
    pattern : str
        ``"equispaced"``: every ``R``-th line (plus the centre), coherent fold-over aliasing as in
        parallel imaging; ``"random"``: the outer lines drawn at random with equal probability
        (fastMRI style), incoherent aliasing. ``"random"`` needs ``rng``.
    offset : int
        First acquired line of the equispaced pattern (0 .. R-1).
    """
    n = int(n_lines)
    if n < 2:
        raise ParameterError(f"n_lines must be >= 2, got {n_lines}")
    if not np.isfinite(acceleration) or acceleration < 1:
        raise ParameterError(f"acceleration must be >= 1, got {acceleration}")
    if not 0 <= center_fraction <= 1:
        raise ParameterError(f"center_fraction must lie in [0, 1], got {center_fraction}")
    n_center = int(round(n * center_fraction))
    mask = np.zeros(n, dtype=bool)
    c0 = n // 2 - n_center // 2
    mask[c0:c0 + n_center] = True
    if pattern == "equispaced":
        step = float(acceleration)
        idx = np.round(np.arange(int(offset) % max(int(np.ceil(step)), 1), n, step)).astype(int)
        mask[idx[idx < n]] = True
    elif pattern == "random":
        if rng is None:
            raise ParameterError("pattern='random' needs an rng")
        n_more = max(int(round(n / acceleration)) - n_center, 0)
        outer = np.flatnonzero(~mask)
        if n_more:
            mask[rng.choice(outer, size=min(n_more, outer.size), replace=False)] = True
    else:
        raise ParameterError(f"pattern must be 'equispaced' or 'random', got {pattern!r}")
    return mask


def undersample(image: np.ndarray, line_mask: np.ndarray, *, return_complex: bool = False) -> np.ndarray:
    """Zero-filled reconstruction from the k-space lines selected by ``line_mask``.

    Acquired lines are kept exactly (``to_kspace(result)`` equals ``to_kspace(image)`` on them when
    ``return_complex=True``); missing lines are zero. Returns the magnitude unless ``return_complex``.
    """
    img = np.asarray(image, dtype=np.float64)
    m = np.asarray(line_mask, dtype=bool)
    if img.ndim < 2 or m.shape != (img.shape[-2],):
        raise ParameterError(f"line_mask of shape {m.shape} does not match {img.shape[-2]} phase-encode lines")
    k = to_kspace(img) * m[:, None]
    out = from_kspace(k)
    return out if return_complex else np.abs(out)


def gibbs_truncation(image: np.ndarray, keep_fraction: float | Sequence[float]) -> np.ndarray:
    """k-space truncation: only the central ``keep_fraction`` of k-space (per axis) is acquired.

    The sharp cut-off of the k-space window turns each edge into an oscillating overshoot (Gibbs
    ringing, ~9 % of the edge height) and lowers the resolution; the image grid is kept (zero filling).

    Parameters
    ----------
    keep_fraction : float or (fy, fx)
        Fraction of k-space extent kept along each axis, in (0, 1].
    """
    img = np.asarray(image, dtype=np.float64)
    fracs = np.broadcast_to(np.asarray(keep_fraction, dtype=float), (2,))
    if np.any(fracs <= 0) or np.any(fracs > 1):
        raise ParameterError(f"keep_fraction must lie in (0, 1], got {keep_fraction}")
    k = to_kspace(img)
    for axis, frac in zip(_AXES, fracs):
        n = img.shape[axis]
        keep = max(int(round(n * frac)), 1)
        win = np.zeros(n, dtype=bool)
        c0 = n // 2 - keep // 2
        win[c0:c0 + keep] = True
        shape = [1] * img.ndim
        shape[axis] = n
        k = k * win.reshape(shape)
    return np.abs(from_kspace(k))


def motion_ghosting(image: np.ndarray, spacing: Sequence[float], rng: np.random.Generator, *,
                    corrupted_fraction: float, max_shift_mm: float, center_fraction: float = 0.08) -> np.ndarray:
    """Rigid in-plane motion between phase-encode lines: linear phase errors on k-space lines (ghosts).

    A random ``corrupted_fraction`` of the lines outside the central ``center_fraction`` is acquired
    while the object is shifted by ``(dy, dx)``, each drawn uniformly in ``[-max_shift_mm, max_shift_mm]``.
    By the Fourier shift theorem such a line is multiplied by ``exp(-2 pi i (ky dy + kx dx))``; the
    inconsistent lines replicate the object along the phase-encode direction (ghosting).

    Parameters
    ----------
    spacing : (sy, sx)
        Pixel spacing, mm (shifts are given in mm).
    corrupted_fraction : float
        Fraction of outer lines acquired during motion, in [0, 1].
    max_shift_mm : float
        Largest displacement, mm (>= 0).
    """
    if not 0 <= corrupted_fraction <= 1:
        raise ParameterError(f"corrupted_fraction must lie in [0, 1], got {corrupted_fraction}")
    if max_shift_mm < 0:
        raise ParameterError(f"max_shift_mm must be >= 0, got {max_shift_mm}")
    img = np.asarray(image, dtype=np.float64)
    ny, nx = img.shape[-2:]
    sy, sx = float(spacing[-2]), float(spacing[-1])
    k = to_kspace(img)
    ky = np.fft.fftshift(np.fft.fftfreq(ny, d=sy))  # cycles/mm, centred like the k-space
    kx = np.fft.fftshift(np.fft.fftfreq(nx, d=sx))
    n_center = int(round(ny * center_fraction))
    c0 = ny // 2 - n_center // 2
    outer = np.setdiff1d(np.arange(ny), np.arange(c0, c0 + n_center))
    n_bad = int(round(corrupted_fraction * outer.size))
    bad = np.sort(rng.choice(outer, size=n_bad, replace=False)) if n_bad else np.array([], dtype=int)
    shifts = rng.uniform(-max_shift_mm, max_shift_mm, size=(bad.size, 2))
    for line, (dy, dx) in zip(bad, shifts):
        k[..., line, :] *= np.exp(-2j * np.pi * (ky[line] * dy + kx * dx))
    return np.abs(from_kspace(k))


def smooth_bias_field(shape: Sequence[int], strength: float, rng: np.random.Generator, order: int = 3) -> np.ndarray:
    """A smooth multiplicative field within ``[1 / (1 + strength), 1 + strength]``.

    ``log(field)`` is a random polynomial of total degree ``order`` in the normalised coordinates
    (coefficients ~ N(0, 1) divided by (1 + degree)), scaled so that its largest absolute value is
    ``log(1 + strength)`` -- the coil-sensitivity / B1 nonuniformity model of N4-style correction.
    """
    if strength < 0 or not np.isfinite(strength):
        raise ParameterError(f"strength must be >= 0, got {strength}")
    if order < 1:
        raise ParameterError(f"order must be >= 1, got {order}")
    grids = np.meshgrid(*[np.linspace(-1.0, 1.0, int(n)) for n in shape], indexing="ij")
    log_field = np.zeros(tuple(int(n) for n in shape))
    from itertools import product

    for powers in product(range(order + 1), repeat=len(shape)):
        deg = sum(powers)
        if deg == 0 or deg > order:
            continue
        term = np.ones_like(log_field)
        for g, p in zip(grids, powers):
            term = term * g ** p
        log_field += rng.normal() / (1.0 + deg) * term
    peak = float(np.abs(log_field).max())
    if peak == 0 or strength == 0:
        return np.ones_like(log_field)
    return np.exp(log_field * (np.log1p(strength) / peak))


def bias_field(image: np.ndarray, strength: float, rng: np.random.Generator, order: int = 3) -> np.ndarray:
    """Multiply ``image`` by a smooth bias field (:func:`smooth_bias_field`) of relative ``strength``."""
    img = np.asarray(image, dtype=np.float64)
    return img * smooth_bias_field(img.shape, strength, rng, order)


def kspace_spikes(image: np.ndarray, positions: Sequence[Sequence[float]], intensity: float | Sequence[float],
                  phases: Sequence[float] | None = None) -> np.ndarray:
    """Spike (herringbone, corduroy) artifact: a few corrupted k-space points of high amplitude.

    A burst of RF interference or an electrostatic discharge during readout puts one very bright
    point into k-space. By the Fourier transform a point at spatial frequency ``(fy, fx)`` is a 2D
    plane wave in the image, so the magnitude image is overlaid by straight stripes across the whole
    field of view, perpendicular to ``(fy, fx)`` with period ``1 / |f|`` pixels; several spikes give
    the criss-cross (herringbone) pattern.

    Parameters
    ----------
    image : (..., ny, nx) array
        Magnitude image (a.u., >= 0).
    positions : sequence of (fy, fx)
        Spike positions in k-space as spatial frequencies in cycles/pixel, each in [-0.5, 0.5)
        (0 = the k-space centre); rounded to the nearest k-space sample.
    intensity : float or sequence of float
        Spike amplitude relative to the magnitude of the k-space centre (>= 0; one per spike or one
        for all). With the orthonormal DFT the centre is ``mean(image) * sqrt(ny nx)``, so the stripes
        have an amplitude of ``intensity * mean(image)`` in the image, whatever the matrix size.
    phases : sequence of float, optional
        Phase of each spike, radians (default 0): shifts the stripes.

    Returns
    -------
    array
        Magnitude of the reconstruction (float64, >= 0), same shape as ``image``.
    """
    img = np.asarray(image, dtype=np.float64)
    pos = np.asarray(positions, dtype=float).reshape(-1, 2)
    if np.any(~np.isfinite(pos)) or np.any(pos < -0.5) or np.any(pos >= 0.5):
        raise ParameterError(f"spike positions must be (fy, fx) in cycles/pixel within [-0.5, 0.5), got {positions}")
    amp = np.broadcast_to(np.asarray(intensity, dtype=float), (len(pos),))
    if np.any(~np.isfinite(amp)) or np.any(amp < 0):
        raise ParameterError(f"intensity must be >= 0, got {intensity}")
    ph = np.zeros(len(pos)) if phases is None else np.asarray(phases, dtype=float).reshape(-1)
    if ph.shape != (len(pos),):
        raise ParameterError(f"need one phase per spike ({len(pos)}), got {phases}")
    ny, nx = img.shape[-2:]
    k = to_kspace(img)
    peak = np.abs(k[..., ny // 2, nx // 2])
    for (fy, fx), a, p in zip(pos, amp, ph):
        iy, ix = (ny // 2 + int(round(fy * ny))) % ny, (nx // 2 + int(round(fx * nx))) % nx
        k[..., iy, ix] += a * peak * np.exp(1j * p)
    return np.abs(from_kspace(k))


def draw_spikes(n_spikes: int, rng: np.random.Generator, min_frequency: float = 0.05) -> tuple[list, list]:
    """Draw ``n_spikes`` spike positions ``(fy, fx)`` (cycles/pixel, ``min_frequency <= |f|``, each
    component in [-0.5, 0.5)) and phases (radians, uniform in [0, 2 pi)), rounded for the record."""
    if int(n_spikes) != n_spikes or n_spikes < 1:
        raise ParameterError(f"n_spikes must be an integer >= 1, got {n_spikes}")
    if not 0 <= min_frequency < 0.5:
        raise ParameterError(f"min_frequency must lie in [0, 0.5), got {min_frequency}")
    positions: list[list[float]] = []
    while len(positions) < int(n_spikes):
        f = rng.uniform(-0.5, 0.5, size=2)
        if np.hypot(*f) >= min_frequency:
            positions.append([round(float(f[0]), 4), round(float(f[1]), 4)])
    phases = [round(float(p), 4) for p in rng.uniform(0.0, 2 * np.pi, size=int(n_spikes))]
    return positions, phases

"""Classical denoisers: Gaussian, median, bilateral, non-local means, wavelet, total variation, BM3D.

Every public function takes an image in the modality's native units (HU for CT) and returns the
denoised image in the same units and shape (2D, or 3D: natively where the library supports volumes,
slice by slice along axis 0 otherwise). The work happens in the modality's *noise domain*
(:mod:`mira.restore.noise_models`: CT window normalisation, Rician bias correction for MRI, log-domain
speckle handling for ultrasound); ``noise_model=False`` keeps only the window normalisation.

Parameters follow the noise level ``sigma`` (native units; estimated by the wavelet MAD when not
given) unless set explicitly. The constants tying them to ``sigma`` were chosen once on the
*training* phantoms at moderate noise (never the test split) and are the defaults below.

References
----------
Tomasi C, Manduchi R (1998) Bilateral filtering for gray and color images. ICCV.
Buades A, Coll B, Morel JM (2005) A non-local algorithm for image denoising. CVPR.
Donoho DL, Johnstone IM (1994) Ideal spatial adaptation by wavelet shrinkage. Biometrika 81:425-455.
Chang SG, Yu B, Vetterli M (2000) Adaptive wavelet thresholding for image denoising. IEEE TIP 9:1532-1546.
Chambolle A (2004) An algorithm for total variation minimization and applications. JMIV 20:89-97.
Dabov K et al. (2007) Image denoising by sparse 3-D transform-domain collaborative filtering. IEEE TIP 16:2080-2095.
Stein CM (1981) Estimation of the mean of a multivariate normal distribution. Ann Stat 9:1135-1151.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .noise_models import noise_domain

#: Candidate Gaussian widths (pixels) searched by SURE in :func:`denoise_gaussian`.
GAUSSIAN_SIGMAS_PX = tuple(round(float(v), 3) for v in np.geomspace(0.3, 3.0, 21))
#: Bilateral range sigma per noise sigma.
BILATERAL_COLOR_PER_SIGMA = 1.0
#: Non-local means filter strength ``h`` per noise sigma (scikit-image recommends 0.6-0.8 with fast_mode).
NLM_H_PER_SIGMA = 0.8
#: Total-variation weight per noise sigma (working units, Chambolle's algorithm).
TV_WEIGHT_PER_SIGMA = 0.5


def _as_image(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ParameterError(f"denoisers take 2D or 3D images, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ParameterError("image contains NaN or inf")
    return img


def _slicewise(fn: Callable[[np.ndarray], np.ndarray], u: np.ndarray) -> np.ndarray:
    return fn(u) if u.ndim == 2 else np.stack([fn(s) for s in u])


def _run(core: Callable[[np.ndarray, float], np.ndarray], image, profile: ModalityProfile, sigma: float | None,
         noise_model: bool) -> np.ndarray:
    dom = noise_domain(profile, noise_model)
    img = _as_image(image)
    u = dom.forward(img, sigma)
    return dom.inverse(core(u, dom.sigma))


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value}")
    return v


# ---- Gaussian --------------------------------------------------------------------------------------


def _gaussian_sure(u: np.ndarray, sigma: float, candidates=GAUSSIAN_SIGMAS_PX) -> float:
    """Gaussian width (px) minimising Stein's unbiased risk estimate for noise ``sigma``.

    For a linear filter ``H``: ``SURE = ||Hy - y||^2 - N sigma^2 + 2 sigma^2 tr(H)``; ``tr(H)`` is
    ``N`` times the kernel's centre weight, measured by filtering a unit impulse.
    """
    if sigma <= 0:
        return float(candidates[0])
    best, best_risk = candidates[0], np.inf
    for s in candidates:
        filtered = ndi.gaussian_filter(u, s, mode="nearest")
        impulse = np.zeros((9,) * u.ndim)
        impulse[(4,) * u.ndim] = 1.0
        centre = float(ndi.gaussian_filter(impulse, s, mode="constant")[(4,) * u.ndim])
        risk = float(np.sum((filtered - u) ** 2)) - u.size * sigma ** 2 + 2 * sigma ** 2 * u.size * centre
        if risk < best_risk:
            best, best_risk = s, risk
    return float(best)


def denoise_gaussian(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None,
                     sigma_px: float | None = None, noise_model: bool = True) -> np.ndarray:
    """Gaussian low-pass filter (:func:`scipy.ndimage.gaussian_filter`).

    Parameters
    ----------
    image : array
        2D or 3D image, native units.
    profile : ModalityProfile
        The resolved modality profile (its metric window defines the noise domain's working scale).
    sigma : float, optional
        Noise standard deviation in native units (default: wavelet MAD estimate).
    sigma_px : float, optional
        Filter standard deviation in pixels (> 0). Default: the width among
        :data:`GAUSSIAN_SIGMAS_PX` that minimises Stein's unbiased risk estimate for the noise level.
    noise_model : bool
        Use the modality's noise domain (see :mod:`mira.restore.noise_models`).

    Returns
    -------
    array
        Denoised image, native units.
    """
    if sigma_px is not None:
        _positive("sigma_px", sigma_px)

    def core(u, s):
        width = sigma_px if sigma_px is not None else _gaussian_sure(u, s)
        return ndi.gaussian_filter(u, width, mode="nearest")

    return _run(core, image, profile, sigma, noise_model)


# ---- median ----------------------------------------------------------------------------------------


#: Median footprints searched by SURE in :func:`denoise_median`: 3x3 cross, 3x3 square, 5x5 diamond, 5x5 square.
MEDIAN_FOOTPRINTS = ("cross3", "square3", "diamond5", "square5")


def _footprint(name: str, ndim: int) -> np.ndarray:
    if name == "cross3":
        return ndi.generate_binary_structure(ndim, 1)
    if name == "square3":
        return np.ones((3,) * ndim, dtype=bool)
    if name == "diamond5":
        return ndi.iterate_structure(ndi.generate_binary_structure(ndim, 1), 2)
    if name == "square5":
        return np.ones((5,) * ndim, dtype=bool)
    raise ParameterError(f"unknown median footprint {name!r} (known: {', '.join(MEDIAN_FOOTPRINTS)})")


def _median_sure(u: np.ndarray, sigma: float, candidates=MEDIAN_FOOTPRINTS) -> tuple[str, np.ndarray]:
    """Median footprint minimising Stein's unbiased risk estimate for noise ``sigma``.

    The median returns one of its input pixels, so its divergence is the number of pixels the filter
    leaves unchanged (``d f_i / d y_i`` is 1 there and 0 elsewhere, almost surely):
    ``SURE = ||f(y) - y||^2 - N sigma^2 + 2 sigma^2 #{i: f_i = y_i}``.
    """
    best = None
    for name in candidates:
        f = ndi.median_filter(u, footprint=_footprint(name, u.ndim), mode="nearest")
        risk = float(np.sum((f - u) ** 2)) - u.size * sigma ** 2 + 2 * sigma ** 2 * float(np.count_nonzero(f == u))
        if best is None or risk < best[0]:
            best = (risk, name, f)
    return best[1], best[2]


def denoise_median(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None,
                   footprint: str | None = None, noise_model: bool = True) -> np.ndarray:
    """Median filter (:func:`scipy.ndimage.median_filter`), robust to impulsive noise.

    Parameters
    ----------
    footprint : str, optional
        ``"cross3"`` (3x3 cross, 5 pixels), ``"square3"`` (3x3), ``"diamond5"`` (radius-2 diamond,
        13 pixels) or ``"square5"`` (5x5). Default: the one with the smallest Stein's unbiased risk
        estimate for the noise level (the median's divergence is the number of unchanged pixels).
    sigma, noise_model
        As in :func:`denoise_gaussian`.
    """
    if footprint is not None:
        _footprint(footprint, 2)

    def core(u, s):
        if footprint is not None:
            return ndi.median_filter(u, footprint=_footprint(footprint, u.ndim), mode="nearest")
        return _median_sure(u, s)[1]

    return _run(core, image, profile, sigma, noise_model)


# ---- bilateral -------------------------------------------------------------------------------------


def denoise_bilateral(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None,
                      sigma_color: float | None = None, sigma_spatial: float = 1.5,
                      noise_model: bool = True) -> np.ndarray:
    """Bilateral filter (:func:`skimage.restoration.denoise_bilateral`), slice by slice for volumes.

    Parameters
    ----------
    sigma_color : float, optional
        Range (intensity) standard deviation in working units (CT: fraction of the 2000 HU window).
        Default ``BILATERAL_COLOR_PER_SIGMA * sigma``.
    sigma_spatial : float
        Spatial standard deviation in pixels (> 0).
    sigma, noise_model
        As in :func:`denoise_gaussian`.
    """
    from skimage.restoration import denoise_bilateral as _bilateral

    _positive("sigma_spatial", sigma_spatial)
    if sigma_color is not None:
        _positive("sigma_color", sigma_color)

    def core(u, s):
        sc = sigma_color if sigma_color is not None else max(BILATERAL_COLOR_PER_SIGMA * s, 1e-4)
        win = int(2 * np.ceil(3 * sigma_spatial) + 1)
        return _slicewise(lambda x: _bilateral(x, win_size=win, sigma_color=sc, sigma_spatial=sigma_spatial,
                                               mode="edge"), u)

    return _run(core, image, profile, sigma, noise_model)


# ---- non-local means --------------------------------------------------------------------------------


def denoise_nl_means(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None, h: float | None = None,
                     patch_size: int = 5, patch_distance: int = 6, noise_model: bool = True) -> np.ndarray:
    """Non-local means (:func:`skimage.restoration.denoise_nl_means`, fast mode, noise variance removed).

    Parameters
    ----------
    h : float, optional
        Filter strength in working units; default ``NLM_H_PER_SIGMA * sigma``.
    patch_size, patch_distance : int
        Patch side and search radius, pixels.
    sigma, noise_model
        As in :func:`denoise_gaussian`.
    """
    from skimage.restoration import denoise_nl_means as _nlm

    if h is not None:
        _positive("h", h)
    if patch_size < 1 or patch_distance < 1:
        raise ParameterError(f"patch_size and patch_distance must be >= 1, got {patch_size}, {patch_distance}")

    def core(u, s):
        strength = h if h is not None else max(NLM_H_PER_SIGMA * s, 1e-6)
        return _nlm(u, h=strength, sigma=s, fast_mode=True, patch_size=int(patch_size),
                    patch_distance=int(patch_distance))

    return _run(core, image, profile, sigma, noise_model)


# ---- wavelet ----------------------------------------------------------------------------------------


def _wavelet(image, profile, sigma, method, wavelet, levels, noise_model):
    from skimage.restoration import denoise_wavelet as _dw

    if int(levels) != levels or levels < 1:
        raise ParameterError(f"wavelet levels must be an integer >= 1, got {levels}")

    def core(u, s):
        return _dw(u, sigma=s if s > 0 else None, wavelet=wavelet, mode="soft", wavelet_levels=int(levels),
                   method=method, rescale_sigma=True)

    return _run(core, image, profile, sigma, noise_model)


def denoise_wavelet_visushrink(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None,
                               wavelet: str = "db4", levels: int = 3, noise_model: bool = True) -> np.ndarray:
    """Wavelet soft thresholding with the universal (VisuShrink) threshold ``sigma sqrt(2 ln N)``.

    :func:`skimage.restoration.denoise_wavelet` with ``method="VisuShrink"``, a ``db4`` wavelet and 3
    levels; ``sigma`` defaults to the MAD estimate of the finest diagonal detail band
    (``median(|d|) / 0.6745``, Donoho & Johnstone 1994).
    """
    return _wavelet(image, profile, sigma, "VisuShrink", wavelet, levels, noise_model)


def denoise_wavelet_bayesshrink(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None,
                                wavelet: str = "db4", levels: int = 3, noise_model: bool = True) -> np.ndarray:
    """Wavelet soft thresholding with a BayesShrink threshold per sub-band ``sigma^2 / sigma_x``.

    As :func:`denoise_wavelet_visushrink` with ``method="BayesShrink"`` (Chang, Yu & Vetterli 2000).
    """
    return _wavelet(image, profile, sigma, "BayesShrink", wavelet, levels, noise_model)


# ---- total variation ---------------------------------------------------------------------------------


def denoise_tv(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None, weight: float | None = None,
               noise_model: bool = True) -> np.ndarray:
    """Total-variation denoising (:func:`skimage.restoration.denoise_tv_chambolle`).

    Parameters
    ----------
    weight : float, optional
        TV weight in working units (greater = smoother); default ``TV_WEIGHT_PER_SIGMA * sigma``.
    sigma, noise_model
        As in :func:`denoise_gaussian`.
    """
    from skimage.restoration import denoise_tv_chambolle

    if weight is not None:
        _positive("weight", weight)

    def core(u, s):
        w = weight if weight is not None else max(TV_WEIGHT_PER_SIGMA * s, 1e-6)
        return denoise_tv_chambolle(u, weight=w)

    return _run(core, image, profile, sigma, noise_model)


# ---- BM3D ---------------------------------------------------------------------------------------------


def denoise_bm3d(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None, noise_model: bool = True,
                 bm3d_profile: str = "np") -> np.ndarray:
    """BM3D collaborative filtering (the ``bm3d`` package, both stages), slice by slice for volumes.

    Parameters
    ----------
    profile : ModalityProfile
        As in :func:`denoise_gaussian`.
    sigma : float, optional
        Noise standard deviation in native units (default: wavelet MAD estimate); passed to BM3D as
        the white-noise ``sigma_psd`` in working units.
    bm3d_profile : str
        BM3D parameter profile (``"np"`` normal, ``"refilter"``, ``"vn"``, ``"high"``, ``"deb"``).
    noise_model
        As in :func:`denoise_gaussian`.

    Notes
    -----
    The ``bm3d`` binary runs on all cores by default and then sums in a varying order: four calls on
    the same image gave four different outputs. It is run on one thread here, which makes it
    bit-reproducible (and is what the pipeline's one-thread jobs get anyway).
    """
    import bm3d

    prof = _bm3d_profile(bm3d_profile)

    def core(u, s):
        if s <= 0:
            return u.copy()
        return _slicewise(lambda x: np.asarray(bm3d.bm3d(x, sigma_psd=s, profile=prof,
                                                         stage_arg=bm3d.BM3DStages.ALL_STAGES), dtype=np.float64), u)

    return _run(core, image, profile, sigma, noise_model)


def _bm3d_profile(name: str):
    """The ``bm3d`` profile ``name`` (``np``, ``refilter``, ``vn``, ``high``, ``deb``...), single-threaded."""
    import bm3d

    classes = {"np": bm3d.BM3DProfile, "refilter": bm3d.BM3DProfileRefilter, "vn": bm3d.BM3DProfileVN,
               "high": bm3d.BM3DProfileHigh, "deb": bm3d.BM3DProfileDeb, "lc": bm3d.BM3DProfileLC}
    if name not in classes:
        raise ParameterError(f"bm3d: unknown profile {name!r} (known: {', '.join(classes)})")
    prof = classes[name]()
    prof.num_threads = 1
    return prof


#: Registry of the classical denoisers: method name -> function.
DENOISERS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": denoise_gaussian,
    "median": denoise_median,
    "bilateral": denoise_bilateral,
    "nlm": denoise_nl_means,
    "wavelet_visushrink": denoise_wavelet_visushrink,
    "wavelet_bayesshrink": denoise_wavelet_bayesshrink,
    "tv": denoise_tv,
    "bm3d": denoise_bm3d,
}

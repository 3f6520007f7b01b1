"""Image restoration: classical denoisers, interpolation super-resolution and deep networks.

Library use::

    from mira.modalities import get_profile
    from mira.restore import restore, methods
    ct, mri = get_profile("ct"), get_profile("mri")     # or Settings.profile("ct") (config overrides)
    clean = restore("bm3d", noisy_ct_slice, ct)                          # sigma estimated, HU in, HU out
    clean = restore("nlm", noisy_mri, mri, sigma=0.03)                    # Rician bias corrected
    hr = restore("bicubic", lr_image, ct, scale=2)                        # interpolation SR
    hr = restore("edsr", lr_image, ct, scale=2, model="results/models/edsr/x2/model.pt")
    clean = restore("dncnn", noisy_ct_slice, ct, model="results/models/dncnn/ct/model.pt")

Methods (:data:`METHODS`): denoisers ``gaussian``, ``median``, ``bilateral``, ``nlm``,
``wavelet_visushrink``, ``wavelet_bayesshrink``, ``tv``, ``bm3d`` (:mod:`.classical`, noise-model aware
through :mod:`.noise_models`), ``zs_n2n`` (:mod:`.zero_shot`: a small network fitted to the image itself,
same noise domains) and ``dncnn``; super-resolution ``nearest``, ``bilinear``, ``bicubic``,
``lanczos`` (:mod:`.interpolation`), ``srcnn`` and ``edsr`` (:mod:`.models`, trained by
:mod:`.training`, applied by :mod:`.inference`). ``input`` is the identity (the unrestored baseline).
:mod:`mira.study.restore_stage` restores the degradation stage's paired folders and writes tidy
per-case metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile, as_profile
from .classical import DENOISERS
from .interpolation import KERNELS, check_scale, upscale
from .zero_shot import ZERO_SHOT


@dataclass(frozen=True)
class Method:
    """One restoration method.

    Attributes
    ----------
    name : str
        Registry name (the ``method`` wildcard of the pipeline).
    task : str
        ``"denoise"`` (output on the input grid) or ``"sr"`` (output ``scale`` times larger).
    family : str
        ``"baseline"``, ``"classical"``, ``"zero-shot"`` (fits a network to the image itself: no
        trained model, runs with the classical denoisers), ``"interpolation"`` or ``"deep"`` (needs a
        trained model).
    summary : str
        One line for tables and the README.
    """

    name: str
    task: str
    family: str
    summary: str

    @property
    def deep(self) -> bool:
        return self.family == "deep"


_SUMMARIES = {
    "input": "the degraded input itself (no restoration)",
    "gaussian": "Gaussian filter, width chosen by SURE for the noise level",
    "median": "median filter, 3x3 (5x5 at high noise)",
    "bilateral": "bilateral filter, range sigma 2 x noise sigma, spatial 1.5 px",
    "nlm": "non-local means (fast mode), h = 0.8 x noise sigma, 5x5 patches, radius 6",
    "wavelet_visushrink": "db4 wavelet, 3 levels, soft threshold, VisuShrink (universal threshold)",
    "wavelet_bayesshrink": "db4 wavelet, 3 levels, soft threshold, BayesShrink (per sub-band)",
    "tv": "total variation (Chambolle), weight = noise sigma",
    "bm3d": "BM3D (bm3d package, both stages), sigma = noise sigma",
    "zs_n2n": "Zero-Shot Noise2Noise: 3-layer residual CNN fitted to the image itself, 500 Adam steps",
    "dncnn": "DnCNN (residual learning, batch norm), trained per modality, blind",
    "nearest": "nearest-neighbour upscaling",
    "bilinear": "bilinear upscaling",
    "bicubic": "bicubic upscaling (Keys, a = -0.5)",
    "lanczos": "Lanczos-3 upscaling",
    "srcnn": "SRCNN 9-1-5 on the bicubic upsampling, trained per scale",
    "edsr": "EDSR-style residual network with pixel-shuffle upsampling, trained per scale",
}

METHODS: dict[str, Method] = {"input": Method("input", "denoise", "baseline", _SUMMARIES["input"])}
METHODS.update({n: Method(n, "denoise", "classical", _SUMMARIES[n]) for n in DENOISERS})
METHODS.update({n: Method(n, "denoise", "zero-shot", _SUMMARIES[n]) for n in ZERO_SHOT})
METHODS["dncnn"] = Method("dncnn", "denoise", "deep", _SUMMARIES["dncnn"])
METHODS.update({n: Method(n, "sr", "interpolation", _SUMMARIES[n]) for n in KERNELS})
METHODS.update({n: Method(n, "sr", "deep", _SUMMARIES[n]) for n in ("srcnn", "edsr")})

DENOISE_METHODS = tuple(n for n, m in METHODS.items() if m.task == "denoise")
SR_METHODS = tuple(n for n, m in METHODS.items() if m.task == "sr")
DEEP_METHODS = tuple(n for n, m in METHODS.items() if m.deep)


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name``; ParameterError naming the known ones otherwise."""
    m = METHODS.get(str(name))
    if m is None:
        raise ParameterError(f"unknown restoration method {name!r} (known: {', '.join(METHODS)})")
    return m


def methods(task: str | None = None, family: str | None = None) -> tuple[str, ...]:
    """Names of the registered methods, optionally of one task (``denoise``/``sr``) or family."""
    return tuple(n for n, m in METHODS.items()
                 if (task is None or m.task == task) and (family is None or m.family == family))


def restore(method: str, image: np.ndarray, profile: ModalityProfile | str, *, scale: int | None = None,
            sigma: float | None = None, model: Any = None, noise_model: bool = True, **params: Any) -> np.ndarray:
    """Restore ``image`` (native units) with the registered ``method``.

    Parameters
    ----------
    method : str
        A name of :data:`METHODS`.
    image : array
        2D ``(y, x)`` or 3D ``(z, y, x)`` image in the modality's native units (the degraded image for
        denoisers, the low-resolution image for super-resolution).
    profile : ModalityProfile
        The resolved modality profile (``Settings.profile(m)``; its metric window is the working scale of
        the denoisers and networks, its value range the output clip). A modality name (``"ct"``...) is
        accepted for now and means the built-in profile, without config overrides.
    scale : int, optional
        Super-resolution factor (required for interpolation; checked against deep models).
    sigma : float, optional
        Classical and zero-shot denoisers: noise standard deviation in native units (default: estimated).
    model : path or LoadedModel, optional
        Deep methods: the checkpoint (``model.pt`` with its JSON sidecar) or a loaded model.
    noise_model : bool
        Classical and zero-shot denoisers: use the modality's noise domain (Rician / log-speckle / HU window).
    **params
        Method parameters (e.g. ``h`` for ``nlm``, ``weight`` for ``tv``, ``iterations`` and ``seed`` for
        ``zs_n2n``, ``guard`` for ``dncnn``: the noise-consistency guard of
        :func:`mira.restore.inference.apply_model`, ``None`` for the raw network output).

    Returns
    -------
    array
        Restored image, native units, clipped to the modality's physical range.

    Raises
    ------
    ParameterError
        Unknown method, wrong scale, a scale for a denoiser, parameters for a method without them.
    InputError
        Missing or unreadable model checkpoint.
    """
    m = get_method(method)
    prof = as_profile(profile)
    img = np.asarray(image, dtype=np.float64)
    if m.task == "denoise" and scale not in (None, 1):
        raise ParameterError(f"{method} is a denoiser: no scale (got {scale})")
    if m.task == "sr" and m.family == "interpolation":
        if scale is None:
            raise ParameterError(f"{method}: super-resolution needs a scale (2, 3, 4, ...)")
        if params:
            raise ParameterError(f"{method}: unexpected parameters {sorted(params)}")
        return upscale(img, check_scale(scale), method, prof)
    if m.deep:
        from .inference import DEFAULT_GUARD, LoadedModel, apply_model, load_model

        if model is None:
            raise ParameterError(f"{method} needs a trained model (model=path/to/model.pt)")
        loaded = model if isinstance(model, LoadedModel) else load_model(model)
        if loaded.architecture != m.name:
            raise ParameterError(f"{loaded.path}: is a {loaded.architecture} model, not {m.name}")
        guard = params.pop("guard", DEFAULT_GUARD) if m.task == "denoise" else None
        if params:
            raise ParameterError(f"{method}: unexpected parameters {sorted(params)}")
        return apply_model(loaded, img, prof, scale=scale, guard=guard)
    if m.name == "input":
        if img.ndim not in (2, 3):
            raise ParameterError(f"images must be 2D or 3D, got shape {img.shape}")
        return img.copy()
    fn: Callable[..., np.ndarray] = ZERO_SHOT[m.name] if m.family == "zero-shot" else DENOISERS[m.name]
    try:
        return fn(img, prof, sigma=sigma, noise_model=noise_model, **params)
    except TypeError as exc:
        raise ParameterError(f"{method}: bad parameters {sorted(params)} ({exc})") from None


__all__ = ["METHODS", "DENOISE_METHODS", "SR_METHODS", "DEEP_METHODS", "Method", "get_method", "methods", "restore"]

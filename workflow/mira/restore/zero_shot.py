"""Zero-shot denoising: a small network fitted to the one image being restored, no training data.

Zero-Shot Noise2Noise (ZS-N2N, Mansour & Heckel 2023). Two fixed diagonal 2x2 filters with stride 2,
``d1 = [[0, 1/2], [1/2, 0]]`` and ``d2 = [[1/2, 0], [0, 1/2]]``, split the noisy image ``y`` into two
half-resolution images whose noise is independent (pixel-independent noise assumed) while their
signals are nearly equal. A tiny residual network ``f`` (predicting the noise: three convolutions,
3x3 -> 3x3 -> 1x1, ``width`` channels, LeakyReLU 0.2, ~22 000 weights at width 48) is fitted to

    residual     1/2 (||d1 y - f(d1 y) - d2 y||^2 + ||d2 y - f(d2 y) - d1 y||^2)
    consistency  1/2 (||d1 (y - f(y)) - (d1 y - f(d1 y))||^2 + ||d2 (y - f(y)) - (d2 y - f(d2 y))||^2)

(mean squared errors) with Adam (``lr``, halved after half of the ``iterations``: the authors' step
decay); the output is ``y - f(y)``. Each 2D image (each slice of a volume, along axis 0) gets its
own network.

Like the classical denoisers the network works in the modality's noise domain
(:mod:`mira.restore.noise_models`): CT window normalisation (-1000..1000 HU -> 0..1), Rician bias
correction after MRI denoising (the fitted ``y - f(y)`` estimates the mean magnitude, which the
correction maps to the amplitude), log-speckle bias correction and sector masking for ultrasound.
The noise level ``sigma`` is not used by the network itself (it is blind); it only feeds those
corrections (default: the wavelet MAD estimate).

Applicability. The half-images are independent only for noise that is independent from pixel to
pixel (white Gaussian, Rician, Poisson): then ``d2 y`` is a noisy target for ``d1 y`` as in
Noise2Noise. Spatially correlated noise (CT low-dose noise after filtered back projection, the
speckle grain of ultrasound) is partly shared by neighbouring pixels, so the network learns it as
signal and removes little of it.

Odd sizes: the image is padded to even height and width by edge replication for the 2x2 split and
the padding is cropped from the output. Constant slices are returned unchanged.

Determinism: the weights are initialised under ``torch.manual_seed(derive_seed(seed, "zs_n2n",
slice))`` in a forked RNG, and training runs under :class:`mira.seeding.deterministic_torch`, so on
the CPU the same image, parameters, seed and torch thread count give identical bytes. The thread
count is torch's current setting (never changed here). On a GPU (``device="auto"`` picks CUDA when
``torch.cuda.is_available()``) results are close to, but not bit-equal with, the CPU ones.

Cost: ``iterations`` forward/backward passes over 1.5 times the image (the full image and two
half-images): measured ~0.45 s of CPU per iteration for a 256 x 256 image and ~2.3 s for 512 x 512
(width 48, one core), i.e. minutes per slice at the default, linear in pixels and slices; a GPU
makes it seconds. It is not among the default methods of the pipeline for that reason.

Reference
---------
Mansour Y, Heckel R (2023) Zero-Shot Noise2Noise: efficient image denoising without any data. CVPR,
pp. 14018-14027.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile
from ..seeding import derive_seed
from .noise_models import noise_domain

#: Default number of Adam iterations per 2D image (the paper uses 2000; see the module docstring).
ZS_N2N_ITERATIONS = 500
#: Default number of feature channels of the two hidden convolutions (the paper's 48).
ZS_N2N_WIDTH = 48
#: Default Adam learning rate (the paper's 1e-3); halved after half of the iterations.
ZS_N2N_LR = 1e-3
#: Default seed of the weight initialisation.
ZS_N2N_SEED = 0


def _check(iterations: Any, width: Any, lr: Any, seed: Any) -> tuple[int, int, float, int]:
    """Validated ``(iterations, width, lr, seed)``; ParameterError naming the argument otherwise."""
    def integer(name: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ParameterError(f"zs_n2n: {name} must be an integer in {low}..{high}, got {value!r}")
        return int(value)

    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not np.isfinite(lr) \
            or not 0 < lr <= 1:
        raise ParameterError(f"zs_n2n: lr must be a number in (0, 1], got {lr!r}")
    return (integer("iterations", iterations, 1, 100_000), integer("width", width, 1, 512), float(lr),
            integer("seed", seed, 0, 2 ** 63 - 1))


def _network(width: int):
    """The ZS-N2N network: conv 3x3 (1 -> width), conv 3x3 (width -> width), conv 1x1 (width -> 1), LeakyReLU 0.2."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(width, 1, 1))


def _pair_downsampler(x):
    """The two half-resolution images ``d1 x``, ``d2 x`` of a ``(n, 1, 2h, 2w)`` tensor (diagonal 2x2 means)."""
    import torch.nn.functional as F

    k1 = x.new_tensor([[[[0.0, 0.5], [0.5, 0.0]]]])
    k2 = x.new_tensor([[[[0.5, 0.0], [0.0, 0.5]]]])
    return F.conv2d(x, k1, stride=2), F.conv2d(x, k2, stride=2)


def zs_n2n_loss(net: Callable, y) -> Any:
    """The ZS-N2N objective (residual + consistency, module docstring) of network ``net`` on ``y``.

    ``y`` is a ``(n, 1, H, W)`` float tensor with even ``H`` and ``W``; returns a scalar tensor.
    """
    import torch.nn.functional as F

    y1, y2 = _pair_downsampler(y)
    p1, p2 = y1 - net(y1), y2 - net(y2)
    residual = 0.5 * (F.mse_loss(p1, y2) + F.mse_loss(p2, y1))
    c1, c2 = _pair_downsampler(y - net(y))
    consistency = 0.5 * (F.mse_loss(p1, c1) + F.mse_loss(p2, c2))
    return residual + consistency


def fit_zs_n2n(u: np.ndarray, *, iterations: int = ZS_N2N_ITERATIONS, width: int = ZS_N2N_WIDTH,
               lr: float = ZS_N2N_LR, seed: int = ZS_N2N_SEED, device: str = "auto") -> np.ndarray:
    """Fit a ZS-N2N network to one 2D image and return the denoised image ``u - f(u)``.

    Parameters
    ----------
    u : array
        2D image ``(y, x)`` in any units (the denoisers pass the working domain, ~0..1); any size,
        odd sizes padded by edge replication for the 2x2 split and cropped back.
    iterations, width, lr, seed, device
        As in :func:`denoise_zs_n2n`; ``seed`` is used as given (the weight initialisation's torch seed).

    Returns
    -------
    array
        Denoised image, float64, same shape and units as ``u``. A constant image is returned unchanged.
    """
    import torch

    from ..nn.device import resolve_device
    from ..nn.fit import seeded
    from ..seeding import deterministic_torch

    img = np.asarray(u, dtype=np.float64)
    if img.ndim != 2:
        raise ParameterError(f"zs_n2n: fit_zs_n2n takes a 2D image, got shape {img.shape}")
    if img.size == 0 or np.ptp(img) == 0:
        return img.copy()
    dev = resolve_device(device)
    h, w = img.shape
    padded = np.pad(img, ((0, h % 2), (0, w % 2)), mode="edge")
    y = torch.from_numpy(np.ascontiguousarray(padded, dtype=np.float32))[None, None].to(dev)
    with deterministic_torch(), seeded(seed, dev):
        net = _network(width).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, iterations // 2), gamma=0.5)
        for _ in range(iterations):
            opt.zero_grad(set_to_none=True)
            zs_n2n_loss(net, y).backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            out = (y - net(y))[0, 0].cpu().numpy().astype(np.float64)
    return out[:h, :w]


def denoise_zs_n2n(image: np.ndarray, profile: ModalityProfile, *, sigma: float | None = None,
                   noise_model: bool = True, iterations: int = ZS_N2N_ITERATIONS, width: int = ZS_N2N_WIDTH,
                   lr: float = ZS_N2N_LR, seed: int = ZS_N2N_SEED, device: str = "auto") -> np.ndarray:
    """Zero-Shot Noise2Noise denoising of one image (module docstring), slice by slice for volumes.

    Parameters
    ----------
    image : array
        2D ``(y, x)`` or 3D ``(z, y, x)`` image in the modality's native units (HU for CT); any size.
    profile : ModalityProfile
        The resolved modality profile: its metric window is the working scale (CT -1000..1000 HU ->
        0..1), its value range the output clip.
    sigma : float, optional
        Noise standard deviation in native units (>= 0), used only by the noise domain's bias
        corrections (MRI Rician, ultrasound log-speckle); default: the wavelet MAD estimate.
    noise_model : bool
        Use the modality's noise domain (:mod:`mira.restore.noise_models`); False: window
        normalisation only.
    iterations : int
        Adam steps per 2D image, 1..100000 (default :data:`ZS_N2N_ITERATIONS`; the paper's 2000).
    width : int
        Channels of the hidden convolutions, 1..512 (default 48).
    lr : float
        Adam learning rate in (0, 1] (default 1e-3), halved after ``iterations // 2`` steps.
    seed : int
        Seed of the weight initialisation, 0..2**63-1 (default 0); slice ``k`` of a volume (``k = 0``
        for a 2D image) uses ``derive_seed(seed, "zs_n2n", k)``.
    device : str
        ``"auto"`` (CUDA when torch sees it, else the CPU), ``"cpu"`` or ``"cuda[:i]"``.

    Returns
    -------
    array
        Denoised image, native units, same shape, clipped to the profile's value range.

    Raises
    ------
    ParameterError
        A parameter out of range (the message names it), an image that is not 2D/3D or not finite,
        a CUDA device torch does not see.
    """
    from ..nn.device import resolve_device

    iterations, width, lr, seed = _check(iterations, width, lr, seed)
    resolve_device(device)  # refuse a bad device before any work
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ParameterError(f"zs_n2n: image must be 2D or 3D, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ParameterError("zs_n2n: image contains NaN or inf")
    dom = noise_domain(profile, noise_model)
    u = dom.forward(img, sigma)

    def one(s: np.ndarray, k: int) -> np.ndarray:
        return fit_zs_n2n(s, iterations=iterations, width=width, lr=lr, seed=derive_seed(seed, "zs_n2n", k),
                          device=device)

    out = one(u, 0) if u.ndim == 2 else np.stack([one(s, k) for k, s in enumerate(u)])
    return dom.inverse(out)


#: Registry of the zero-shot denoisers: method name -> function (same call as the classical ones).
ZERO_SHOT: dict[str, Callable[..., np.ndarray]] = {"zs_n2n": denoise_zs_n2n}

__all__ = ["ZERO_SHOT", "ZS_N2N_ITERATIONS", "ZS_N2N_LR", "ZS_N2N_SEED", "ZS_N2N_WIDTH", "denoise_zs_n2n",
           "fit_zs_n2n", "zs_n2n_loss"]

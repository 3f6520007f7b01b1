"""Restoration networks (PyTorch): DnCNN (denoising), SRCNN and an EDSR-style network (super-resolution).

All networks take and return single-channel images ``(batch, 1, y, x)`` in the *working scale* of
:func:`mira.restore.noise_models.window_normalise` (the modality's metric window mapped to 0..1).

* :class:`DnCNN` (Zhang et al. 2017): ``depth`` 3x3 convolutions of ``width`` channels, batch norm in
  the middle layers, *residual learning* (the network predicts the noise; output = input - noise).

The last layer of every residual branch starts at zero, so an untrained DnCNN returns its input and
an untrained residual SRCNN/EDSR the bicubic upsampling: short CPU budgets then start from the
baseline instead of from random noise.
* :class:`SRCNN` (Dong et al. 2016): the 9-1-5 network (patch extraction 9x9 -> 64, non-linear
  mapping 1x1 -> 32, reconstruction 5x5 -> 1) applied to the **bicubic-upsampled** image, with
  replicate padding so the output keeps the input size. ``residual=True`` (default) adds the bicubic
  input to the output (global skip, as in VDSR), a deviation from the original that makes the short
  CPU training budgets converge; ``residual=False`` is the original.
* :class:`EDSR` (Lim et al. 2017, "EDSR-style"): works on the **low-resolution** image: a head
  convolution, ``blocks`` residual blocks without batch norm (conv-ReLU-conv, residual scaling
  ``res_scale``), a body skip, pixel-shuffle upsampling by ``scale`` in one step and a tail
  convolution; ``residual=True`` (default) adds the bicubic upsampling of the input.

:func:`build_model` constructs any of them from its name and keyword parameters (the JSON sidecar
of a checkpoint stores exactly these).

References
----------
Zhang K et al. (2017) Beyond a Gaussian denoiser: residual learning of deep CNN for image denoising.
IEEE TIP 26:3142-3155.
Dong C et al. (2016) Image super-resolution using deep convolutional networks. IEEE TPAMI 38:295-307.
Lim B et al. (2017) Enhanced deep residual networks for single image super-resolution. CVPR workshops.
Kim J, Lee JK, Lee KM (2016) Accurate image super-resolution using very deep convolutional networks (VDSR). CVPR.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError

#: Task of each architecture: "denoise" (same grid) or "sr" (upscaling by ``scale``).
ARCHITECTURES = {"dncnn": "denoise", "srcnn": "sr", "edsr": "sr"}


def _zero(conv: nn.Conv2d) -> None:
    """Zero the last layer of a residual branch, so an untrained network is the identity (or bicubic)."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class DnCNN(nn.Module):
    """DnCNN denoiser with residual learning.

    Parameters
    ----------
    depth : int
        Number of convolution layers (>= 3; the paper uses 17).
    width : int
        Feature channels (the paper uses 64).
    batch_norm : bool
        Batch normalisation in the middle layers (as in the paper).
    """

    task = "denoise"

    def __init__(self, depth: int = 8, width: int = 32, batch_norm: bool = True):
        super().__init__()
        if depth < 3 or width < 1:
            raise ParameterError(f"DnCNN needs depth >= 3 and width >= 1, got depth={depth}, width={width}")
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        _zero(layers[-1])
        self.body = nn.Sequential(*layers)
        self.scale = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


class SRCNN(nn.Module):
    """SRCNN on the bicubic-upsampled image (input and output on the high-resolution grid).

    Parameters
    ----------
    scale : int
        Upscaling factor the network was trained for (recorded; the input is already upsampled).
    widths : (int, int)
        Channels after the first and second layers (paper: 64, 32).
    kernels : (int, int, int)
        Kernel sizes (paper: 9, 1, 5); must be odd.
    residual : bool
        Add the input to the output (global skip).
    """

    task = "sr"

    def __init__(self, scale: int = 2, widths=(64, 32), kernels=(9, 1, 5), residual: bool = True):
        super().__init__()
        if len(widths) != 2 or len(kernels) != 3 or any(k % 2 == 0 for k in kernels):
            raise ParameterError(f"SRCNN needs 2 widths and 3 odd kernel sizes, got {widths}, {kernels}")
        w1, w2 = (int(w) for w in widths)
        k1, k2, k3 = (int(k) for k in kernels)
        self.scale = int(scale)
        self.residual = bool(residual)
        self.body = nn.Sequential(
            nn.Conv2d(1, w1, k1, padding=k1 // 2, padding_mode="replicate"), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, k2, padding=k2 // 2, padding_mode="replicate"), nn.ReLU(inplace=True),
            nn.Conv2d(w2, 1, k3, padding=k3 // 2, padding_mode="replicate"),
        )
        if self.residual:
            _zero(self.body[-1])

    def forward(self, upsampled: torch.Tensor) -> torch.Tensor:
        out = self.body(upsampled)
        return upsampled + out if self.residual else out


class _ResBlock(nn.Module):
    def __init__(self, width: int, res_scale: float):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.res_scale = float(res_scale)

    def forward(self, x):
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class EDSR(nn.Module):
    """EDSR-style super-resolution network working on the low-resolution image.

    Parameters
    ----------
    scale : int
        Upscaling factor (pixel shuffle by ``scale``).
    width : int
        Feature channels (EDSR-baseline: 64).
    blocks : int
        Residual blocks (EDSR-baseline: 16).
    res_scale : float
        Residual scaling inside the blocks (0.1 in EDSR).
    residual : bool
        Add the bicubic upsampling of the input to the output.
    """

    task = "sr"

    def __init__(self, scale: int = 2, width: int = 32, blocks: int = 4, res_scale: float = 0.1,
                 residual: bool = True):
        super().__init__()
        if scale < 1 or width < 1 or blocks < 0:
            raise ParameterError(f"EDSR needs scale >= 1, width >= 1, blocks >= 0, got {scale}, {width}, {blocks}")
        self.scale = int(scale)
        self.residual = bool(residual)
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(width, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1))
        self.upsample = nn.Sequential(nn.Conv2d(width, width * self.scale ** 2, 3, padding=1),
                                      nn.PixelShuffle(self.scale))
        self.tail = nn.Conv2d(width, 1, 3, padding=1)
        if self.residual:
            _zero(self.tail)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        f = self.head(lr)
        f = f + self.body(f)
        out = self.tail(self.upsample(f))
        if self.residual:
            out = out + F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


_CLASSES = {"dncnn": DnCNN, "srcnn": SRCNN, "edsr": EDSR}


def build_model(architecture: str, params: Mapping[str, Any] | None = None, scale: int = 1) -> nn.Module:
    """Construct a network by name (``dncnn``, ``srcnn``, ``edsr``) from its keyword parameters.

    ``scale`` is passed to the super-resolution networks (ignored for DnCNN).
    """
    arch = str(architecture).lower()
    if arch not in _CLASSES:
        raise ParameterError(f"unknown architecture {architecture!r} (known: {', '.join(_CLASSES)})")
    kw = dict(params or {})
    if ARCHITECTURES[arch] == "sr":
        kw["scale"] = int(scale)
    try:
        return _CLASSES[arch](**kw)
    except TypeError as exc:
        raise ParameterError(f"{arch}: bad architecture parameters {sorted(kw)} ({exc})") from None


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))

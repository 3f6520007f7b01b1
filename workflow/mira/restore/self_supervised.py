"""The losses of the restoration networks' training modes, including self-supervised denoising on noisy
images only (:mod:`mira.restore.training` drives them through :func:`mira.nn.fit.fit`; the patches and
the supervised loss are :mod:`mira.restore.batches`).

Modes (training key ``mode``; the self-supervised ones are for the denoiser, DnCNN, only)

``supervised`` (default)
    Pairs of (degraded input, clean target): per-patch MSE, L1 or noise-normalised MSE
    (:func:`mira.restore.batches.patch_loss`).

``neighbor2neighbor`` (Huang et al. 2021)
    Each 2x2 cell of a noisy patch ``y`` gives two pixels that are direct neighbours (one of the 8
    ordered horizontal/vertical pairs, drawn at random per cell), so a *random neighbour sub-sampler*
    makes two half-resolution images ``g1(y)``, ``g2(y)`` (:func:`neighbor_pairs`,
    :func:`neighbor_subsample`). The loss is
    ``|f(g1 y) - g2 y|^2 + gamma * |f(g1 y) - g2 y - (g1 f(y) - g2 f(y))|^2`` (mean over pixels),
    with ``f(y)`` computed without gradient and ``gamma`` = ``n2n_gamma`` (paper: 2, reached by a
    linear ramp over training; here constant). Patches must have an even side.

``noise2self`` (Batson & Royer 2019, J-invariant "blind-spot" masking)
    In every patch one pixel of each 4x4 cell is masked (a random phase of the grid per patch, so
    1/16 of the pixels, 4 pixels apart: no masked pixel is a neighbour of another); a masked pixel is
    replaced by one of its 8 neighbours drawn at random (reflect padding, so never by itself; the
    "random neighbour" replacement, which keeps the replaced pixel as noisy as at inference, where
    a local mean would teach a residual network to trust its centre pixel) and the MSE is taken on the
    masked pixels only (:func:`blind_spot_mask`, :func:`blind_spot_input`). The masked input does
    not depend on the masked pixels' values, so the network cannot learn the identity there.
    Inference uses the plain network on the unmasked image.

When the self-supervised modes apply
    Both rest on the noise being **pixel-wise independent** given the image and **zero-mean**
    (``E[y | x] = x``); the image itself must vary smoothly on the 1-2 pixel scale of a neighbour.
    Then the minimiser of the self-supervised loss is (close to) the minimum-MSE denoiser.

    * Gaussian and Poisson-like photon noise on the detector grid (X-ray quantum noise) satisfy this.
    * **CT low-dose noise after filtered back-projection is spatially correlated** (the ramp filter
      spreads each projection's noise along streaks; neighbouring pixels' errors are correlated).
      Neighbouring pixels then predict each other's *noise*: Neighbor2Neighbor and Noise2Self learn to
      keep part of it (under-smoothing, residual streaks); they are biased, not merely noisier.
    * **Ultrasound speckle is multiplicative and spatially correlated** (the speckle grain spans
      several pixels): both assumptions fail; expect little denoising or texture learned as signal.
    * **Rician MRI noise is independent but not zero-mean** at low SNR (magnitude images are biased
      upwards in dark regions): the network learns ``E[y]``, i.e. keeps the Rician bias (background
      floor, reduced contrast), while the fluctuation is removed.

    ``noisy_input: degrade`` (the benchmark's way of simulating a user who has noisy scans only)
    uses mira's own noise models (correlated CT noise, speckle and Rician included), so the biases
    above show up in the benchmark as they would on clinical data.

Validation in the self-supervised modes is the negative self-supervised loss on the noisy
validation images with masks/sub-samplers drawn from a fixed generator (the same every epoch; higher
is better): no clean image is used for model selection either (:func:`self_supervised_scores`).

Randomness: the sub-sampler and the masks come from an explicit :class:`torch.Generator` (CPU)
seeded with :func:`mira.seeding.derive_seed`; the indices are moved to the data's device.

References
----------
Huang T, Li S, Jia X, Lu H, Liu J (2021) Neighbor2Neighbor: self-supervised denoising from single
noisy images. CVPR, 14781-14790.
Batson J, Royer L (2019) Noise2Self: blind denoising by self-supervision. ICML, PMLR 97:524-533.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ParameterError
from .batches import LossFn, patch_loss
from .settings import MODES, NOISY_INPUTS, PatchSettings

#: The training modes (:data:`MODES`) that never use a clean image.
SELF_SUPERVISED: tuple[str, ...] = tuple(m for m in MODES if m != "supervised")
#: Noise2Self grid: one masked pixel per GRID x GRID cell.
GRID = 4
#: The 8 ordered pairs of direct neighbours in a 2x2 cell whose pixels are numbered 0 (0,0), 1 (0,1),
#: 2 (1,0), 3 (1,1) (Huang et al.'s sub-sampler).
_PAIRS = torch.tensor([[0, 1], [0, 2], [1, 3], [3, 2], [1, 0], [2, 0], [3, 1], [2, 3]])
_NEIGHBOURS = torch.tensor([[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]])

# ---- Neighbor2Neighbor ---------------------------------------------------------------------------------------


def _cells(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` with even H, W -> ``(B, C, H/2, W/2, 4)``: the 2x2 cells, pixels in row-major order."""
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ParameterError(f"neighbor2neighbor needs even image sides, got {h} x {w} (use an even patch_size)")
    return x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h // 2, w // 2, 4)


def neighbor_pairs(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Random neighbour pair per 2x2 cell for images of ``shape`` ``(B, C, H, W)``: int64 ``(B, C, H/2, W/2, 2)``,
    the cell positions (0..3) that ``g1`` and ``g2`` take; the two always differ and are direct neighbours."""
    b, c, h, w = (int(v) for v in shape)
    r = torch.randint(0, len(_PAIRS), (b, c, h // 2, w // 2), generator=generator)
    return _PAIRS[r]


def neighbor_subsample(x: torch.Tensor, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The half-resolution images ``g1(x)``, ``g2(x)`` of :func:`neighbor_pairs` ``pairs``."""
    cells = _cells(x)
    idx = pairs.to(x.device)
    return cells.gather(-1, idx[..., :1]).squeeze(-1), cells.gather(-1, idx[..., 1:]).squeeze(-1)


def neighbor2neighbor_loss(model: torch.nn.Module, y: torch.Tensor, generator: torch.Generator,
                           gamma: float = 2.0) -> torch.Tensor:
    """Per-image Neighbor2Neighbor loss ``(B,)`` of noisy images ``y`` (working scale; module docstring)."""
    pairs = neighbor_pairs(y.shape, generator)
    g1, g2 = neighbor_subsample(y, pairs)
    with torch.no_grad():
        f1, f2 = neighbor_subsample(model(y), pairs)
    out = model(g1)
    diff = out - g2
    rec = (diff ** 2).mean(dim=(1, 2, 3))
    reg = ((diff - (f1 - f2)) ** 2).mean(dim=(1, 2, 3))
    return rec + float(gamma) * reg


# ---- Noise2Self ----------------------------------------------------------------------------------------------


def blind_spot_mask(shape: Sequence[int], generator: torch.Generator, grid: int = GRID) -> torch.Tensor:
    """Boolean ``(B, 1, H, W)`` mask: one pixel per ``grid x grid`` cell, at a random phase per image."""
    b, _, h, w = (int(v) for v in shape)
    phase = torch.randint(0, grid, (b, 2), generator=generator)
    rows = (torch.arange(h)[None, :] % grid) == phase[:, :1]
    cols = (torch.arange(w)[None, :] % grid) == phase[:, 1:]
    return (rows[:, :, None] & cols[:, None, :])[:, None]


def blind_spot_input(x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``x`` with each masked pixel replaced by one of its 8 neighbours, drawn at random (reflect padding, so
    never by itself): the replacement is as noisy as an unmasked pixel, as the network's input is at inference."""
    b, c, h, w = x.shape
    pick = torch.randint(0, len(_NEIGHBOURS), (b, c, h, w), generator=generator).to(x.device)
    offsets = _NEIGHBOURS.to(x.device)[pick]                      # (b, c, h, w, 2) in -1..1
    rows = torch.arange(h, device=x.device)[:, None] + 1 + offsets[..., 0]
    cols = torch.arange(w, device=x.device)[None, :] + 1 + offsets[..., 1]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect").reshape(b, c, -1)
    neighbour = padded.gather(-1, (rows * (w + 2) + cols).reshape(b, c, -1)).reshape(b, c, h, w)
    return torch.where(mask.to(x.device), neighbour, x)


def noise2self_loss(model: torch.nn.Module, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-image Noise2Self loss ``(B,)``: MSE on the masked pixels of the blind-spot input's output."""
    mask = blind_spot_mask(y.shape, generator).to(y.device)
    out = model(blind_spot_input(y, mask, generator))
    m = mask.to(y.dtype)
    return (((out - y) ** 2) * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))


# ---- the loss of a training mode -----------------------------------------------------------------------------


def self_supervised_loss(mode: str, model: torch.nn.Module, y: torch.Tensor, generator: torch.Generator,
                         gamma: float = 2.0) -> torch.Tensor:
    """Per-image loss ``(B,)`` of a self-supervised ``mode`` on noisy images ``y`` ``(B, 1, H, W)``."""
    if mode == "neighbor2neighbor":
        return neighbor2neighbor_loss(model, y, generator, gamma)
    if mode == "noise2self":
        return noise2self_loss(model, y, generator)
    raise ParameterError(f"training mode {mode!r} is not self-supervised (known: {', '.join(SELF_SUPERVISED)})")


def training_loss(mode: str, kind: str = "mse", *, seed: int = 0, gamma: float = 2.0) -> LossFn:
    """``loss(model, (x, y, w))`` of :func:`mira.nn.fit.fit` for a training ``mode`` (:data:`MODES`).

    ``supervised``: :func:`patch_loss` ``kind``. Self-supervised modes use only ``x`` (the noisy
    patches; the sampler's ``y`` is the same noisy patch, never a clean one) and draw their
    sub-samplers/masks from a CPU generator seeded with ``seed`` (one stream per run: deterministic).
    """
    if mode == "supervised":
        return patch_loss(kind)
    if mode not in SELF_SUPERVISED:
        raise ParameterError(f"training mode must be one of {list(MODES)}, got {mode!r}")
    gen = torch.Generator().manual_seed(int(seed))

    def loss(model: torch.nn.Module, batch) -> torch.Tensor:
        return self_supervised_loss(mode, model, batch[0], gen, gamma).mean()

    return loss


@torch.no_grad()
def self_supervised_scores(model: torch.nn.Module, images: Sequence[np.ndarray], mode: str, device: torch.device,
                           *, seed: int = 0, gamma: float = 2.0) -> list[float]:
    """Validation scores of noisy images (working scale, 2D): minus the self-supervised loss of each.

    The masks/sub-samplers come from a fresh generator seeded with ``seed`` (the same every call, so
    epochs are compared on the same draws); Neighbor2Neighbor crops odd sides by one pixel. Higher is
    better; the scale is that of the loss (working scale squared), not dB.
    """
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for im in images:
        a = np.asarray(im, dtype=np.float32)
        if mode == "neighbor2neighbor":
            a = a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2]
        y = torch.from_numpy(np.ascontiguousarray(a))[None, None].to(device)
        out.append(-float(self_supervised_loss(mode, model, y, gen, gamma)[0]))
    return out


def selection_record(patch: PatchSettings, select_source: str | None, weights: Mapping[str, float] | None,
               per_source: list[dict[str, float]], best_epoch: int) -> dict:
    """The sidecar's record of the source mixing and of the score that selected the saved epoch.

    ``per_source`` holds each epoch's mean validation score per source (dB, or minus the
    self-supervised loss); returns ``selection`` (in words), ``score_kind`` (``psnr_db`` or
    ``neg_ss_loss``), ``source_weights``, ``select_source``, ``best_val_by_source`` (best epoch of
    each source on its own) and ``val_by_source_at_best_epoch`` (the saved epoch).
    """
    if patch.self_supervised:
        what, kind = f"minus the {patch.mode} loss on the noisy validation images (no clean image)", "neg_ss_loss"
    else:
        what, kind = "PSNR (dB) of the outputs against the clean validation references", "psnr_db"
    scope = f"validation images of source {select_source!r}" if select_source else "all validation images"
    best = {src: round(max(row[src] for row in per_source), 4) for src in (per_source[0] if per_source else {})}
    return {"selection": f"{what}, mean over the {scope}", "score_kind": kind,
            "source_weights": dict(weights) if weights is not None else None, "select_source": select_source,
            "best_val_by_source": best,
            "val_by_source_at_best_epoch": {k: round(v, 4) for k, v in per_source[best_epoch - 1].items()}
            if 0 < best_epoch <= len(per_source) else {}}


__all__ = ["MODES", "NOISY_INPUTS", "SELF_SUPERVISED", "blind_spot_input", "blind_spot_mask",
           "neighbor2neighbor_loss", "neighbor_pairs", "neighbor_subsample", "noise2self_loss", "selection_record",
           "self_supervised_loss", "self_supervised_scores", "training_loss"]

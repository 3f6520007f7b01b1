"""DCGAN synthesis of one modality's images within a CPU time budget, and its evaluation.

Architecture (Radford et al. 2016, :func:`dcgan_nets`): the generator maps a latent ``z ~ N(0, I)``
through transposed convolutions (4x4 x ``base_channels`` -> ... -> 32, 64, 128 or 256 px, channels
halved at every doubling, batch norm, ReLU, ``tanh`` output). The network of the textbook chapter on
medical image augmentation and restoration is :data:`CHAPTER_DCGAN` (latent 100 -> 4x4x512 -> ... ->
256x256, 3.6 M generator parameters); the pipeline's default is a compact 64 px one (latent 64,
4x4x128, 0.30 M), which learns something within a one-minute CPU budget. The discriminator mirrors
it with strided convolutions (batch norm, LeakyReLU 0.2) and ends with a
minibatch-standard-deviation channel (Karras et al. 2018). Adam (lr 2e-4, betas 0.5/0.999),
non-saturating loss with one-sided label smoothing (0.9) and instance noise (sigma 0.1) on every
discriminator input. Images are the training split resized to ``image_size`` and mapped from the
modality profile's metric window to [-0.9, 0.9]; with the few phantom cases, each training image
contributes ``augment_copies`` variants drawn with the modality's standard augmentation pipeline
(within the profile limits).

Training (:func:`train_dcgan`) runs through :func:`mira.nn.fit.fit` with the two-player step
plugged in as ``step=`` (one discriminator and one generator update per iteration), on the GPU
when torch sees one (the trained networks come back on the CPU). It stops at ``max_iterations`` or
when the process CPU time spent training reaches ``time_budget_s`` (CPU seconds summed over all
threads, so 60 s on 2 threads is ~30 s of wall time), whichever comes first. The iteration count
reached is recorded: rerunning with ``max_iterations`` set to it (and a generous budget)
reproduces the same weights bit for bit on the CPU.

Images are mapped to the network's scale with the caller's resolved profile (:func:`to_unit`,
``profile.metric_window``; ``Settings.profile(m)`` carries the config's ``profiles:`` overrides).

Evaluation (:func:`gan_statistics`), without any pretrained network (none is available offline,
and ImageNet features are questionable for CT anyway); FID and KID on the features of a small
network trained on the real images are in :mod:`mira.augment.gan_quality`:

* **fidelity: kernel MMD^2** (Gretton et al. 2012, unbiased estimator) between generated and
  held-out real images (window-normalised, 32x32), Gaussian kernel with the median-distance
  bandwidth of the real images. It is KID's statistic on pixels instead of Inception features.
  The **reference** is the MMD^2 between the real training and held-out images (what a
  generator that reproduced the data distribution would score), and ``mmd2_pvalue`` is the
  permutation-test p-value of "generated and held-out images come from one distribution" (small:
  the generator is distinguishable from real images).
* **intensity fidelity**: Wasserstein-1 distance between pixel-value distributions in native units
  (HU for CT), generated vs held-out, with the train-vs-held-out value as reference.
* **diversity**: mean pairwise SSIM between generated samples vs the same among real images
  (Odena et al. 2017); values near 1 mean mode collapse.
* **memorisation**: median nearest-neighbour distance from each generated sample to the training
  images, divided by the same for held-out real images (<< 1: the generator copies training cases).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile, require_profile
from ..nn.settings import TrainSettings

log = logging.getLogger(__name__)


def _minibatch_std_module():
    import torch
    import torch.nn as nn

    class _MinibatchStd(nn.Module):
        """Append the batch's mean feature standard deviation as a channel (Karras et al. 2018):
        lets the discriminator see a collapsed, too-uniform batch, which counters mode collapse."""

        def forward(self, x):
            s = x.std(0, keepdim=True).mean().expand(x.shape[0], 1, x.shape[2], x.shape[3])
            return torch.cat([x, s], 1)

    return _MinibatchStd()


#: Image sizes of the DCGAN, pixels (4x4 doubled by stride-2 transposed convolutions).
IMAGE_SIZES = (32, 64, 128, 256)

#: The DCGAN of the textbook chapter on medical image augmentation and restoration: a 100-d latent
#: projected to 4x4x512, channels halved at every doubling (512, 256, 128, 64, 32, 16) up to one
#: 256 x 256 channel. Generator: 3,614,944
#: parameters (3,612,928 convolution weights + 2,016 batch-norm); discriminator (mirror): 2,803,920.
CHAPTER_DCGAN = dict(latent_dim=100, base_channels=512, image_size=256)


def base_channels_for(width: int, image_size: int) -> int:
    """Channels of the generator's 4x4 layer when its last hidden layer has ``width`` channels.

    ``width * 2**(log2(image_size) - 3)``: width 16 gives 128 at 64 px and 512 (the chapter's) at 256 px.
    """
    if image_size not in IMAGE_SIZES:
        raise ParameterError(f"GAN image_size must be one of {IMAGE_SIZES}, got {image_size}")
    return int(width) * 2 ** (int(math.log2(image_size)) - 3)


def dcgan_nets(latent_dim: int = 100, base_channels: int = 512, image_size: int = 256):
    """DCGAN generator and discriminator (Radford et al. 2016), freshly initialised (N(0, 0.02) weights).

    Parameters
    ----------
    latent_dim : int
        Latent dimension (>= 1); the generator's input is ``(N, latent_dim, 1, 1)``.
    base_channels : int
        Channels of the first (4x4) generator layer; halved at every doubling, so it must be divisible
        by ``2**(log2(image_size) - 3)``. The chapter's network: 512 (:data:`CHAPTER_DCGAN`).
    image_size : int
        Output side in pixels, one of 32, 64, 128, 256.

    Returns
    -------
    generator, discriminator : torch.nn.Sequential
        ``generator(z)``: ``(N, 1, image_size, image_size)`` in [-1, 1] (tanh);
        ``discriminator(x)``: ``(N, 1)`` logits (minibatch-std channel before its last layer).
        At the chapter's size the generator has 3,614,944 parameters and the discriminator 2,803,920.
    """
    import torch.nn as nn

    n_up = int(math.log2(image_size)) - 3 if image_size in IMAGE_SIZES else -1  # 4x4 -> image_size/2, then last
    if n_up < 0:
        raise ParameterError(f"GAN image_size must be one of {IMAGE_SIZES}, got {image_size}")
    if latent_dim < 1 or base_channels < 2 ** n_up or base_channels % 2 ** n_up:
        raise ParameterError(f"GAN latent_dim must be >= 1 and base_channels a multiple of {2 ** n_up} "
                             f"(halved {n_up} times), got latent_dim={latent_dim}, base_channels={base_channels}")
    chans = [base_channels // 2 ** k for k in range(n_up + 1)]  # e.g. 256 px: [512, 256, 128, 64, 32, 16]
    g_layers: list = [nn.ConvTranspose2d(latent_dim, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]),
                      nn.ReLU(True)]
    for a, b in zip(chans[:-1], chans[1:]):
        g_layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    g_layers += [nn.ConvTranspose2d(chans[-1], 1, 4, 2, 1, bias=False), nn.Tanh()]
    d_chans = chans[::-1]
    d_layers: list = [nn.Conv2d(1, d_chans[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for a, b in zip(d_chans[:-1], d_chans[1:]):
        d_layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
    d_layers += [_minibatch_std_module(), nn.Conv2d(d_chans[-1] + 1, 1, 4, 1, 0, bias=False), nn.Flatten()]
    gen, disc = nn.Sequential(*g_layers), nn.Sequential(*d_layers)
    for m in list(gen.modules()) + list(disc.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return gen, disc


def dcgan_generator(latent_dim: int = 100, base_channels: int = 512, image_size: int = 256,
                    seed: int | None = None):
    """The DCGAN generator alone (:func:`dcgan_nets`); defaults: the chapter's (:data:`CHAPTER_DCGAN`).

    ``seed``: initialise the weights under ``torch.manual_seed(seed)`` in a forked RNG (None: the
    global torch RNG). ``dcgan_generator(**CHAPTER_DCGAN)(torch.randn(n, 100, 1, 1))`` has shape
    ``(n, 1, 256, 256)``.
    """
    import contextlib

    from ..nn.fit import seeded

    with seeded(seed) if seed is not None else contextlib.nullcontext():
        return dcgan_nets(latent_dim, base_channels, image_size)[0]


def parameter_count(module) -> int:
    """Number of trainable parameters of a torch module."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


#: The modality window maps onto [-UNIT, UNIT]: inside tanh's reach, so the generator can match
#: the constant background (air at -1000 HU) that the window clips real images to.
UNIT = 0.9


def to_unit(images: np.ndarray, profile: ModalityProfile) -> np.ndarray:
    """Native units -> [-0.9, 0.9] over the profile's metric window (clipped)."""
    lo, hi = require_profile(profile, "to_unit").metric_window
    return ((np.clip((np.asarray(images, dtype=np.float32) - lo) / (hi - lo), 0, 1) * 2 - 1) * UNIT).astype(np.float32)


def from_unit(images: np.ndarray, profile: ModalityProfile) -> np.ndarray:
    """[-0.9, 0.9] -> native units over the profile's metric window (generator outputs beyond are clipped)."""
    lo, hi = require_profile(profile, "from_unit").metric_window
    u = np.clip(np.asarray(images, dtype=np.float32) / UNIT, -1, 1)
    return ((u + 1) / 2 * (hi - lo) + lo).astype(np.float32)


def resize_images(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Resize 2D images to ``size x size`` (area averaging when shrinking, bilinear when enlarging)."""
    import torch
    import torch.nn.functional as F

    out = []
    for im in images:
        if im.ndim != 2:
            raise ParameterError(f"GAN images must be 2D, got shape {im.shape}")
        t = torch.from_numpy(np.ascontiguousarray(im, dtype=np.float32))[None, None]
        mode = "area" if min(im.shape) >= size else "bilinear"
        kw = {} if mode == "area" else {"align_corners": False}
        out.append(F.interpolate(t, size=(size, size), mode=mode, **kw)[0, 0].numpy())
    return np.stack(out) if out else np.zeros((0, size, size), np.float32)


@dataclass
class GanResult:
    generator: Any
    discriminator: Any
    iterations: int
    cpu_s: float
    wall_s: float
    losses: list[tuple[int, float, float]] = field(default_factory=list)
    stopped_by: str = "iterations"
    config: dict[str, Any] = field(default_factory=dict)


def _two_player_step(gen, disc, opt_g, opt_d, g, instance_noise: float, losses: list):
    """``step(model, (real, z))`` of :func:`mira.nn.fit.fit`: one discriminator and one generator update.

    Non-saturating loss, one-sided label smoothing (0.9), instance noise drawn from ``g`` on every
    discriminator input; ``(iteration, loss_D, loss_G)`` is recorded at iteration 1 and every 25th.
    """
    import torch
    import torch.nn.functional as F

    sig = float(instance_noise)

    def noise(like):
        return sig * torch.randn(like.shape, generator=g).to(like.device)

    def step(model, batch) -> float:
        real, z = batch
        fake = gen(z)
        opt_d.zero_grad()
        d_real = disc(real + noise(real))
        d_fake = disc(fake.detach() + noise(real))
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 0.9)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        d_gen = disc(fake + noise(real))
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        loss_g.backward()
        opt_g.step()
        it = step.iterations = step.iterations + 1
        if it % 25 == 0 or it == 1:
            losses.append((it, float(loss_d.detach()), float(loss_g.detach())))
            if it % 100 == 0:
                log.info("GAN iteration %d: loss_D %.3f loss_G %.3f", it, losses[-1][1], losses[-1][2])
        return float(loss_g.detach())

    step.iterations = 0
    return step


def train_dcgan(images: np.ndarray, *, seed: int, time_budget_s: float = 60.0, max_iterations: int = 100000,
                batch_size: int = 16, latent_dim: int = 64, width: int = 16, lr: float = 2e-4,
                instance_noise: float = 0.1, device: str = "auto", base_channels: int | None = None) -> GanResult:
    """Train a DCGAN on ``images`` (``(N, S, S)`` from :func:`to_unit`, S in :data:`IMAGE_SIZES`) within a CPU budget.

    The network is :func:`dcgan_nets` ``(latent_dim, base_channels, S)``; ``base_channels`` None
    means :func:`base_channels_for` ``(width, S)`` (width 16: 128 channels at 64 px; the chapter's
    network is ``latent_dim=100, base_channels=512`` at S = 256, :data:`CHAPTER_DCGAN`).

    ``instance_noise`` is the standard deviation of Gaussian noise added to every discriminator
    input, real and generated (Sonderby et al. 2017): without it the discriminator separates the
    phantoms' perfectly constant background from the generator's output at once and the generator
    collapses. Deterministic for a given ``seed`` and iteration count (torch CPU kernels, fixed
    threads). ``device``: see :func:`mira.nn.device.resolve_device`; the networks are returned on
    the CPU.
    """
    import torch
    import torch.nn as nn

    from ..nn.device import resolve_device
    from ..nn.fit import fit, seeded

    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3 or x.shape[1] != x.shape[2] or len(x) == 0:
        raise ParameterError(f"GAN training images must be (N, S, S) with N > 0, got {x.shape}")
    if time_budget_s <= 0 or max_iterations < 1 or batch_size < 2:
        raise ParameterError("GAN needs time_budget_s > 0, max_iterations >= 1 and batch_size >= 2")
    size = x.shape[1]
    base = int(base_channels) if base_channels is not None else base_channels_for(width, size)
    cfg = dict(seed=int(seed), time_budget_s=float(time_budget_s), max_iterations=int(max_iterations),
               batch_size=int(batch_size), latent_dim=int(latent_dim), base_channels=base, lr=float(lr),
               image_size=size, n_train_images=int(len(x)), instance_noise=float(instance_noise))
    bs = min(batch_size, len(x)) if len(x) >= 2 else 2
    settings = TrainSettings(epochs=1, steps_per_epoch=int(max_iterations), batch_size=bs, lr=lr, betas=(0.5, 0.999),
                             budget_s=float(time_budget_s), budget_clock="cpu", device=device, deterministic=False)
    with seeded(seed):
        gen, disc = dcgan_nets(latent_dim, base, size)
    dev = resolve_device(device)
    gen.to(dev)
    disc.to(dev)
    g = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(x)[:, None]

    def batches(epoch: int):
        while True:
            real = data[torch.randint(0, len(x), (bs,), generator=g)]
            yield real, torch.randn(bs, latent_dim, 1, 1, generator=g)

    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=settings.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=settings.betas)
    losses: list[tuple[int, float, float]] = []
    step = _two_player_step(gen, disc, opt_g, opt_d, g, instance_noise, losses)
    res = fit(nn.ModuleDict({"generator": gen, "discriminator": disc}), batches, settings, step=step)
    recalibrate_batchnorm(gen, latent_dim, seed)
    gen.cpu()
    disc.cpu().eval()
    return GanResult(generator=gen, discriminator=disc, iterations=res.steps, cpu_s=res.cpu_time_s,
                     wall_s=res.wall_time_s, losses=losses,
                     stopped_by="iterations" if res.steps >= max_iterations else "time_budget", config=cfg)


def recalibrate_batchnorm(generator, latent_dim: int, seed: int, batches: int = 16, batch_size: int = 64) -> None:
    """Re-estimate the generator's batch-norm statistics as exact averages over fresh latent batches.

    The running averages kept during adversarial training lag behind the fast-changing generator;
    without this step ``eval()`` samples are washed out. Leaves the generator in eval mode.
    """
    import torch
    import torch.nn as nn

    from ..nn.device import model_device

    device = model_device(generator)
    bns = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    g = torch.Generator().manual_seed(int(seed) + 1)
    generator.train()
    with torch.no_grad():
        for _ in range(batches):
            generator(torch.randn(batch_size, latent_dim, 1, 1, generator=g).to(device))
    generator.eval()


def generate(generator, n: int, latent_dim: int, seed: int) -> np.ndarray:
    """``n`` samples in [-1, 1], shape ``(n, S, S)``, from a fixed seed."""
    import torch

    from ..nn.device import model_device

    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        z = torch.randn(int(n), latent_dim, 1, 1, generator=g).to(model_device(generator))
        return generator(z)[:, 0].cpu().numpy().astype(np.float32)


# ------------------------------------------------------------------------------------------------
# statistics


def _flat(images: np.ndarray, size: int = 32) -> np.ndarray:
    return resize_images(list(images), size).reshape(len(images), -1).astype(np.float64)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased MMD^2 between sample sets ``x`` (n, d) and ``y`` (m, d), Gaussian kernel."""
    if len(x) < 2 or len(y) < 2:
        raise ParameterError("MMD needs at least two samples in each set")

    def k(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(d2, 0) / (2 * bandwidth ** 2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def _median_bandwidth(x: np.ndarray) -> float:
    d2 = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T
    vals = np.sqrt(np.maximum(d2[np.triu_indices(len(x), 1)], 0))
    med = float(np.median(vals)) if vals.size else 1.0
    return med if med > 0 else 1.0


def _mean_pairwise_ssim(images: np.ndarray, max_pairs: int, rng: np.random.Generator) -> float:
    from skimage.metrics import structural_similarity

    n = len(images)
    if n < 2:
        return float("nan")
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(pairs) > max_pairs:
        pick = rng.choice(len(pairs), size=max_pairs, replace=False)
        pairs = [pairs[k] for k in pick]
    return float(np.mean([structural_similarity(images[i], images[j], data_range=2.0 * UNIT) for i, j in pairs]))


def _nn_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0)).min(axis=1)


def gan_statistics(fake: np.ndarray, real_train: np.ndarray, real_heldout: np.ndarray, profile: ModalityProfile,
                   seed: int = 0, max_pairs: int = 300, permutations: int = 200) -> dict[str, float]:
    """Fidelity, diversity and memorisation statistics (see module docstring); inputs in [-1, 1].

    ``profile`` maps the images back to native units for the intensity distances (:func:`from_unit`).
    """
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(seed)
    f, tr, ho = _flat(fake), _flat(real_train), _flat(real_heldout)
    bw = _median_bandwidth(np.concatenate([tr, ho]))
    mmd_fake = mmd2_unbiased(f, ho, bw)
    mmd_ref = mmd2_unbiased(tr, ho, bw)
    nf, ntr, nho = (from_unit(a, profile).ravel() for a in (fake, real_train, real_heldout))
    w_fake = wasserstein_distance(nf, nho)
    w_ref = wasserstein_distance(ntr, nho)
    ssim_fake = _mean_pairwise_ssim(fake, max_pairs, rng)
    ssim_real = _mean_pairwise_ssim(np.concatenate([real_train, real_heldout]), max_pairs, rng)
    nn_fake = float(np.median(_nn_dist(f, tr)))
    nn_ref = float(np.median(_nn_dist(ho, tr)))
    # permutation test of "generated and held-out real images come from the same distribution"
    pooled = np.concatenate([f, ho])
    exceed = 0
    for _ in range(permutations):
        perm = rng.permutation(len(pooled))
        exceed += mmd2_unbiased(pooled[perm[:len(f)]], pooled[perm[len(f):]], bw) >= mmd_fake
    return {
        "n_fake": int(len(fake)), "n_train": int(len(real_train)), "n_heldout": int(len(real_heldout)),
        "mmd2": mmd_fake, "mmd2_reference": mmd_ref, "mmd2_pvalue": (exceed + 1) / (permutations + 1),
        "intensity_w1": float(w_fake), "intensity_w1_reference": float(w_ref),
        "ssim_diversity_fake": ssim_fake, "ssim_diversity_real": ssim_real,
        "nn_distance_ratio": nn_fake / nn_ref if nn_ref > 0 else float("nan"),
    }


__all__ = ["CHAPTER_DCGAN", "IMAGE_SIZES", "dcgan_nets", "dcgan_generator", "base_channels_for", "parameter_count",
           "train_dcgan", "generate", "gan_statistics", "mmd2_unbiased", "to_unit", "from_unit", "resize_images",
           "GanResult"]

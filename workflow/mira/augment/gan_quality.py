"""Sample quality of a generator on a learned feature space: FID and KID on a network trained on the real images.

FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) compare generated and real images in the
feature space of a fixed network. Their usual network, ImageNet's Inception-v3, is neither
available offline nor meaningful for CT phantoms, so the feature network here is a small CNN
trained once per modality on the *real* training images (:func:`train_feature_network`, fixed
afterwards; deterministic for a seed on the CPU):

* **supervised** (the phantoms' label maps): from a 32 x 32 image, predict the fraction of each
  label (organ, lesion, background) in every cell of a 4 x 4 grid (soft cross-entropy). Its
  features therefore encode which anatomy lies where, what a reader of the images looks at;
* **self-supervised** (no labels): predict which of four 90-degree rotations was applied.

Four convolutions (8, 16, 32, 32 channels; the last three stride 2) and a linear layer to the
32 features that the task head reads (the penultimate layer, before its ReLU). The features are
standardised with the mean and standard deviation they have on the training images (fixed with
the network), so distances are in units of the real images' feature spread whatever the modality.
Images are in the
GAN's units (:func:`mira.augment.gan.to_unit`: the modality's metric window mapped to
[-0.9, 0.9]) at any size; they are area-resized to 32 x 32.

:func:`sample_quality` reports, for generated vs held-out real images, and for real training vs
held-out real images as the reference floor (what a generator that reproduced the data would score):

* ``fid``: Frechet distance between Gaussian fits of the two feature sets (0 = same mean and
  covariance; >= 0, in squared feature units). FID is biased upwards at small sample sizes, so the
  generated set is cut to the size of the real training set before it is compared: ``fid`` and
  ``fid_reference`` then carry the same bias and are read against each other;
* ``kid``: unbiased MMD^2 with the cubic polynomial kernel ``(x.y / d + 1)^3``, averaged over
  random subsets (``kid_std``: its standard deviation over the subsets). Unbiased: about 0 (it can
  be slightly negative) when both sets come from one distribution, at any sample size.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ParameterError

#: Side of the feature network's input, pixels.
FEATURE_IMAGE_SIZE = 32
#: Number of features (the penultimate layer's width).
FEATURE_DIM = 32
#: Cells per side of the label-content grid the supervised task predicts.
LABEL_GRID = 4


def label_grid_fractions(labels: Sequence[np.ndarray], n_classes: int, grid: int = LABEL_GRID) -> np.ndarray:
    """Fraction of each label in every cell of a ``grid x grid`` partition of each 2D label map.

    Returns ``(N, n_classes, grid, grid)`` float32; the fractions of a cell sum to 1. Label values
    must lie in ``[0, n_classes)``.
    """
    import torch
    import torch.nn.functional as F

    out = []
    for lab in labels:
        lab = np.asarray(lab)
        if lab.ndim != 2 or lab.min() < 0 or lab.max() >= n_classes:
            raise ParameterError(f"label maps must be 2D with values in [0, {n_classes}), got shape {lab.shape}")
        onehot = F.one_hot(torch.from_numpy(lab.astype(np.int64)), n_classes).permute(2, 0, 1)[None].float()
        out.append(F.adaptive_avg_pool2d(onehot, grid)[0].numpy())
    return np.stack(out).astype(np.float32) if out else np.zeros((0, n_classes, grid, grid), np.float32)


def _network(n_out: int, feature_dim: int):
    """(trunk, head): the trunk maps ``(N, 1, 32, 32)`` to the ``feature_dim`` features."""
    import torch.nn as nn

    side = FEATURE_IMAGE_SIZE // 8
    trunk = nn.Sequential(
        nn.Conv2d(1, 8, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * side * side, feature_dim))
    head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, n_out))
    return nn.ModuleDict({"trunk": trunk, "head": head})


@dataclass
class FeatureNetwork:
    """A trained, fixed feature network (:func:`train_feature_network`).

    Attributes
    ----------
    model : torch.nn.ModuleDict
        ``trunk`` (image -> features) and ``head`` (the training task), on the CPU, eval mode.
    task : str
        ``"label_grid"`` (supervised by the label maps) or ``"rotation"`` (self-supervised).
    steps : int
        Optimiser steps trained.
    final_loss : float
        Mean training loss over the last 50 steps.
    mean, scale : ndarray
        Per-feature mean and standard deviation on the training images (features are standardised).
    """

    model: Any
    task: str
    steps: int
    final_loss: float
    mean: np.ndarray
    scale: np.ndarray

    def features(self, images: np.ndarray) -> np.ndarray:
        """Standardised penultimate-layer features ``(N, FEATURE_DIM)`` float64 of images ``(N, S, S)`` in GAN units."""
        return (_raw_features(self.model, images) - self.mean) / self.scale


def _raw_features(model: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    import torch

    x = _prepare(images)
    with torch.no_grad():
        parts = [model["trunk"](torch.from_numpy(x[i:i + batch_size])[:, None]).numpy()
                 for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, FEATURE_DIM))


def _prepare(images: np.ndarray) -> np.ndarray:
    from .gan import resize_images

    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3:
        raise ParameterError(f"feature-network images must be a stack (N, S, S), got shape {x.shape}")
    return resize_images(list(x), FEATURE_IMAGE_SIZE)


def _task_loss(task: str, n_classes: int):
    import torch
    import torch.nn.functional as F

    def loss(model, batch):
        x, t = batch
        if task == "rotation":  # t: rotation index 0..3 per image
            x = torch.stack([torch.rot90(im, int(k), (1, 2)) for im, k in zip(x, t)])
            return F.cross_entropy(model["head"](model["trunk"](x)), t)
        logits = model["head"](model["trunk"](x)).view(len(x), n_classes, LABEL_GRID, LABEL_GRID)
        return -(t * F.log_softmax(logits, 1)).sum(1).mean()

    return loss


def train_feature_network(images: np.ndarray, labels: Sequence[np.ndarray] | None = None, *, seed: int,
                          steps: int = 300, batch_size: int = 16, lr: float = 1e-3, threads: int | None = 1,
                          device: str = "auto") -> FeatureNetwork:
    """Train the feature network once on real images (module docstring); deterministic for ``seed`` on the CPU.

    Parameters
    ----------
    images : ndarray
        Real training images ``(N, S, S)`` in GAN units (:func:`mira.augment.gan.to_unit`), N >= 2.
    labels : sequence of ndarray, optional
        One integer label map per image (any 2D shape, values >= 0): the supervised label-grid task.
        None: the self-supervised rotation task.
    seed : int
        Seeds the weights and the batches.
    steps, batch_size, lr : int, int, float
        Adam steps, images per step, learning rate (300 x 16 at 32 px: a few CPU seconds).
    threads : int or None
        torch CPU threads while training (restored after; None: leave torch's setting). One thread is
        the most CPU-efficient for this small network, and many threads on a busy machine cost
        many times the CPU time.
    device : str
        :func:`mira.nn.device.resolve_device`; the network is returned on the CPU.
    """
    import torch

    from ..nn.fit import fit
    from ..nn.settings import TrainSettings

    x = torch.from_numpy(_prepare(images))[:, None]
    if len(x) < 2 or steps < 1 or batch_size < 1:
        raise ParameterError(f"the feature network needs >= 2 images, steps >= 1 and batch_size >= 1 "
                             f"(got {len(x)} images, steps={steps}, batch_size={batch_size})")
    if labels is not None:
        if len(labels) != len(x):
            raise ParameterError(f"labels: {len(labels)} label maps for {len(x)} images")
        n_classes = int(max(int(np.max(lab)) for lab in labels)) + 1
        targets = torch.from_numpy(label_grid_fractions(labels, n_classes))
        task, n_out = "label_grid", n_classes * LABEL_GRID ** 2
    else:
        task, n_classes, n_out, targets = "rotation", 0, 4, None
    g = torch.Generator().manual_seed(int(seed))
    bs = min(int(batch_size), len(x))

    def batches(epoch: int):
        while True:
            idx = torch.randint(0, len(x), (bs,), generator=g)
            t = torch.randint(0, 4, (bs,), generator=g) if targets is None else targets[idx]
            yield x[idx], t

    tail: list[float] = []
    settings = TrainSettings(epochs=1, steps_per_epoch=int(steps), batch_size=bs, lr=lr, device=device,
                             seed=int(seed) % 2 ** 63, deterministic=True, threads=threads)
    prev_threads = torch.get_num_threads()
    try:
        res = fit(lambda: _network(n_out, FEATURE_DIM), batches, settings, loss=_task_loss(task, n_classes),
                  on_step=lambda m, k, v: tail.append(v) if k > steps - 50 else None)
    finally:
        torch.set_num_threads(prev_threads)
    model = res.model.cpu().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    f = _raw_features(model, images)
    sd = f.std(0)
    return FeatureNetwork(model=model, task=task, steps=res.steps, final_loss=float(np.mean(tail)), mean=f.mean(0),
                          scale=np.where(sd > 1e-12, sd, 1.0))


def frechet_distance(x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussian fits of feature sets ``x`` (n, d) and ``y`` (m, d) (FID's formula).

    ``|mu_x - mu_y|^2 + tr(C_x + C_y - 2 (C_x C_y)^(1/2))`` with :func:`scipy.linalg.sqrtm`; when the
    product's square root is not finite (singular covariances), ``eps`` is added to both diagonals.
    Returns a value >= 0 in squared feature units; 0 for identical sets.
    """
    from scipy.linalg import sqrtm

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ParameterError(f"frechet_distance needs two (n >= 2, d) feature sets, got {x.shape} and {y.shape}")
    mx, my = x.mean(0), y.mean(0)
    cx, cy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = sqrtm(cx @ cy)
        if not np.isfinite(covmean).all():
            off = eps * np.eye(len(cx))
            covmean = sqrtm((cx + off) @ (cy + off))
    d = float(((mx - my) ** 2).sum() + np.trace(cx) + np.trace(cy) - 2 * np.trace(np.real(covmean)))
    return max(d, 0.0)


def _poly_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel ``(x.y / d + 1)^3``."""
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def kernel_distance(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_subsets: int = 100,
                    subset_size: int = 1000) -> tuple[float, float]:
    """KID: mean and standard deviation of the unbiased polynomial-kernel MMD^2 over random subsets.

    Each of ``n_subsets`` draws takes ``min(subset_size, n, m)`` (>= 2) rows of ``x`` and of ``y``
    without replacement (``rng``). Dimensionless; about 0 for two samples of one distribution.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    k = min(int(subset_size), len(x), len(y))
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or k < 2 or n_subsets < 1:
        raise ParameterError(f"kernel_distance needs two (n >= 2, d) feature sets and n_subsets >= 1, got "
                             f"{x.shape}, {y.shape}, n_subsets={n_subsets}")
    vals = [_poly_mmd2(x[rng.choice(len(x), k, replace=False)], y[rng.choice(len(y), k, replace=False)])
            for _ in range(int(n_subsets))]
    return float(np.mean(vals)), float(np.std(vals))


def sample_quality(fake: np.ndarray, real_train: np.ndarray, real_heldout: np.ndarray, network: FeatureNetwork,
                   rng: np.random.Generator, n_subsets: int = 100) -> dict[str, float]:
    """FID and KID of generated vs held-out real images, and of real training vs held-out (the reference).

    Images ``(N, S, S)`` in GAN units; ``network`` from :func:`train_feature_network` on the real
    training images. Returns ``fid``, ``fid_reference``, ``kid``, ``kid_std``, ``kid_reference``,
    ``kid_reference_std`` (module docstring); lower is better, the reference is the floor.
    """
    f_fake, f_train, f_ho = (network.features(a) for a in (fake, real_train, real_heldout))
    kid, kid_std = kernel_distance(f_fake, f_ho, rng, n_subsets)
    kid_ref, kid_ref_std = kernel_distance(f_train, f_ho, rng, n_subsets)
    return {"fid": frechet_distance(f_fake[:max(2, len(f_train))], f_ho),
            "fid_reference": frechet_distance(f_train, f_ho),
            "kid": kid, "kid_std": kid_std, "kid_reference": kid_ref, "kid_reference_std": kid_ref_std}


__all__ = ["FEATURE_DIM", "FEATURE_IMAGE_SIZE", "LABEL_GRID", "FeatureNetwork", "frechet_distance", "kernel_distance",
           "label_grid_fractions", "sample_quality", "train_feature_network"]

"""Batch-level Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) for PyTorch batches.

Both take a batch ``inputs`` of shape ``(B, C, H, W)`` or ``(B, C, D, H, W)`` and its targets
(class indices, one-hot/soft vectors, or anything indexable by batch), mix every sample with a
randomly permuted partner and return a :class:`MixedBatch`: the mixed inputs, both targets and the
weight ``lam`` of the first (``1 - lam`` for the partner; the two weights sum to one). Train with
``batch.loss(criterion, outputs)`` (= ``lam * criterion(outputs, targets_a) + (1 - lam) *
criterion(outputs, targets_b)``) or with ``batch.soft_targets(num_classes)``.

Randomness comes only from the explicit generator (a ``torch.Generator`` or a numpy
``Generator``). Usage in a training loop::

    g = torch.Generator().manual_seed(mira.seeding.derive_seed(seed, "mixup"))
    for x, y in loader:
        mb = mira.augment.mixup(x, y, alpha=0.4, generator=g)
        loss = mb.loss(torch.nn.functional.cross_entropy, model(mb.inputs))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import ParameterError


@dataclass
class MixedBatch:
    """A mixed batch: ``inputs``, targets of both partners, and the weight ``lam`` of ``targets_a``."""

    inputs: Any
    targets_a: Any
    targets_b: Any
    lam: float
    index: Any
    masks: Any = None

    @property
    def weights(self) -> tuple[float, float]:
        """``(lam, 1 - lam)``: weights of ``targets_a`` and ``targets_b`` (sum to one)."""
        return float(self.lam), float(1.0 - self.lam)

    def loss(self, criterion: Callable[[Any, Any], Any], outputs: Any) -> Any:
        """``lam * criterion(outputs, targets_a) + (1 - lam) * criterion(outputs, targets_b)``."""
        return self.lam * criterion(outputs, self.targets_a) + (1.0 - self.lam) * criterion(outputs, self.targets_b)

    def soft_targets(self, num_classes: int | None = None):
        """Mixed target vectors ``lam * onehot(a) + (1 - lam) * onehot(b)`` (rows sum to one for one-hot input)."""
        import torch

        def as_probs(t):
            if t.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8) and t.ndim == 1:
                if num_classes is None:
                    raise ParameterError("soft_targets needs num_classes for class-index targets")
                return torch.nn.functional.one_hot(t.long(), num_classes).float()
            return t.float()

        return self.lam * as_probs(self.targets_a) + (1.0 - self.lam) * as_probs(self.targets_b)


def _draws(generator: Any, n: int, alpha: float):
    """(numpy Generator for scalars, torch permutation) from a torch or numpy generator."""
    import torch

    if isinstance(generator, np.random.Generator):
        rng = generator
        perm = torch.from_numpy(rng.permutation(n))
    elif isinstance(generator, torch.Generator):
        perm = torch.randperm(n, generator=generator)
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator).item())
        rng = np.random.default_rng(seed)
    else:
        raise ParameterError("mixup/cutmix need an explicit torch.Generator or numpy Generator "
                             f"(got {type(generator).__name__})")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ParameterError(f"Beta parameter alpha={alpha} must be > 0")
    return rng, perm


def _check_batch(inputs, targets):
    import torch

    if not isinstance(inputs, torch.Tensor) or inputs.ndim not in (4, 5):
        raise ParameterError("inputs must be a torch tensor (B, C, H, W) or (B, C, D, H, W)")
    if len(targets) != inputs.shape[0]:
        raise ParameterError(f"{len(targets)} targets for a batch of {inputs.shape[0]}")


def mixup(inputs, targets, alpha: float = 0.4, generator: Any = None) -> MixedBatch:
    """Mixup: ``lam * x + (1 - lam) * x[perm]`` with ``lam ~ Beta(alpha, alpha)`` (one per batch)."""
    _check_batch(inputs, targets)
    rng, perm = _draws(generator, inputs.shape[0], alpha)
    lam = float(rng.beta(alpha, alpha))
    mixed = lam * inputs + (1.0 - lam) * inputs[perm]
    return MixedBatch(inputs=mixed, targets_a=targets, targets_b=targets[perm], lam=lam, index=perm)


def cutmix(inputs, targets, alpha: float = 1.0, generator: Any = None, masks=None) -> MixedBatch:
    """CutMix: paste a random box from the partner; ``lam`` = fraction of the image NOT pasted.

    The box covers a fraction ``1 - lam0`` of the image (``lam0 ~ Beta(alpha, alpha)``; each side
    ``(1 - lam0)^(1/ndim)`` of the extent) centred uniformly and clipped at the border; ``lam`` is
    then recomputed from the clipped box, so the two label weights are the true area fractions.
    ``masks`` (``(B, ...spatial)`` label maps) are pasted with the same box (segmentation CutMix).
    """
    _check_batch(inputs, targets)
    rng, perm = _draws(generator, inputs.shape[0], alpha)
    spatial = tuple(int(s) for s in inputs.shape[2:])
    lam0 = float(rng.beta(alpha, alpha))
    frac = (1.0 - lam0) ** (1.0 / len(spatial))
    sl = []
    for ext in spatial:
        size = int(round(frac * ext))
        centre = int(rng.integers(0, ext))
        lo, hi = max(0, centre - size // 2), min(ext, centre - size // 2 + size)
        sl.append(slice(lo, max(lo, hi)))
    box = int(np.prod([s.stop - s.start for s in sl]))
    lam = 1.0 - box / float(np.prod(spatial))
    mixed = inputs.clone()
    idx = (slice(None), slice(None), *sl)
    mixed[idx] = inputs[perm][idx]
    mixed_masks = None
    if masks is not None:
        if tuple(masks.shape[-len(spatial):]) != spatial or masks.shape[0] != inputs.shape[0]:
            raise ParameterError(f"masks shape {tuple(masks.shape)} does not match inputs {tuple(inputs.shape)}")
        mixed_masks = masks.clone()
        midx = (slice(None),) * (masks.ndim - len(spatial)) + tuple(sl)
        mixed_masks[midx] = masks[perm][midx]
    return MixedBatch(inputs=mixed, targets_a=targets, targets_b=targets[perm], lam=lam, index=perm,
                      masks=mixed_masks)


class Mixup:
    """Callable form of :func:`mixup` with a fixed ``alpha``: ``Mixup(0.4)(x, y, generator)``."""

    def __init__(self, alpha: float = 0.4):
        if not np.isfinite(alpha) or alpha <= 0:
            raise ParameterError(f"Mixup alpha={alpha} must be > 0")
        self.alpha = float(alpha)

    def __call__(self, inputs, targets, generator) -> MixedBatch:
        return mixup(inputs, targets, self.alpha, generator)


class CutMix:
    """Callable form of :func:`cutmix` with a fixed ``alpha``."""

    def __init__(self, alpha: float = 1.0):
        if not np.isfinite(alpha) or alpha <= 0:
            raise ParameterError(f"CutMix alpha={alpha} must be > 0")
        self.alpha = float(alpha)

    def __call__(self, inputs, targets, generator, masks=None) -> MixedBatch:
        return cutmix(inputs, targets, self.alpha, generator, masks)


__all__ = ["MixedBatch", "mixup", "cutmix", "Mixup", "CutMix"]

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

The textbook chapter's setting is available by name: ``alpha="chapter"`` (or
:data:`CHAPTER_MIXUP_ALPHA`, 1.0; ``Mixup.chapter()``), and its switch between the two,
:class:`MixupOrCutMix` (per batch CutMix with probability ``cutmix_prob``, else Mixup; which one ran
is ``batch.kind``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import ParameterError

#: Beta parameter of Mixup in the textbook chapter (``alpha="chapter"``).
CHAPTER_MIXUP_ALPHA = 1.0
#: Beta parameter of CutMix in the textbook chapter.
CHAPTER_CUTMIX_ALPHA = 1.0
#: The chapter's probability of CutMix (else Mixup) per batch.
CHAPTER_CUTMIX_PROB = 0.5


def resolve_alpha(alpha: float | str, name: str = "alpha") -> float:
    """A Beta parameter: a number > 0, or ``"chapter"`` (:data:`CHAPTER_MIXUP_ALPHA`, 1.0)."""
    if isinstance(alpha, str):
        if alpha.strip().lower() != "chapter":
            raise ParameterError(f"{name}={alpha!r} must be a number > 0 or 'chapter'")
        return CHAPTER_MIXUP_ALPHA
    a = float(alpha)
    if not np.isfinite(a) or a <= 0:
        raise ParameterError(f"Beta parameter {name}={alpha} must be > 0")
    return a


@dataclass
class MixedBatch:
    """A mixed batch: ``inputs``, targets of both partners, and the weight ``lam`` of ``targets_a``.

    ``kind`` says which mix made it (``"mixup"`` or ``"cutmix"``); ``masks`` are the pasted label
    maps of a CutMix given ``masks=`` (else None).
    """

    inputs: Any
    targets_a: Any
    targets_b: Any
    lam: float
    index: Any
    masks: Any = None
    kind: str = "mixup"

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

    alpha = resolve_alpha(alpha)

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
    return rng, perm, alpha


def _check_batch(inputs, targets):
    import torch

    if not isinstance(inputs, torch.Tensor) or inputs.ndim not in (4, 5):
        raise ParameterError("inputs must be a torch tensor (B, C, H, W) or (B, C, D, H, W)")
    if len(targets) != inputs.shape[0]:
        raise ParameterError(f"{len(targets)} targets for a batch of {inputs.shape[0]}")


def mixup(inputs, targets, alpha: float | str = 0.4, generator: Any = None) -> MixedBatch:
    """Mixup: ``lam * x + (1 - lam) * x[perm]`` with ``lam ~ Beta(alpha, alpha)`` (one per batch).

    ``alpha="chapter"`` is the textbook chapter's 1.0 (``lam`` uniform on [0, 1]).
    """
    _check_batch(inputs, targets)
    rng, perm, alpha = _draws(generator, inputs.shape[0], alpha)
    lam = float(rng.beta(alpha, alpha))
    mixed = lam * inputs + (1.0 - lam) * inputs[perm]
    return MixedBatch(inputs=mixed, targets_a=targets, targets_b=targets[perm], lam=lam, index=perm)


def cutmix(inputs, targets, alpha: float | str = 1.0, generator: Any = None, masks=None) -> MixedBatch:
    """CutMix: paste a random box from the partner; ``lam`` = fraction of the image NOT pasted.

    The box covers a fraction ``1 - lam0`` of the image (``lam0 ~ Beta(alpha, alpha)``; each side
    ``(1 - lam0)^(1/ndim)`` of the extent) centred uniformly and clipped at the border; ``lam`` is
    then recomputed from the clipped box, so the two label weights are the true area fractions.
    ``masks`` (``(B, ...spatial)`` label maps) are pasted with the same box (segmentation CutMix).
    """
    _check_batch(inputs, targets)
    rng, perm, alpha = _draws(generator, inputs.shape[0], alpha)
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
                      masks=mixed_masks, kind="cutmix")


class Mixup:
    """Callable form of :func:`mixup` with a fixed ``alpha``: ``Mixup(0.4)(x, y, generator)``.

    ``Mixup("chapter")`` or ``Mixup.chapter()`` is the textbook chapter's ``alpha = 1.0``.
    """

    def __init__(self, alpha: float | str = 0.4):
        self.alpha = resolve_alpha(alpha, "Mixup alpha")

    @classmethod
    def chapter(cls) -> "Mixup":
        """Mixup with the chapter's ``alpha`` (:data:`CHAPTER_MIXUP_ALPHA`)."""
        return cls(CHAPTER_MIXUP_ALPHA)

    def __call__(self, inputs, targets, generator) -> MixedBatch:
        return mixup(inputs, targets, self.alpha, generator)


class CutMix:
    """Callable form of :func:`cutmix` with a fixed ``alpha``."""

    def __init__(self, alpha: float | str = 1.0):
        self.alpha = resolve_alpha(alpha, "CutMix alpha")

    def __call__(self, inputs, targets, generator, masks=None) -> MixedBatch:
        return cutmix(inputs, targets, self.alpha, generator, masks)


class MixupOrCutMix:
    """The chapter's switch: per batch, CutMix with probability ``cutmix_prob``, else Mixup.

    Parameters
    ----------
    mixup_alpha, cutmix_alpha : float or "chapter"
        Beta parameters (> 0) of the two mixes; default the chapter's 1.0.
    cutmix_prob : float
        Probability in [0, 1] of CutMix for a batch (0: always Mixup, 1: always CutMix).

    The choice is drawn from the call's generator (a uniform draw before the mix's own draws), so a
    seeded generator repeats the same sequence of choices; ``batch.kind`` records which ran.
    ``masks`` (segmentation) are pasted by CutMix; under Mixup ``batch.masks`` is None.
    """

    def __init__(self, mixup_alpha: float | str = CHAPTER_MIXUP_ALPHA, cutmix_alpha: float | str = CHAPTER_CUTMIX_ALPHA,
                 cutmix_prob: float = CHAPTER_CUTMIX_PROB):
        self.mixup_alpha = resolve_alpha(mixup_alpha, "mixup_alpha")
        self.cutmix_alpha = resolve_alpha(cutmix_alpha, "cutmix_alpha")
        p = float(cutmix_prob)
        if not 0.0 <= p <= 1.0:
            raise ParameterError(f"cutmix_prob={cutmix_prob} must lie in [0, 1]")
        self.cutmix_prob = p

    def __call__(self, inputs, targets, generator, masks=None) -> MixedBatch:
        import torch

        if isinstance(generator, np.random.Generator):
            u = float(generator.random())
        elif isinstance(generator, torch.Generator):
            u = float(torch.rand((), generator=generator, dtype=torch.float64).item())
        else:
            raise ParameterError("MixupOrCutMix needs an explicit torch.Generator or numpy Generator "
                                 f"(got {type(generator).__name__})")
        if u < self.cutmix_prob:
            return cutmix(inputs, targets, self.cutmix_alpha, generator, masks)
        return mixup(inputs, targets, self.mixup_alpha, generator)

    def __repr__(self) -> str:
        return (f"MixupOrCutMix(mixup_alpha={self.mixup_alpha:g}, cutmix_alpha={self.cutmix_alpha:g}, "
                f"cutmix_prob={self.cutmix_prob:g})")


__all__ = ["MixedBatch", "mixup", "cutmix", "Mixup", "CutMix", "MixupOrCutMix", "resolve_alpha",
           "CHAPTER_MIXUP_ALPHA", "CHAPTER_CUTMIX_ALPHA", "CHAPTER_CUTMIX_PROB"]

"""Training batches of the restoration networks: random aligned patches (with source mixing), the
supervised patch loss, and batch-norm recalibration before each validation.

:class:`PatchSampler` draws aligned (input, target) patches with random dihedral transforms; with
``source_weights`` it first draws the source of each patch (mixing e.g. a large phantom set and a
small real set in a chosen ratio), then a sample within it. :func:`recalibrate_batch_norm`
recomputes batch-norm statistics on its batches. The self-supervised losses are
:mod:`mira.restore.self_supervised`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..errors import ParameterError

LossFn = Callable[[torch.nn.Module, Any], torch.Tensor]


def patch_loss(kind: str) -> LossFn:
    """Supervised ``loss(model, (x, y, w))`` of :func:`mira.nn.fit.fit`: per-patch MSE or L1, mean over
    patches (``"nmse"``: weighted by the patches' inverse noise variance ``w``)."""

    def loss(model: torch.nn.Module, batch) -> torch.Tensor:
        x, y, w = batch
        out = model(x)
        err = (out - y) ** 2 if kind in ("mse", "nmse") else (out - y).abs()
        per_sample = err.mean(dim=(1, 2, 3))
        return (per_sample * w).mean() if kind == "nmse" else per_sample.mean()

    return loss


# ---- patches ------------------------------------------------------------------------------------------------


def _source_probabilities(samples: Sequence[Any], weights: Mapping[str, float]) -> dict[str, float]:
    """Probability of drawing each training source (weights normalised to sum 1), checked."""
    present = list(dict.fromkeys(s.source for s in samples))
    for src, w in weights.items():
        if src not in present:
            raise ParameterError(f"source_weights: source {src!r} has no training images (sources: {present})")
        if not np.isfinite(float(w)) or float(w) < 0:
            raise ParameterError(f"source_weights: the weight of source {src!r} must be >= 0, got {w!r}")
    missing = [src for src in present if src not in weights]
    if missing:
        raise ParameterError(f"source_weights: no weight for the training source(s) {missing}")
    total = sum(float(weights[src]) for src in present)
    if total <= 0:
        raise ParameterError(f"source_weights: the weights of {present} sum to {total}, need > 0")
    return {src: float(weights[src]) / total for src in present}


class PatchSampler:
    """Draws random aligned (input, target) patches with random dihedral transforms.

    ``factor`` is the target/input grid ratio (1 for DnCNN and SRCNN, ``scale`` for EDSR); target
    patches are ``patch`` pixels, input patches ``patch // factor``. Without ``source_weights`` every
    sample is equally likely; with them, each patch first draws its source with probability
    proportional to the source's weight, then a sample uniformly within it (e.g. ``{"phantom": 1,
    "hospital_ct": 1}`` mixes a large phantom set and a small real set 50:50). ``source_counts``
    counts the sources drawn so far.
    """

    def __init__(self, samples: Sequence[Any], patch: int, factor: int, rng: np.random.Generator,
                 source_weights: Mapping[str, float] | None = None):
        self.samples = list(samples)
        self.factor = int(factor)
        self.patch = (int(patch) // self.factor) * self.factor
        self.rng = rng
        small = [s for s in self.samples if min(s.inp.shape) < self.patch // self.factor]
        if small:
            raise ParameterError(f"patch_size {patch} does not fit image(s) of input shape {small[0].inp.shape}")
        self.source_counts: dict[str, int] = {}
        self._by_source: list[tuple[str, list[int]]] = []
        self._p: np.ndarray | None = None
        if source_weights is not None:
            probs = _source_probabilities(self.samples, source_weights)
            self._by_source = [(src, [i for i, s in enumerate(self.samples) if s.source == src]) for src in probs]
            self._p = np.array([probs[src] for src, _ in self._by_source])

    def _pick(self) -> Any:
        if self._p is None:
            s = self.samples[int(self.rng.integers(len(self.samples)))]
        else:
            src, idx = self._by_source[int(self.rng.choice(len(self._p), p=self._p))]
            s = self.samples[idx[int(self.rng.integers(len(idx)))]]
        self.source_counts[s.source] = self.source_counts.get(s.source, 0) + 1
        return s

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` patches: inputs ``(n, 1, p_in, p_in)``, targets ``(n, 1, p, p)`` and sample weights ``(n,)``."""
        p_in = self.patch // self.factor
        xs, ys, ws = [], [], []
        for _ in range(n):
            s = self._pick()
            i = int(self.rng.integers(s.inp.shape[0] - p_in + 1))
            j = int(self.rng.integers(s.inp.shape[1] - p_in + 1))
            k = int(self.rng.integers(8))
            x = s.inp[i:i + p_in, j:j + p_in]
            y = s.target[i * self.factor:i * self.factor + self.patch, j * self.factor:j * self.factor + self.patch]
            x, y = np.rot90(x, k % 4), np.rot90(y, k % 4)
            if k >= 4:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
            ws.append(s.weight)
        w = np.asarray(ws, dtype=np.float32)
        return (np.ascontiguousarray(np.stack(xs)[:, None], dtype=np.float32),
                np.ascontiguousarray(np.stack(ys)[:, None], dtype=np.float32), w / w.mean())


@torch.no_grad()
def recalibrate_batch_norm(module: torch.nn.Module, sampler: "PatchSampler", batches: int, batch_size: int,
                           device: torch.device) -> bool:
    """Recompute batch-norm population statistics on fresh training batches ("precise BN").

    The running averages lag behind a network that is still changing quickly, which makes
    eval-mode outputs (validation, inference) worse than the training loss suggests; averaging the
    batch statistics of ``batches`` batches of the current network removes that lag. Returns False
    when the network has no batch norm.
    """
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return False
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    module.train()
    for _ in range(batches):
        xb, _, _ = sampler.batch(batch_size)
        module(torch.from_numpy(xb).to(device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    module.eval()
    return True


__all__ = ["LossFn", "PatchSampler", "patch_loss", "recalibrate_batch_norm"]

"""A small CNN lesion classifier (lesion present / absent), its training loop and its metrics.

The classifier is the instrument of the augmentation-strategy study
(:mod:`mira.evaluate.strategy_study`) and of the ``classifier`` policy scorer
(:mod:`mira.evaluate.scorer`): the same network, input encoding and training loop everywhere, so a
policy searched with this scorer is judged by the model the study trains.

* **Input**: the image in native units, mapped from a fixed intensity window to 0..1 (clipped) and
  area-resampled to ``size x size`` (:class:`InputEncoder`). The window is computed once from the
  training pool (1st..99th percentile of labelled pixels, :func:`mira.augment.policy.tissue_window`),
  so every strategy and training size sees the same encoding.
* **Network** (:class:`SmallCNN`): three conv-BN-ReLU-maxpool blocks of ``width``, ``2 width``,
  ``4 width`` channels, global average pooling, dropout, a linear layer with two logits.
* **Training** (:func:`train_classifier`, through :func:`mira.nn.fit.fit`; settings
  :class:`ClassifierSettings`): Adam for a fixed number of gradient **steps** (not
  epochs), so that small and large training sets get the same optimisation budget and learning
  curves measure data, not training length. Each step draws a batch (without replacement within
  a pass over the pool), applies the per-sample augmentation with the explicit numpy generator,
  encodes, optionally mixes the batch (Mixup / CutMix, :mod:`mira.augment.mixing`) and minimises
  the soft-target cross-entropy (targets are probability vectors, so soft pseudo-labels and mixed
  targets need no special case). The final model is evaluated; there is no model selection on the
  evaluation set.
* **Metrics**: accuracy at probability 0.5, ROC AUC as the Mann-Whitney statistic
  ``U / (n_pos n_neg)`` (ties count one half; :func:`auc_score`), log-loss, and percentile
  bootstrap confidence intervals over evaluation cases (:func:`bootstrap_ci`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import ParameterError
from ..nn.settings import TrainSettings

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# metrics


def auc_score(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC of ``scores`` for binary ``labels`` (1 = positive) as the Mann-Whitney statistic.

    ``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` with ``R_pos`` the sum of the mid-ranks
    of the positive cases, i.e. the probability that a random positive scores above a random
    negative, ties counting one half (Hanley and McNeil 1982). NaN when a class is absent.
    """
    from scipy.stats import rankdata

    y = np.asarray(labels).astype(int).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ParameterError(f"{y.size} labels for {s.size} scores")
    if not set(np.unique(y)) <= {0, 1}:
        raise ParameterError("AUC needs binary labels 0/1")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy_score(labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5) -> float:
    """Fraction of cases whose ``probability >= threshold`` decision equals the label."""
    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if y.size == 0:
        return float("nan")
    return float(np.mean((p >= threshold).astype(int) == y))


def log_loss(labels: Sequence[int], probabilities: Sequence[float], eps: float = 1e-7) -> float:
    """Mean binary cross-entropy (nats) of probabilities ``p(label = 1)``."""
    y = np.asarray(labels).astype(int).ravel()
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def bootstrap_ci(labels: Sequence[int], probabilities: Sequence[float], rng: np.random.Generator,
                 n_boot: int = 1000, level: float = 0.95) -> dict[str, float]:
    """Percentile bootstrap confidence intervals of accuracy and AUC over evaluation cases.

    Cases are resampled with replacement, stratified by class (each resample keeps the class
    counts, so AUC is always defined).

    Returns
    -------
    dict
        ``accuracy_lo``, ``accuracy_hi``, ``auc_lo``, ``auc_hi``.
    """
    from scipy.stats import rankdata

    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg) or n_boot < 1:
        return {"accuracy_lo": float("nan"), "accuracy_hi": float("nan"), "auc_lo": float("nan"),
                "auc_hi": float("nan")}
    ip = pos[rng.integers(0, len(pos), size=(n_boot, len(pos)))]
    ineg = neg[rng.integers(0, len(neg), size=(n_boot, len(neg)))]
    idx = np.concatenate([ip, ineg], axis=1)
    pb, yb = p[idx], y[idx]
    acc = np.mean((pb >= 0.5).astype(int) == yb, axis=1)
    ranks = rankdata(pb, axis=1)
    n1, n0 = len(pos), len(neg)
    auc = (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)
    a = (1.0 - level) / 2.0 * 100
    return {"accuracy_lo": float(np.percentile(acc, a)), "accuracy_hi": float(np.percentile(acc, 100 - a)),
            "auc_lo": float(np.percentile(auc, a)), "auc_hi": float(np.percentile(auc, 100 - a))}


# ------------------------------------------------------------------------------------------------
# input encoding and network


class InputEncoder:
    """Native-unit image -> ``(1, size, size)`` float32 network input (see the module docstring).

    Parameters
    ----------
    window : (float, float)
        Intensity window in native units mapped to 0..1 (values outside are clipped).
    size : int
        Side of the square network input, pixels (area resampling when the image differs).
    crop : int, optional
        First take the central ``crop x crop`` pixels (patches are stored with a margin so that
        augmentations never pull the border's fill value into the field of view).
    """

    def __init__(self, window: tuple[float, float], size: int, crop: int | None = None):
        lo, hi = float(window[0]), float(window[1])
        if not hi > lo:
            raise ParameterError(f"input window {window} must have high > low")
        if int(size) < 8:
            raise ParameterError(f"classifier input size must be >= 8 pixels, got {size}")
        if crop is not None and int(crop) < 1:
            raise ParameterError(f"crop must be >= 1 pixel, got {crop}")
        self.window, self.size, self.crop = (lo, hi), int(size), None if crop is None else int(crop)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        img = np.asarray(image, dtype=np.float32)
        if img.ndim != 2:
            raise ParameterError(f"the classifier takes 2D images, got shape {img.shape}")
        if self.crop is not None and min(img.shape) > self.crop:
            y0, x0 = (img.shape[0] - self.crop) // 2, (img.shape[1] - self.crop) // 2
            img = img[y0:y0 + self.crop, x0:x0 + self.crop]
        lo, hi = self.window
        x = np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
        if x.shape != (self.size, self.size):
            t = torch.from_numpy(x)[None, None]
            mode = "area" if min(x.shape) >= self.size else "bilinear"
            kw = {} if mode == "area" else {"align_corners": False}
            x = F.interpolate(t, size=(self.size, self.size), mode=mode, **kw)[0, 0].numpy()
        return x[None]

    def batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, 1, self.size, self.size), np.float32)
        return np.stack([self(im) for im in images])


def small_cnn(width: int = 8, dropout: float = 0.2):
    """The study's classifier: 3 x (conv 3x3, batch norm, ReLU, max-pool 2), global average pool, linear -> 2 logits."""
    import torch.nn as nn

    if int(width) < 1:
        raise ParameterError(f"classifier width must be >= 1, got {width}")
    w = int(width)
    layers: list = []
    chans = [1, w, 2 * w, 4 * w]
    for a, b in zip(chans[:-1], chans[1:]):
        layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(float(dropout)), nn.Linear(4 * w, 2)]
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------------------------
# training


#: Keys of ``evaluate.strategies.training``: the network (``width``, ``dropout``), the loop and the
#: learning curve's spacing (``eval_every``).
CLASSIFIER_KEYS: tuple[str, ...] = ("steps", "batch_size", "lr", "weight_decay", "width", "dropout", "eval_every")
#: Values of keys a library caller leaves out (the workflow fills every key from the schema).
LIBRARY_DEFAULTS: dict[str, Any] = {"steps": 300, "batch_size": 16, "lr": 3e-3, "weight_decay": 1e-4, "width": 8,
                                    "dropout": 0.2, "eval_every": 50}


@dataclass(frozen=True)
class ClassifierSettings:
    """The classifier of one training run: its network and its loop (a :class:`mira.nn.TrainSettings`).

    Attributes
    ----------
    loop : TrainSettings
        One epoch of ``steps`` gradient steps (fixed, whatever the training-set size) of
        ``batch_size`` images; Adam ``lr`` and L2 ``weight_decay``.
    width : int
        Channels of the first conv layer (doubling per block).
    dropout : float
        Dropout before the last layer.
    eval_every : int
        Steps between two points of the recorded learning curve (0: only the end).
    """

    loop: TrainSettings
    width: int = 8
    dropout: float = 0.2
    eval_every: int = 50

    def __post_init__(self):
        if self.loop.epochs != 1 or self.steps < 1 or self.batch_size < 2 or self.width < 1 or self.eval_every < 0:
            raise ParameterError("classifier training needs one epoch of steps >= 1, batch_size >= 2, width >= 1, "
                                 "eval_every >= 0")

    @property
    def steps(self) -> int:
        """Gradient steps of the run."""
        return self.loop.steps_per_epoch

    @property
    def batch_size(self) -> int:
        return self.loop.batch_size

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None = None) -> "ClassifierSettings":
        """Settings from keys of :data:`CLASSIFIER_KEYS` (config ``evaluate.strategies.training``)."""
        given = dict(m or {})
        bad = sorted(set(given) - set(CLASSIFIER_KEYS))
        if bad:
            raise ParameterError(f"unknown classifier settings {bad} (known: {sorted(CLASSIFIER_KEYS)})")
        v = {k: given.get(k, LIBRARY_DEFAULTS[k]) for k in CLASSIFIER_KEYS}
        loop = TrainSettings(epochs=1, steps_per_epoch=int(v["steps"]), batch_size=int(v["batch_size"]), lr=v["lr"],
                             weight_decay=v["weight_decay"])
        return cls(loop=loop, width=int(v["width"]), dropout=float(v["dropout"]), eval_every=int(v["eval_every"]))


@dataclass
class TrainedClassifier:
    """A trained model with its learning curve (one dict per recorded step) and wall time."""

    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0

    def predict_proba(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        return predict_proba(self.model, x, batch)


def predict_proba(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """``p(lesion)`` for encoded inputs ``x`` of shape ``(n, 1, size, size)`` (on the network's device)."""
    import torch

    from ..nn.device import model_device

    device = model_device(model)
    model.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(x), batch):
            logits = model(torch.from_numpy(np.ascontiguousarray(x[k:k + batch])).to(device))
            out.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def one_hot(labels: Sequence[int]) -> np.ndarray:
    """Binary labels -> ``(n, 2)`` probability targets."""
    y = np.asarray(labels).astype(int).ravel()
    t = np.zeros((y.size, 2), np.float32)
    t[np.arange(y.size), y] = 1.0
    return t


def _batches(items, targets, encode, transform, batch_mix, mix_alpha, batch_size: int, seed: int):
    """``batches(epoch)`` of :func:`mira.nn.fit.fit`: passes over the pool without replacement, augmented,
    encoded and optionally mixed; endless (the loop takes ``steps`` of them)."""
    import torch

    from ..augment.mixing import cutmix, mixup

    n = len(items)
    rng = np.random.default_rng(seed)
    cache = None if transform is not None else np.stack([encode(it) for it in items])
    gen = torch.Generator().manual_seed(int(seed) % (2 ** 63))

    def batches(epoch: int):
        order, pos = rng.permutation(n), 0
        while True:
            idx = []
            while len(idx) < min(batch_size, max(n, 2)):
                if pos >= n:
                    order, pos = rng.permutation(n), 0
                idx.append(int(order[pos]))
                pos += 1
            if cache is not None:
                x = torch.from_numpy(cache[idx])
            else:
                x = torch.from_numpy(np.stack([encode(transform(items[i], rng)) for i in idx]))
            t = torch.from_numpy(targets[idx])
            if callable(batch_mix):
                mixed = batch_mix(x, t, gen)
                x, t = mixed.inputs, mixed.soft_targets()
            elif batch_mix is not None:
                mixed = (mixup if batch_mix == "mixup" else cutmix)(x, t, alpha=mix_alpha, generator=gen)
                x, t = mixed.inputs, mixed.soft_targets()
            yield x, t

    return batches


def train_classifier(items: Sequence[Any], targets: np.ndarray, encode: Callable[[Any], np.ndarray], *,
                     seed: int, settings: ClassifierSettings | None = None,
                     transform: Callable[[Any, np.random.Generator], Any] | None = None,
                     batch_mix: str | None = None, mix_alpha: float = 1.0,
                     eval_x: np.ndarray | None = None, eval_y: np.ndarray | None = None) -> TrainedClassifier:
    """Train :func:`small_cnn` on ``items`` with :func:`mira.nn.fit.fit` (see the module docstring).

    Parameters
    ----------
    items : sequence
        Training items; ``transform(item, rng)`` (if given) returns an augmented item and
        ``encode(item)`` the ``(1, size, size)`` input. Items are typically
        :class:`mira.augment.Sample` with an ``image`` in native units.
    targets : ndarray, shape (n, 2)
        Probability targets (one-hot for hard labels, soft for pseudo-labels).
    encode : callable
        Item -> network input.
    seed : int
        Seeds the torch initialisation, the batch order and the augmentation generator.
    settings : ClassifierSettings
        Network width and dropout, steps, batch size, learning rate, learning-curve spacing.
    transform : callable, optional
        Per-sample augmentation ``transform(item, rng)``.
    batch_mix : {None, "mixup", "cutmix"} or callable
        Batch-level mixing (:func:`mira.augment.mixup`, :func:`mira.augment.cutmix`), ``alpha = mix_alpha``;
        or a mixer object ``mixer(inputs, targets, generator) -> MixedBatch`` such as
        :class:`mira.augment.MixupOrCutMix` (``mix_alpha`` is then unused).
    eval_x, eval_y : ndarray, optional
        Encoded evaluation inputs and labels for the recorded learning curve.
    """
    import torch.nn.functional as F

    from ..nn.fit import fit

    st = settings or ClassifierSettings.from_mapping()
    targets = np.asarray(targets, dtype=np.float32)
    n = len(items)
    if n < 1 or targets.shape != (n, 2):
        raise ParameterError(f"need >= 1 training item and targets of shape (n, 2); got {n} items, "
                             f"targets {targets.shape}")
    if not (callable(batch_mix) or batch_mix in (None, "mixup", "cutmix")):
        raise ParameterError(f"batch_mix must be None, 'mixup', 'cutmix' or a mixer(inputs, targets, generator), "
                             f"got {batch_mix!r}")
    history: list[dict[str, float]] = []
    running: list[float] = []

    def on_step(model, step: int, loss: float) -> None:
        running.append(loss)
        if (st.eval_every and step % st.eval_every == 0) or step == st.steps:
            rec = {"step": step, "train_loss": float(np.mean(running))}
            running.clear()
            if eval_x is not None and eval_y is not None and len(eval_x):
                p = predict_proba(model, eval_x)
                rec.update(eval_accuracy=accuracy_score(eval_y, p), eval_auc=auc_score(eval_y, p),
                           eval_log_loss=log_loss(eval_y, p))
            history.append(rec)

    def loss(model, batch):
        x, t = batch
        return -(t * F.log_softmax(model(x), dim=1)).sum(dim=1).mean()

    batches = _batches(items, targets, encode, transform, batch_mix, mix_alpha, st.batch_size, seed)
    res = fit(lambda: small_cnn(st.width, st.dropout), batches, st.loop.replace(seed=seed % (2 ** 63)), loss=loss,
              on_step=on_step)
    return TrainedClassifier(model=res.model, history=history, wall_s=res.wall_time_s)


__all__ = ["auc_score", "accuracy_score", "log_loss", "bootstrap_ci", "InputEncoder", "small_cnn", "ClassifierSettings",
           "TrainedClassifier", "train_classifier", "predict_proba", "one_hot"]

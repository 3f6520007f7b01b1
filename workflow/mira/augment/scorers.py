"""The built-in policy scorers of :func:`mira.augment.policy.search_policy`, chosen by name from a plain dict.

A scorer is a callable ``scorer(policy, train, val, rng) -> {"score": ...}`` (higher is better;
``policy`` is ``None`` for the no-augmentation baseline). The caller builds one and passes it to
the search; nothing is registered or imported behind its back:

* :class:`TinySegmenterScorer` (``"tiny_segmenter"``, the default of the workflow): organ
  segmentation Dice of a small dilated FCN trained on policy-augmented images and label maps;
* :class:`TinyCNNScorer` (``"tiny_cnn"``): lesion detection (the phantoms' ``class_label``) by a
  tiny CNN, minus the validation log-loss.

:data:`SCORERS` maps these names to their classes; :func:`make_scorer` builds one from a name and
its options, looking the name up in the mapping it is given. The study layer adds the strategy
study's ``"classifier"`` scorer (:data:`mira.evaluate.scorer.SCORERS`) to that mapping; library
code never imports :mod:`mira.evaluate`.

Both scorers train through :func:`mira.nn.fit.fit` with common random numbers: every candidate
starts from the same initial weights and batch order (``init_seed``), so score differences come
from the augmentation; the generator passed in drives the augmentation only. They run on the GPU
when torch sees one.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import ParameterError
from ..nn.settings import TrainSettings
from .policy import Scorer, tissue_window
from .sample import Sample


def _to_input(sample: Sample, size: int, window: tuple[float, float]) -> np.ndarray:
    """Tissue-window-normalised (0..1), area-downsampled ``size x size`` float32 image."""
    import torch
    import torch.nn.functional as F

    lo, hi = window
    x = np.clip((sample.image - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    t = torch.from_numpy(x)[None, None]
    return F.interpolate(t, size=(size, size), mode="area")[0].numpy()


def _label_input(sample: Sample, size: int, lut: np.ndarray) -> np.ndarray:
    """Label map -> class indices (``lut``), nearest-neighbour resized to ``size x size``."""
    import torch
    import torch.nn.functional as F

    lab = lut[np.asarray(sample.label, dtype=np.int64)].astype(np.float32)
    t = torch.from_numpy(lab)[None, None]
    return F.interpolate(t, size=(size, size), mode="nearest")[0, 0].numpy().astype(np.int64)


class _TinyScorer:
    """What both built-in scorers share: settings, the training data of an epoch, the training run."""

    def __init__(self, image_size: int, epochs: int, copies: int, repeats: int, lr: float, width: int,
                 batch_size: int, init_seed: int):
        if image_size < 8 or epochs < 1 or copies < 1 or repeats < 1 or batch_size < 1:
            raise ParameterError(f"{type(self).__name__} needs image_size >= 8 and epochs, copies, repeats, "
                                 "batch_size >= 1")
        self.image_size, self.epochs = int(image_size), int(epochs)
        self.copies, self.repeats = int(copies), int(repeats)
        self.lr, self.width, self.batch_size, self.init_seed = float(lr), int(width), int(batch_size), int(init_seed)

    def _train(self, build: Callable[[], Any], epoch_data: Callable[[], tuple], seed: int):
        """Train ``build()`` on ``epoch_data()`` (fresh augmentations each epoch) with cross-entropy.

        The network is built under ``torch.manual_seed(seed)``; the batch order comes from a torch
        generator seeded with ``seed`` too (common random numbers across candidates).
        """
        import torch
        import torch.nn.functional as F

        from ..nn.fit import fit

        g = torch.Generator().manual_seed(seed)

        def batches(epoch: int):
            x, y = epoch_data()
            order = torch.randperm(len(x), generator=g)
            for k in range(0, len(x), self.batch_size):
                idx = order[k:k + self.batch_size]
                yield x[idx], y[idx]

        settings = TrainSettings(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed,
                                 deterministic=False)
        return fit(build, batches, settings, loss=lambda model, b: F.cross_entropy(model(b[0]), b[1])).model


class TinyCNNScorer(_TinyScorer):
    """Quick built-in scorer: lesion detection by a tiny CNN trained on policy-augmented images.

    For each of ``repeats`` seeds: every epoch draws ``copies`` fresh augmentations of each
    training image (``class_label`` 0/1 as target), trains a 2-conv-layer CNN with Adam, and then
    measures the validation cross-entropy. The score is minus the mean validation log-loss (a
    proper scoring rule: continuous, unlike accuracy on a handful of cases); accuracy is reported
    too. Deterministic for a given generator.
    """

    def __init__(self, image_size: int = 48, epochs: int = 15, copies: int = 2, repeats: int = 2, lr: float = 3e-3,
                 width: int = 8, batch_size: int = 8, init_seed: int = 0):
        super().__init__(image_size, epochs, copies, repeats, lr, width, batch_size, init_seed)

    def _model(self):
        import torch.nn as nn

        w = self.width
        return nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(2 * w, 2))

    def __call__(self, policy, train: Sequence[Sample], val: Sequence[Sample], rng: np.random.Generator) -> dict:
        import torch
        import torch.nn.functional as F

        from ..nn.device import model_device

        for s in (*train, *val):
            if s.ndim != 2:
                raise ParameterError("the tiny_cnn scorer works on 2D images")
        y_tr = np.array([int(s.meta.get("class_label", -1)) for s in train])
        y_va = np.array([int(s.meta.get("class_label", -1)) for s in val])
        if set(np.unique(y_tr)) != {0, 1} or not set(np.unique(y_va)) <= {0, 1} or len(val) == 0:
            raise ParameterError("the tiny_cnn scorer needs class labels 0 and 1 in the training split and 0/1 in val")
        window = tissue_window(train)
        xv = torch.from_numpy(np.stack([_to_input(s, self.image_size, window) for s in val]))
        yv = torch.from_numpy(y_va).long()

        def epoch_data():
            xs, ys = [], []
            for s, y in zip(train, y_tr):
                for _c in range(self.copies):
                    aug = policy(s, rng) if policy is not None else s
                    xs.append(_to_input(aug, self.image_size, window))
                    ys.append(y)
            return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.array(ys)).long()

        losses, accs = [], []
        for r in range(self.repeats):
            model = self._train(self._model, epoch_data, self.init_seed + 1009 * r)  # same init for every candidate
            dev = model_device(model)
            with torch.no_grad():
                logits = model(xv.to(dev))
                losses.append(float(F.cross_entropy(logits, yv.to(dev))))
                accs.append(float((logits.argmax(1) == yv.to(dev)).float().mean()))
        return {"score": -float(np.mean(losses)), "val_log_loss": float(np.mean(losses)),
                "val_log_loss_std": float(np.std(losses)), "val_accuracy": float(np.mean(accs))}


class TinySegmenterScorer(_TinyScorer):
    """Quick built-in scorer (default): organ segmentation by a small dilated FCN.

    For each of ``repeats`` seeds: every epoch draws ``copies`` fresh augmentations of each
    training image *with its label map* (the policy moves both), trains a 5-layer dilated
    fully-convolutional network (receptive field 31 px at ``image_size``) with cross-entropy, then
    scores the validation images: mean Dice over the foreground labels present. Pixel-wise
    supervision makes the score informative with a few dozen phantoms in seconds, which a
    case-level classifier is not; augmentation that breaks the image-label registration or the
    anatomy lowers it. The score is the mean validation Dice (higher is better).

    Every candidate is trained from the same initial weights and batch order (``init_seed``;
    common random numbers), so score differences come from the augmentation, not from the
    network's initialisation; the generator passed in drives the augmentation only.
    """

    def __init__(self, image_size: int = 48, epochs: int = 10, copies: int = 2, repeats: int = 1, lr: float = 3e-3,
                 width: int = 8, batch_size: int = 8, init_seed: int = 0):
        super().__init__(image_size, epochs, copies, repeats, lr, width, batch_size, init_seed)

    def _model(self, n_classes: int):
        import torch.nn as nn

        w = self.width
        layers: list = [nn.Conv2d(1, w, 3, padding=1), nn.ReLU()]
        for d in (2, 4, 8):
            layers += [nn.Conv2d(w, w, 3, padding=d, dilation=d), nn.BatchNorm2d(w), nn.ReLU()]
        layers += [nn.Conv2d(w, n_classes, 1)]
        return nn.Sequential(*layers)

    def __call__(self, policy, train: Sequence[Sample], val: Sequence[Sample], rng: np.random.Generator) -> dict:
        import torch
        import torch.nn.functional as F

        from ..nn.device import model_device

        for s in (*train, *val):
            if s.ndim != 2 or s.label is None:
                raise ParameterError("the tiny_segmenter scorer needs 2D images with label maps")
        values = np.unique(np.concatenate([np.unique(s.label) for s in (*train, *val)]))
        lut = np.zeros(int(values.max()) + 1, dtype=np.int64)
        lut[values] = np.arange(len(values))
        window = tissue_window(train)
        xv = torch.from_numpy(np.stack([_to_input(s, self.image_size, window) for s in val]))
        yv = np.stack([_label_input(s, self.image_size, lut) for s in val])

        def epoch_data():
            xs, ys = [], []
            for s in train:
                for _c in range(self.copies):
                    aug = policy(s, rng) if policy is not None else s
                    xs.append(_to_input(aug, self.image_size, window))
                    ys.append(_label_input(aug, self.image_size, lut))
            return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))

        dices, losses = [], []
        for r in range(self.repeats):
            model = self._train(lambda: self._model(len(values)), epoch_data, self.init_seed + 1009 * r)
            dev = model_device(model)
            with torch.no_grad():
                logits = model(xv.to(dev))
                losses.append(float(F.cross_entropy(logits, torch.from_numpy(yv).to(dev))))
                pred = logits.argmax(1).cpu().numpy()
            per_class = []
            for c in range(1, len(values)):
                a, b = pred == c, yv == c
                if b.any():
                    per_class.append(2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))
            dices.append(float(np.mean(per_class)) if per_class else float("nan"))
        return {"score": float(np.mean(dices)), "val_dice": float(np.mean(dices)), "val_dice_std": float(np.std(dices)),
                "val_log_loss": float(np.mean(losses))}


#: The built-in scorers by name (config ``augment.policy.scorer``).
SCORERS: dict[str, Callable[..., Scorer]] = {"tiny_cnn": TinyCNNScorer, "tiny_segmenter": TinySegmenterScorer}


def make_scorer(name: str, options: Mapping[str, Any] | None = None,
                known: Mapping[str, Callable[..., Scorer]] = SCORERS) -> Scorer:
    """The scorer ``known[name](**options)``.

    Parameters
    ----------
    name : str
        Scorer name (config ``augment.policy.scorer``).
    options : mapping, optional
        Keyword arguments of the scorer (config ``augment.policy.scorer_options``).
    known : mapping of str to callable
        Scorer factories by name: :data:`SCORERS`, or that merged with the study layer's own (the
        strategy study's ``classifier``, :data:`mira.evaluate.scorer.SCORERS`).

    Raises
    ------
    ParameterError
        ``name`` is not in ``known``, or the options do not fit the scorer.
    """
    if name not in known:
        raise ParameterError(f"unknown policy scorer {name!r} (known: {', '.join(sorted(known))})")
    try:
        return known[name](**dict(options or {}))
    except TypeError as exc:
        raise ParameterError(f"policy scorer {name!r}: bad options {sorted(dict(options or {}))} ({exc})") from None


__all__ = ["TinyCNNScorer", "TinySegmenterScorer", "SCORERS", "make_scorer"]

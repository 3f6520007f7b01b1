"""The strategy study's classifier as a policy-search scorer (``augment.policy.scorer: classifier``).

:data:`SCORERS` maps the name ``"classifier"`` to :class:`ClassifierScorer`; the study layer merges
it with the built-in scorers (:data:`mira.augment.scorers.SCORERS`) and builds the one the config
names with :func:`mira.augment.scorers.make_scorer` (nothing is registered on import).

The scorer cuts one lesion / no-lesion patch per training and validation phantom
(:func:`mira.evaluate.cohort.samples_to_patches`, as the strategy study does), trains
:func:`mira.evaluate.classifier.small_cnn` on policy-augmented training patches with the study's
training loop, and returns minus the validation log-loss (a proper scoring rule:
continuous, unlike accuracy on a handful of validation cases) together with accuracy and AUC,
averaged over ``repeats`` training seeds.

Signature (the augment stage's contract): ``scorer(policy, train, val, rng) -> {"score": ...}``,
``policy`` being ``None`` for the no-augmentation baseline.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..augment.policy import tissue_window
from ..errors import ParameterError
from .classifier import ClassifierSettings, InputEncoder, accuracy_score, auc_score, log_loss, one_hot, train_classifier
from .cohort import PatchSpec, samples_to_patches


class ClassifierScorer:
    """Policy scorer backed by the strategy study's classifier (module docstring).

    Parameters
    ----------
    patch_size : int
        Side of the classifier's field of view, pixels (the study's ``patch_size``).
    patch_context : float
        Stored patch side / field of view (margin for spatial augmentations).
    steps, batch_size, lr, width : training settings (:class:`~mira.evaluate.classifier.ClassifierSettings`).
    repeats : int
        Training seeds averaged per policy.
    """

    def __init__(self, patch_size: int = 16, patch_context: float = 1.5, steps: int = 300, batch_size: int = 16,
                 lr: float = 3e-3, width: int = 8, repeats: int = 2):
        if int(repeats) < 1:
            raise ParameterError("the classifier scorer needs repeats >= 1")
        self.spec = PatchSpec(int(patch_size), float(patch_context))
        self.settings = ClassifierSettings.from_mapping({"steps": int(steps), "batch_size": int(batch_size),
                                                         "lr": float(lr), "width": int(width), "eval_every": 0})
        self.repeats = int(repeats)
        self._cache: dict[int, Any] = {}

    def _patches(self, train: Sequence[Any], val: Sequence[Any], rng: np.random.Generator):
        key = id(train) ^ (id(val) << 1)
        if key not in self._cache:  # the same train/val lists are scored for every candidate: cut once
            prng = np.random.default_rng(0)  # fixed: every candidate is scored on the same patches
            tr = samples_to_patches(train, prng, self.spec)
            va = samples_to_patches(val, prng, self.spec)
            self._cache = {key: (tr, va)}
        return self._cache[key]

    def __call__(self, policy, train: Sequence[Any], val: Sequence[Any], rng: np.random.Generator) -> dict:
        tr, va = self._patches(train, val, rng)
        y_tr = np.array([s.meta["class_label"] for s in tr], int)
        y_va = np.array([s.meta["class_label"] for s in va], int)
        if set(np.unique(y_tr)) != {0, 1} or not len(va):
            raise ParameterError("the classifier scorer needs lesion and lesion-free cases in train and cases in val")
        enc = InputEncoder(tissue_window(tr), self.spec.side, crop=self.spec.side)
        xv = enc.batch([s.image for s in va])
        losses, accs, aucs = [], [], []
        for _ in range(self.repeats):
            seed = int(rng.integers(0, 2 ** 62))
            res = train_classifier(tr, one_hot(y_tr), lambda s: enc(s.image), seed=seed, settings=self.settings,
                                   transform=(lambda s, g: policy(s, g)) if policy is not None else None)
            p = res.predict_proba(xv)
            losses.append(log_loss(y_va, p))
            accs.append(accuracy_score(y_va, p))
            aucs.append(auc_score(y_va, p))
        return {"score": -float(np.mean(losses)), "val_log_loss": float(np.mean(losses)),
                "val_log_loss_std": float(np.std(losses)), "val_accuracy": float(np.mean(accs)),
                "val_auc": float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")}


#: The scorers of this stage by name (config ``augment.policy.scorer``).
SCORERS: dict[str, Callable[..., Any]] = {"classifier": ClassifierScorer}

__all__ = ["ClassifierScorer", "SCORERS"]

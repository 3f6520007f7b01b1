"""Augmentation strategies against data scarcity (``compare_augmentation_strategies`` of the textbook
chapter on medical image augmentation and restoration).

Question: how much does each augmentation strategy buy a lesion classifier when labelled data are
scarce, and are the textbook chapter's claims -- augmentation improves performance by **15-30 %** under
scarcity and is worth **2-5x more data** -- true on this data?

Design
------
* **Cohort** (:func:`mira.evaluate.cohort.make_cohort`): a labelled classification cohort
  synthesised for the study (:func:`mira.synthesis.synthesize_case`, generator
  ``rng_for(seed, "strategy", modality, part, i)``): lesion / no-lesion **patches** (regions of
  interest on a lesion, or on the same organ in a lesion-free case; see
  :mod:`mira.evaluate.cohort` for why not whole slices), a training **pool** of
  ``pool_per_class`` patches per class and a fixed **evaluation** set of ``eval_per_class``
  patches per class that no model ever trains on.
* **Runs** (:func:`run_strategy`): for every training size ``n`` (cases *per class*) and seed
  ``k``, the training set is the first ``n`` cases of each class in a seed-specific permutation of
  the pool (nested: the ``n = 16`` set contains the ``n = 8`` set). The classifier
  (:mod:`mira.evaluate.classifier`) gets the same initialisation seed and the same number of
  gradient steps for every strategy at a given ``(n, k)``, so strategies are compared *paired*:
  only the augmentation differs.
* **Metrics** per run: evaluation accuracy and ROC AUC with 95 % percentile-bootstrap intervals
  over evaluation cases; the learning curve (evaluation metrics every ``eval_every`` steps).
* **Summary** (:func:`summarize_runs`): per (strategy, size), the mean over seeds with a
  **t-interval over seeds** (``mean +- t_{0.975, k-1} sd / sqrt(k)``: the spread of what a user
  would get from retraining on another sample of the same size); with a single seed the run's
  bootstrap interval over evaluation cases is used instead (column ``ci``). The gain of a strategy
  is its accuracy minus the baseline's at the same size and seed (paired), with a t-interval, and
  in percent of the baseline's accuracy.
* **Data efficiency** (:func:`equivalent_size`): the training size the no-augmentation baseline
  needs to reach the strategy's accuracy, by linear interpolation of the baseline's learning curve
  in ``log2(size)`` (made monotone by a running maximum); the factor is that size divided by the
  strategy's size. When the strategy beats the baseline's best accuracy the factor is only a lower
  bound (``> max_size / n``); when it is below the baseline's accuracy at the smallest size it is an
  upper bound (``< smallest_size / n``).
* **Shared code**: the loop over sizes and seeds, the subsets, the seeds and the scoring are the
  library's (:func:`mira.evaluate.strategy_compare.strategy_runs`, the core of
  :func:`mira.evaluate.compare_augmentation_strategies`), the summary and the claims are
  :mod:`mira.evaluate.strategy_summary`; this module adds mira's cohort, classifier and GAN patches.
* **Claims** (:func:`claims_table`): per strategy, at the smallest training size, the relative
  accuracy gain against the claimed 15-30 % and the data factor against the claimed 2-5x, with a
  plain verdict.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile
from ..seeding import rng_for
from .classifier import ClassifierSettings, InputEncoder, one_hot, train_classifier
from .cohort import Cohort
from .strategies import build_strategy
from .strategy_compare import RUN_COLUMNS, Trained, TrainingSet, strategy_runs, training_subset
from .strategy_summary import (
    CLAIMED_DATA_FACTOR,
    CLAIMED_GAIN_PCT,
    claims_statement,
    claims_table,
    data_factor,
    equivalent_size,
    format_factor,
    summarize_runs,
    t_interval,
)

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)



# ------------------------------------------------------------------------------------------------
# cohort helpers


def load_gan_samples(folder: PathLike, modality: str) -> list:
    """The augment stage's GAN samples (a dataset folder of whole generated images) as samples."""
    from ..augment import Sample
    from ..dataset import Dataset

    ds = Dataset(folder)
    if not len(ds):
        raise InputError(f"{folder}: no GAN samples")
    return [Sample(image=c.image, spacing=c.spacing, modality=modality, meta={"case_id": c.record.case_id})
            for c in ds]


def gan_patches(gan_samples: Sequence[Any], cohort: Cohort, rng: np.random.Generator) -> list:
    """Cut one patch per GAN image at the cohort's pixel spacing and stored patch size.

    The generated image is resampled (linear) to the cohort's spacing, and a window of the cohort's
    stored patch size is cut around a random point of its central 60 % (where the anatomy is).
    """
    from scipy import ndimage as ndi

    from ..augment import Sample
    from ..modalities import as_profile
    from .cohort import crop

    side = int(cohort.pool[0].shape[-1])
    fill = float(as_profile(cohort.profile or cohort.modality).fill_value)
    out = []
    for g in gan_samples:
        zoom = [float(a) / float(b) for a, b in zip(g.spacing, cohort.spacing)]
        resample = any(abs(z - 1) > 1e-3 for z in zoom)
        img = ndi.zoom(np.asarray(g.image, np.float32), zoom, order=1) if resample else g.image
        lo = [int(0.2 * n) for n in img.shape]
        hi = [max(a + 1, int(0.8 * n)) for a, n in zip(lo, img.shape)]
        ctr = [int(rng.integers(a, b)) for a, b in zip(lo, hi)]
        out.append(Sample(image=crop(img, ctr, side, fill), spacing=cohort.spacing, modality=cohort.modality,
                          meta=dict(g.meta)))
    return out


# ------------------------------------------------------------------------------------------------
# runs


@dataclass(frozen=True)
class StrategyDesign:
    """What one strategy job runs (config ``evaluate.strategies``).

    Attributes
    ----------
    sizes, seeds : tuple of int, int
        Training-set sizes (cases per class, nested subsets of the pool) and repetitions per size.
    training : ClassifierSettings
        The classifier and its training loop (the same for every strategy).
    input_size : int or None
        Side of the network input (None: the cohort's patch side).
    mixup_alpha, cutmix_alpha, gan_ratio : float
        Beta parameters of Mixup and CutMix; GAN synthetic patches per real training patch.
    cutmix_prob : float
        Probability of CutMix per batch in the ``mixup_cutmix`` strategy (else Mixup).
    n_boot, confidence : int, float
        Bootstrap resamples and confidence level of the per-run intervals.
    """

    sizes: tuple[int, ...]
    seeds: int
    training: ClassifierSettings
    input_size: int | None
    mixup_alpha: float
    cutmix_alpha: float
    gan_ratio: float
    n_boot: int
    confidence: float
    cutmix_prob: float = 0.5

    @classmethod
    def from_settings(cls, strategies: Any) -> StrategyDesign:
        """The design of the ``evaluate.strategies`` settings section."""
        st = strategies
        return cls(sizes=tuple(int(n) for n in st.sizes), seeds=int(st.seeds),
                   training=ClassifierSettings.from_mapping(st.training.to_dict()), input_size=st.input_size,
                   mixup_alpha=st.mixup_alpha, cutmix_alpha=st.cutmix_alpha, gan_ratio=st.gan_ratio,
                   n_boot=int(st.bootstrap), confidence=st.confidence, cutmix_prob=float(st.cutmix_prob))


def _with_gan(items: list, targets: np.ndarray, cohort: Cohort, gan_samples: Sequence[Any], design: StrategyDesign,
              encoder: InputEncoder, *, seed: int, tseed: int, k: int, n: int) -> tuple[list, np.ndarray, int]:
    """The GAN strategy's training set: real items plus GAN patches pseudo-labelled by a baseline teacher."""
    teacher = train_classifier(items, targets, lambda s: encoder(s.image), seed=tseed, settings=design.training)
    n_syn = min(len(gan_samples), int(round(design.gan_ratio * len(items))))
    grng = rng_for(seed, "strategy-gan", cohort.modality, k, n)
    pick = grng.permutation(len(gan_samples))[:n_syn]
    syn = gan_patches([gan_samples[i] for i in pick], cohort, grng)
    if not syn:
        return items, targets, n_syn
    p = teacher.predict_proba(encoder.batch([s.image for s in syn]))
    return items + syn, np.concatenate([targets, np.stack([1 - p, p], axis=1).astype(np.float32)]), n_syn


def _cohort_trainer(cohort: Cohort, strat: Any, design: StrategyDesign, encoder: InputEncoder, eval_x: np.ndarray,
                    eval_y: np.ndarray, gan_samples: Sequence[Any] | None, seed: int):
    """The study's ``train_fn``: the lesion classifier on a run's training set (plus GAN patches for ``gan``)."""
    st = design.training

    def train(items: TrainingSet, augment: Any, rng: np.random.Generator) -> Trained:
        samples, targets, n_syn = list(items), one_hot(items.labels), 0
        if strat.uses_gan:
            samples, targets, n_syn = _with_gan(samples, targets, cohort, gan_samples, design, encoder, seed=seed,
                                                tseed=items.train_seed, k=items.seed_index, n=items.size)
        res = train_classifier(samples, targets, lambda s: encoder(s.image), seed=items.train_seed, settings=st,
                               transform=strat.transform, batch_mix=strat.mixer, mix_alpha=strat.mix_alpha,
                               eval_x=eval_x, eval_y=eval_y)
        return Trained(model=res, history=res.history, wall_s=res.wall_s,
                       info={"n_synthetic": n_syn, "steps": st.steps})

    return train


def run_strategy(cohort: Cohort, strategy: str, design: StrategyDesign, *, seed: int,
                 policy_path: PathLike | None = None, gan_samples: Sequence[Any] | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and evaluate one strategy at every size and seed of ``design`` (module docstring).

    The loop, the subsets, the seeds and the scoring are those of the library's
    :func:`mira.evaluate.compare_augmentation_strategies` (:func:`mira.evaluate.strategy_compare.strategy_runs`),
    with mira's lesion classifier as the training function.

    Returns
    -------
    runs : DataFrame
        One row per (size, seed): columns :data:`RUN_COLUMNS`.
    history : DataFrame
        Learning curves: one row per (size, seed, recorded step).
    """
    from ..augment.policy import tissue_window

    mod = cohort.modality
    strat = build_strategy(strategy, cohort.profile or mod, policy_path=policy_path, mixup_alpha=design.mixup_alpha,
                           cutmix_alpha=design.cutmix_alpha, cutmix_prob=design.cutmix_prob)
    if strat.uses_gan and not gan_samples:
        raise ParameterError(f"{mod}: the 'gan' strategy needs GAN samples")
    encoder = InputEncoder(tissue_window(cohort.pool), design.input_size or cohort.side, crop=cohort.side)
    eval_x = encoder.batch([s.image for s in cohort.eval])
    eval_y = np.asarray(cohort.eval_y, int)
    train = _cohort_trainer(cohort, strat, design, encoder, eval_x, eval_y, gan_samples, seed)
    return strategy_runs(train, cohort.pool, np.asarray(cohort.pool_y), cohort.eval, eval_y,
                         lambda res, _items: res.predict_proba(eval_x), name=mod, strategy=strategy, augment=strat,
                         sizes=design.sizes, seeds=design.seeds, seed=seed, detail=strat.description,
                         n_boot=design.n_boot, level=design.confidence)


def write_csv(df: pd.DataFrame, path: PathLike) -> None:
    """Write ``df`` atomically (6 significant digits)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def run_strategy_job(cohort_npz: PathLike, profile: ModalityProfile, strategy: str, design: StrategyDesign, *,
                     seed: int, out_runs: PathLike, out_history: PathLike, policy_json: PathLike | None = None,
                     gan_dir: PathLike | None = None) -> dict[str, Any]:
    """What the ``evaluate_strategy`` rule runs: one strategy of one modality at every size and seed.

    ``profile`` is the modality's resolved profile (augmentation limits, fill value); ``policy_json``
    the augment stage's policy search (strategy ``policy``), ``gan_dir`` its GAN samples (``gan``).
    """
    from .cohort import load_cohort

    cohort = load_cohort(cohort_npz, profile)
    gan = load_gan_samples(gan_dir, cohort.modality) if strategy == "gan" else None
    runs, hist = run_strategy(cohort, strategy, design, seed=seed, policy_path=policy_json, gan_samples=gan)
    write_csv(runs, out_runs)
    write_csv(hist, out_history)
    return {"runs": len(runs), "mean_accuracy": float(runs["accuracy"].mean()), "wall_s": float(runs["wall_s"].sum())}


__all__ = ["training_subset", "load_gan_samples", "gan_patches", "StrategyDesign", "run_strategy",
           "t_interval", "equivalent_size", "data_factor", "format_factor", "summarize_runs", "claims_table",
           "claims_statement", "run_strategy_job", "write_csv", "CLAIMED_GAIN_PCT",
           "CLAIMED_DATA_FACTOR", "RUN_COLUMNS"]

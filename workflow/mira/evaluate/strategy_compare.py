"""``compare_augmentation_strategies``: augmentation strategies x training sizes x seeds, for any model.

The study of :mod:`mira.evaluate.strategy_study` with the model, the data and the strategies
passed in. For every seed ``k`` and training size ``n`` the training set is the first ``n`` items
of each class in a seed-specific permutation of the pool (nested: the ``n = 16`` set contains the
``n = 8`` set; generator ``rng_for(seed, "strategy-subset", name, k, class)``), the same for every
strategy; the training function gets the same generator (seeded ``derive_seed(seed,
"strategy-train", name, k, n)``) for every strategy at ``(n, k)``, so strategies are compared
paired: only the augmentation differs. The model is scored on a held-out evaluation set no run
trains on. :func:`strategy_runs` is that loop for one strategy; the pipeline's strategy jobs run it
with mira's lesion classifier (:func:`mira.evaluate.strategy_study.run_strategy`), and both
summarise with :func:`mira.evaluate.strategy_summary.summarize_runs`.

Items
-----
An item is ``(image, target)``, a mapping with ``image`` and ``target`` (or ``label`` /
``class_label``), or a :class:`mira.augment.Sample` whose ``meta["class_label"]`` is its class. Integer
targets make the subsets stratified (``size`` = items per class); other targets (masks, vectors)
give plain subsets of ``size`` items. The training function receives the items as given.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..modalities import ModalityProfile
from ..seeding import derive_seed, rng_for
from .classifier import accuracy_score, auc_score, bootstrap_ci, log_loss
from .models import predict_scores
from .strategy_summary import BASELINE, claims_table, summarize_runs

log = logging.getLogger(__name__)

RUN_KEYS = ["modality", "strategy", "size_per_class", "n_train", "seed_index"]
RUN_COLUMNS = RUN_KEYS + ["accuracy", "accuracy_lo", "accuracy_hi", "auc", "auc_lo", "auc_hi", "log_loss", "n_eval",
                          "n_synthetic", "steps", "wall_s", "detail"]

TrainFn = Callable[[Sequence[Any], Any, np.random.Generator], Any]
EvaluateFn = Callable[[Any, Sequence[Any]], Any]


# ---- items --------------------------------------------------------------------------------------------------


def item_image(item: Any) -> np.ndarray:
    """The image of an item (module docstring)."""
    if isinstance(item, (tuple, list)):
        return np.asarray(item[0])
    if isinstance(item, Mapping):
        return np.asarray(item["image"])
    if hasattr(item, "image"):
        return np.asarray(item.image)
    return np.asarray(item)


def item_target(item: Any) -> Any:
    """The target of an item (None when it has none)."""
    if isinstance(item, (tuple, list)):
        return item[1] if len(item) > 1 else None
    if isinstance(item, Mapping):
        for k in ("target", "label", "class_label"):
            if k in item:
                return item[k]
        return None
    meta = getattr(item, "meta", None)
    return meta.get("class_label", meta.get("target")) if isinstance(meta, Mapping) else None


def class_labels(items: Sequence[Any]) -> np.ndarray | None:
    """Integer class labels of the items, or None when a target is not an integer scalar."""
    out = []
    for it in items:
        t = item_target(it)
        if t is None or np.ndim(t) != 0 or not float(t).is_integer():
            return None
        out.append(int(t))
    return np.asarray(out, dtype=np.int64)


def training_subset(labels: np.ndarray | None, n: int, seed: int, name: str, seed_index: int,
                    n_items: int | None = None) -> np.ndarray:
    """Indices of the first ``n`` items of each class in the seed's permutation (nested in ``n``).

    Without class labels (``labels=None``): the first ``n`` of a permutation of ``n_items``.
    """
    if labels is None:
        total = int(n_items or 0)
        if total < n:
            raise ParameterError(f"{name}: the training pool has {total} items, fewer than the training size {n}")
        return rng_for(seed, "strategy-subset", name, seed_index).permutation(total)[:n]
    labels = np.asarray(labels)
    classes = sorted(int(v) for v in np.unique(labels))
    if not classes:
        raise ParameterError(f"{name}: the training pool is empty")
    out = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) < n:
            raise ParameterError(f"{name}: the training pool has {len(idx)} cases of class {c}, "
                                 f"fewer than the training size {n}")
        perm = rng_for(seed, "strategy-subset", name, seed_index, c).permutation(idx)
        out.append(perm[:n])
    return np.concatenate(out)


def split_eval(labels: np.ndarray | None, n_items: int, fraction: float, seed: int, name: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(pool, evaluation)`` indices: ``fraction`` of each class (of all items without labels) held out."""
    if not 0 < fraction < 1:
        raise ParameterError(f"eval_fraction must be in (0, 1), got {fraction}")
    rng = rng_for(seed, "strategy-eval-split", name)
    groups = [np.arange(n_items)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    held = []
    for idx in groups:
        k = int(round(fraction * len(idx)))
        if k < 1 or k >= len(idx):
            raise ParameterError(f"{name}: cannot hold out {fraction:.0%} of {len(idx)} items of a class")
        held.append(rng.permutation(idx)[:k])
    ev = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(n_items), ev), ev


# ---- one run ------------------------------------------------------------------------------------------------


class TrainingSet(list):
    """The training items of one run (a plain list to a training function), with the run's identity.

    Attributes
    ----------
    size : int
        The training size (items per class with class labels, else items).
    seed_index : int
        The repetition ``k``.
    train_seed : int
        ``derive_seed(seed, "strategy-train", name, k, size)``: the same for every strategy at ``(size, k)``.
    labels : ndarray or None
        The items' class labels.
    """

    def __init__(self, items: Sequence[Any], *, size: int, seed_index: int, train_seed: int,
                 labels: np.ndarray | None):
        super().__init__(items)
        self.size, self.seed_index, self.train_seed, self.labels = int(size), int(seed_index), int(train_seed), labels


@dataclass
class Trained:
    """What a training function may return instead of the bare model.

    ``history``: learning-curve records (dicts) for the history table; ``wall_s``: training time
    (default: measured around the call); ``info``: extra columns of the run's row.
    """

    model: Any
    history: list[dict] = field(default_factory=list)
    wall_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def score_outputs(out: Any, eval_y: np.ndarray | None, rng: np.random.Generator, n_boot: int,
                  level: float) -> dict[str, float]:
    """Metrics of an evaluation output: a number (``score``), a mapping of metrics, or scores per item.

    Scores per item (``p(class 1)`` for binary labels 0/1) give accuracy at 0.5, ROC AUC, log-loss
    and percentile-bootstrap intervals over evaluation items (:func:`mira.evaluate.bootstrap_ci`).
    """
    if isinstance(out, Mapping):
        return {str(k): float(v) for k, v in out.items()}
    if np.ndim(out) == 0:
        return {"score": float(out)}
    if eval_y is None:
        raise ParameterError("per-item scores need class labels on the evaluation items")
    p = np.asarray(out, dtype=np.float64)
    if p.ndim == 2:  # several classes: accuracy of the argmax
        return {"accuracy": float(np.mean(p.argmax(axis=1) == eval_y))}
    ci = bootstrap_ci(eval_y, p, rng, n_boot, level)
    return {"accuracy": accuracy_score(eval_y, p), "auc": auc_score(eval_y, p), "log_loss": log_loss(eval_y, p),
            **ci}


def strategy_runs(train_fn: TrainFn, pool: Sequence[Any], labels: np.ndarray | None, eval_items: Sequence[Any],
                  eval_y: np.ndarray | None, evaluate_fn: EvaluateFn, *, name: str, strategy: str, augment: Any,
                  sizes: Sequence[int], seeds: int, seed: int, detail: str = "", n_boot: int = 1000,
                  level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and evaluate one strategy at every size and seed (module docstring).

    Returns ``(runs, history)``: one row per (size, seed) (:data:`RUN_COLUMNS` for a classifier
    scored per item) and the learning-curve records.
    """
    rows, hist = [], []
    for k in range(int(seeds)):
        for n in sorted(int(s) for s in sizes):
            idx = training_subset(labels, n, seed, name, k, len(pool))
            tseed = derive_seed(seed, "strategy-train", name, k, n)
            items = TrainingSet([pool[i] for i in idx], size=n, seed_index=k, train_seed=tseed,
                                labels=None if labels is None else np.asarray(labels)[idx])
            t0 = time.perf_counter()
            res = train_fn(items, augment, np.random.default_rng(tseed))
            wall = time.perf_counter() - t0
            trained = res if isinstance(res, Trained) else Trained(model=res)
            metrics = score_outputs(evaluate_fn(trained.model, eval_items), eval_y,
                                    rng_for(seed, "strategy-bootstrap", name, strategy, k, n), n_boot, level)
            row = {"modality": name, "strategy": strategy, "size_per_class": n, "n_train": len(items),
                   "seed_index": k, **metrics, "n_eval": len(eval_items), **trained.info,
                   "wall_s": round(trained.wall_s if trained.wall_s is not None else wall, 3), "detail": detail}
            rows.append(row)
            hist += [{"modality": name, "strategy": strategy, "size_per_class": n, "seed_index": k, **h}
                     for h in trained.history]
            log.info("%s %s n=%d seed %d: %s (%.1f s)", name, strategy, n, k,
                     ", ".join(f"{m} {v:.3f}" for m, v in metrics.items() if not m.endswith(("_lo", "_hi"))),
                     row["wall_s"])
    cols = RUN_COLUMNS if rows and set(RUN_COLUMNS) <= set(rows[0]) else None
    return pd.DataFrame(rows, columns=cols), pd.DataFrame(hist)


# ---- the study ----------------------------------------------------------------------------------------------


class Augment:
    """A built-in strategy as the ``augment`` argument of a training function.

    Calling it applies the strategy's per-sample transform to an item (``(image, target)`` tuples:
    to the image; a :class:`mira.augment.Sample` or a mapping: to the whole sample, label map
    included, other keys kept) with the explicit generator; batch-level strategies (``mixup``, ``cutmix``) transform
    nothing per sample and name their mixer in :attr:`batch_mix` with its Beta parameter
    :attr:`mix_alpha`; :attr:`mixer` is that mixer, ready to call on a batch:
    ``mixer(inputs, targets, generator) -> MixedBatch`` (``mixup``, ``cutmix`` and the chapter's switch
    ``mixup_cutmix``; None for per-sample strategies).
    """

    def __init__(self, strategy: Any):
        self.strategy = strategy
        self.name, self.transform = strategy.name, strategy.transform
        self.batch_mix, self.mix_alpha, self.description = strategy.batch_mix, strategy.mix_alpha, strategy.description
        self.mixer = strategy.mixer

    def __call__(self, item: Any, rng: np.random.Generator) -> Any:
        if self.transform is None:
            return item
        if isinstance(item, tuple):
            return (self.transform(np.asarray(item[0]), rng), *item[1:])
        return self.transform(item, rng)  # a Sample, or a mapping (other keys kept)

    def __repr__(self) -> str:
        return f"Augment({self.name!r})"


def _strategy_table(strategies: Sequence[str] | Mapping[str, Any], profile: ModalityProfile | None,
                    policy_path: Any, mixup_alpha: float, cutmix_alpha: float,
                    cutmix_prob: float = 0.5) -> dict[str, tuple[Any, str]]:
    """Name -> (augment given to the training function, description)."""
    from .strategies import build_strategy

    given = dict(strategies) if isinstance(strategies, Mapping) else {str(s): str(s) for s in strategies}
    out: dict[str, tuple[Any, str]] = {}
    for name, spec in given.items():
        if spec is None:
            out[name] = (None, "no augmentation" if name == BASELINE else "")
        elif isinstance(spec, str):
            if profile is None:
                raise ParameterError(f"strategy {spec!r}: built-in strategies need the modality profile (profile=)")
            st = build_strategy(spec, profile, policy_path=policy_path, mixup_alpha=mixup_alpha,
                                cutmix_alpha=cutmix_alpha, cutmix_prob=cutmix_prob)
            if st.uses_gan:
                raise ParameterError("the 'gan' strategy needs GAN samples: pass it as a callable or a dataset")
            out[name] = (None if spec == BASELINE else Augment(st), st.description)
        elif callable(spec):
            out[name] = (spec, str(getattr(spec, "description", getattr(spec, "__name__", type(spec).__name__))))
        else:
            raise ParameterError(f"strategy {name!r}: expected a built-in name, a callable(item, rng) or None")
    return out


def _default_evaluate(model: Any, items: Sequence[Any]) -> np.ndarray:
    """Scores of ``model`` on the items' images (:func:`mira.evaluate.models.predict_scores`)."""
    return predict_scores(model, [item_image(it) for it in items])


@dataclass
class StrategyComparison:
    """Result of :func:`compare_augmentation_strategies`.

    Attributes
    ----------
    runs : DataFrame
        One row per strategy x size x seed: the run's metrics (with per-item scores: ``accuracy``,
        ``auc``, ``log_loss`` and bootstrap bounds ``<m>_lo`` / ``<m>_hi``).
    summary : DataFrame
        :func:`mira.evaluate.strategy_summary.summarize_runs`: mean, sd and CI over seeds, the paired
        difference to ``none`` (``delta_<m>``, ``gain_<m>_pct``) and the data-efficiency factors.
    claims : DataFrame
        The chapter's two claims per strategy at the smallest size (empty unless the runs have
        accuracy and AUC and a ``none`` baseline).
    history : DataFrame
        Learning-curve records returned by the training function (:class:`Trained`).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    claims: pd.DataFrame
    history: pd.DataFrame


def compare_augmentation_strategies(train_fn: TrainFn, dataset: Sequence[Any],
                                    strategies: Sequence[str] | Mapping[str, Any], sizes: Sequence[int],
                                    seeds: int, *, evaluate_fn: EvaluateFn | None = None,
                                    eval_set: Sequence[Any] | None = None, eval_fraction: float = 0.25,
                                    profile: ModalityProfile | None = None, level: float = 0.95, seed: int = 0,
                                    n_boot: int = 1000, name: str | None = None, policy_path: Any = None,
                                    mixup_alpha: float | str = 0.4, cutmix_alpha: float | str = 1.0,
                                    cutmix_prob: float = 0.5) -> StrategyComparison:
    """Compare augmentation strategies across training-set sizes and seeds, paired (module docstring).

    Parameters
    ----------
    train_fn : callable
        ``train_fn(train_items, augment, rng) -> model`` (or :class:`Trained`): any model factory and
        training loop. ``train_items`` is a list of items (a :class:`TrainingSet`); ``augment`` is
        None (no augmentation), the user's callable, or an :class:`Augment` (a built-in strategy:
        ``augment(item, rng)``, and ``augment.mixer`` for Mixup / CutMix / their switch); ``rng`` is the run's
        generator, the same for every strategy at a given (size, seed).
    dataset : sequence
        The items (module docstring): the training pool, and the evaluation set unless ``eval_set``
        is given (then ``eval_fraction`` of each class is held out, drawn from ``seed``).
    strategies : sequence of str or mapping
        Built-in names (:data:`mira.evaluate.strategies.STRATEGIES`, built for ``profile``; ``none``
        is the baseline) or a mapping name -> built-in name, ``callable(item, rng) -> item`` or None.
    sizes : sequence of int
        Training sizes: items per class (integer targets) or items.
    seeds : int
        Repetitions per size, >= 1 (each another subset and training generator).
    evaluate_fn : callable, optional
        ``evaluate_fn(model, eval_items)`` -> a number, a mapping of metrics (higher is better), or
        one score per item (``p(class 1)``). Default: :func:`mira.evaluate.models.predict_scores` of the
        model on the items' images, scored by accuracy, ROC AUC and log-loss.
    eval_set : sequence, optional
        Held-out evaluation items.
    profile : ModalityProfile, optional
        The resolved modality profile; needed by built-in strategies (their limits).
    level : float
        Confidence level of the t-intervals over seeds (and bootstrap intervals), in (0, 1).
    seed : int
        Root seed of the subsets, training generators and bootstrap.
    n_boot : int
        Bootstrap resamples of the per-run intervals.
    name : str, optional
        The ``modality`` column and seeding key (default: the profile's name, else ``"data"``).
    policy_path, mixup_alpha, cutmix_alpha, cutmix_prob
        Of the built-in ``policy``, ``mixup``, ``cutmix`` and ``mixup_cutmix`` strategies (an alpha may be
        ``"chapter"``: 1.0).

    Returns
    -------
    StrategyComparison
        The same for the same arguments (given a deterministic ``train_fn``).
    """
    if int(seeds) < 1 or not sizes or not 0 < level < 1:
        raise ParameterError(f"need seeds >= 1, at least one size and 0 < level < 1 (got seeds={seeds}, "
                             f"sizes={list(sizes)}, level={level})")
    nm = name or (profile.name if profile is not None else "data")
    items = list(dataset)
    labels = class_labels(items)
    if eval_set is None:
        pool_idx, eval_idx = split_eval(labels, len(items), eval_fraction, seed, nm)
        pool, ev = [items[i] for i in pool_idx], [items[i] for i in eval_idx]
    else:
        pool, ev = items, list(eval_set)
    pool_y, eval_y = class_labels(pool), class_labels(ev)
    table = _strategy_table(strategies, profile, policy_path, mixup_alpha, cutmix_alpha, cutmix_prob)
    runs, hists = [], []
    for sname, (augment, detail) in table.items():
        r, h = strategy_runs(train_fn, pool, pool_y, ev, eval_y, evaluate_fn or _default_evaluate, name=nm,
                             strategy=sname, augment=augment, sizes=sizes, seeds=seeds, seed=seed, detail=detail,
                             n_boot=n_boot, level=level)
        runs.append(r)
        hists.append(h)
    all_runs = pd.concat(runs, ignore_index=True)
    summary = summarize_runs(all_runs, level)
    has_claims = {"accuracy_mean", "auc_mean", "delta_accuracy"} <= set(summary.columns)
    claims = claims_table(summary) if has_claims else pd.DataFrame()
    return StrategyComparison(runs=all_runs, summary=summary, claims=claims,
                              history=pd.concat(hists, ignore_index=True))


__all__ = ["RUN_KEYS", "RUN_COLUMNS", "item_image", "item_target", "class_labels", "training_subset", "split_eval",
           "TrainingSet", "Trained", "score_outputs", "strategy_runs", "Augment", "StrategyComparison",
           "compare_augmentation_strategies"]

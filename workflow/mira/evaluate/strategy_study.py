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
* **Claims** (:func:`claims_table`): per strategy, at the smallest training size, the relative
  accuracy gain against the claimed 15-30 % and the data factor against the claimed 2-5x, with a
  plain verdict.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile
from ..seeding import derive_seed, rng_for
from .classifier import (
    ClassifierSettings,
    InputEncoder,
    accuracy_score,
    auc_score,
    bootstrap_ci,
    log_loss,
    one_hot,
    train_classifier,
)
from .cohort import Cohort
from .strategies import STRATEGIES, build_strategy

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)

CLAIMED_GAIN_PCT = (15.0, 30.0)
CLAIMED_DATA_FACTOR = (2.0, 5.0)

RUN_COLUMNS = ["modality", "strategy", "size_per_class", "n_train", "seed_index", "accuracy", "accuracy_lo",
               "accuracy_hi", "auc", "auc_lo", "auc_hi", "log_loss", "n_eval", "n_synthetic", "steps", "wall_s",
               "detail"]


# ------------------------------------------------------------------------------------------------
# cohort helpers


def training_subset(pool_y: np.ndarray, n_per_class: int, seed: int, modality: str, seed_index: int) -> np.ndarray:
    """Indices (into the pool) of the first ``n_per_class`` cases of each class in the seed's permutation."""
    out = []
    for c in (0, 1):
        idx = np.flatnonzero(np.asarray(pool_y) == c)
        if len(idx) < n_per_class:
            raise ParameterError(f"{modality}: the training pool has {len(idx)} cases of class {c}, "
                                 f"fewer than the training size {n_per_class}")
        perm = rng_for(seed, "strategy-subset", modality, seed_index, c).permutation(idx)
        out.append(perm[:n_per_class])
    return np.concatenate(out)


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

    @classmethod
    def from_settings(cls, strategies: Any) -> StrategyDesign:
        """The design of the ``evaluate.strategies`` settings section."""
        st = strategies
        return cls(sizes=tuple(int(n) for n in st.sizes), seeds=int(st.seeds),
                   training=ClassifierSettings.from_mapping(st.training.to_dict()), input_size=st.input_size,
                   mixup_alpha=st.mixup_alpha, cutmix_alpha=st.cutmix_alpha, gan_ratio=st.gan_ratio,
                   n_boot=int(st.bootstrap), confidence=st.confidence)


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


def run_strategy(cohort: Cohort, strategy: str, design: StrategyDesign, *, seed: int,
                 policy_path: PathLike | None = None, gan_samples: Sequence[Any] | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and evaluate one strategy at every size and seed of ``design`` (module docstring).

    Returns
    -------
    runs : DataFrame
        One row per (size, seed): columns :data:`RUN_COLUMNS`.
    history : DataFrame
        Learning curves: one row per (size, seed, recorded step).
    """
    from ..augment.policy import tissue_window

    mod, st = cohort.modality, design.training
    strat = build_strategy(strategy, cohort.profile or mod, policy_path=policy_path, mixup_alpha=design.mixup_alpha,
                           cutmix_alpha=design.cutmix_alpha)
    if strat.uses_gan and not gan_samples:
        raise ParameterError(f"{mod}: the 'gan' strategy needs GAN samples")
    encoder = InputEncoder(tissue_window(cohort.pool), design.input_size or cohort.side, crop=cohort.side)
    eval_x = encoder.batch([s.image for s in cohort.eval])
    eval_y = np.asarray(cohort.eval_y, int)
    rows, hist = [], []
    for k in range(int(design.seeds)):
        for n in sorted(int(s) for s in design.sizes):
            idx = training_subset(cohort.pool_y, n, seed, mod, k)
            items, targets = [cohort.pool[i] for i in idx], one_hot(cohort.pool_y[idx])
            tseed = derive_seed(seed, "strategy-train", mod, k, n)
            n_syn = 0
            if strat.uses_gan:
                items, targets, n_syn = _with_gan(items, targets, cohort, gan_samples, design, encoder, seed=seed,
                                                  tseed=tseed, k=k, n=n)
            res = train_classifier(items, targets, lambda s: encoder(s.image), seed=tseed, settings=st,
                                   transform=strat.transform, batch_mix=strat.batch_mix, mix_alpha=strat.mix_alpha,
                                   eval_x=eval_x, eval_y=eval_y)
            prob = res.predict_proba(eval_x)
            ci = bootstrap_ci(eval_y, prob, rng_for(seed, "strategy-bootstrap", mod, strategy, k, n), design.n_boot,
                              design.confidence)
            row = {"modality": mod, "strategy": strategy, "size_per_class": n, "n_train": 2 * n, "seed_index": k,
                   "accuracy": accuracy_score(eval_y, prob), "auc": auc_score(eval_y, prob),
                   "log_loss": log_loss(eval_y, prob), **ci, "n_eval": len(eval_y), "n_synthetic": n_syn,
                   "steps": st.steps, "wall_s": round(res.wall_s, 3), "detail": strat.description}
            rows.append(row)
            hist += [{"modality": mod, "strategy": strategy, "size_per_class": n, "seed_index": k, **h}
                     for h in res.history]
            log.info("%s %s n=%d seed %d: accuracy %.3f AUC %.3f (%.1f s)", mod, strategy, n, k, row["accuracy"],
                     row["auc"], res.wall_s)
    return pd.DataFrame(rows, columns=RUN_COLUMNS), pd.DataFrame(hist)


# ------------------------------------------------------------------------------------------------
# summary, data efficiency and the claims


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """``(mean, sd, lo, hi)``: the t-interval of the mean (NaN bounds for fewer than 2 values)."""
    from scipy.stats import t as student_t

    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 4
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan"), float("nan")
    sd = float(v.std(ddof=1))
    half = float(student_t.ppf(0.5 + level / 2.0, v.size - 1)) * sd / math.sqrt(v.size)
    return mean, sd, mean - half, mean + half


def equivalent_size(sizes: Sequence[float], values: Sequence[float], target: float) -> tuple[float, str]:
    """Training size at which a learning curve ``values(sizes)`` reaches ``target``.

    Linear interpolation in ``log2(size)`` on the running maximum of the curve (a learning curve
    is taken to never get worse with more data). Returns ``(size, bound)`` where ``bound`` is
    ``""`` for an interpolated value, ``">"`` when the curve never reaches the target (size is
    then the largest size: the true one is larger) and ``"<"`` when the target is below the curve
    at the smallest size (size is the smallest size: the true one is smaller).
    """
    s = np.asarray(sizes, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(s)
    s, v = s[order], v[order]
    ok = np.isfinite(v)
    s, v = s[ok], v[ok]
    if s.size == 0 or not np.isfinite(target):
        return float("nan"), ""
    c = np.maximum.accumulate(v)
    if target > c[-1] + 1e-12:
        return float(s[-1]), ">"
    if target < c[0] - 1e-12:
        return float(s[0]), "<"
    i = int(np.argmax(c >= target - 1e-12))
    if i == 0:
        return float(s[0]), ""
    x0, x1 = math.log2(s[i - 1]), math.log2(s[i])
    frac = (target - c[i - 1]) / (c[i] - c[i - 1]) if c[i] > c[i - 1] else 1.0
    return float(2.0 ** (x0 + frac * (x1 - x0))), ""


def data_factor(sizes: Sequence[float], baseline: Sequence[float], size: float, value: float) -> tuple[float, str]:
    """``(factor, bound)``: baseline-equivalent size of ``value`` divided by ``size`` (see :func:`equivalent_size`)."""
    eq, bound = equivalent_size(sizes, baseline, value)
    return (eq / float(size) if np.isfinite(eq) else float("nan")), bound


def format_factor(factor: float, bound: str) -> str:
    if not np.isfinite(factor):
        return "n/a"
    return f"{bound}{factor:.2g}x" if bound else f"{factor:.2g}x"


def summarize_runs(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (modality, strategy, size): mean, sd and CI of accuracy and AUC over seeds; paired gain vs
    ``none``; data-efficiency factors (module docstring)."""
    rows = []
    for (mod, strat, n), g in runs.groupby(["modality", "strategy", "size_per_class"], sort=False):
        base = runs[(runs.modality == mod) & (runs.strategy == "none") & (runs.size_per_class == n)]
        row: dict[str, Any] = {"modality": mod, "strategy": strat, "size_per_class": int(n), "seeds": len(g),
                               "detail": g["detail"].iloc[0]}
        for m in ("accuracy", "auc"):
            mean, sd, lo, hi = t_interval(g[m], level)
            if len(g) < 2:  # one seed: the bootstrap interval over evaluation cases
                lo, hi = float(g[f"{m}_lo"].iloc[0]), float(g[f"{m}_hi"].iloc[0])
            row.update({f"{m}_mean": mean, f"{m}_sd": sd, f"{m}_lo": lo, f"{m}_hi": hi})
            if not base.empty:
                paired = g.merge(base[["seed_index", m]], on="seed_index", suffixes=("", "_base"))
                d_mean, _, d_lo, d_hi = t_interval(paired[m] - paired[f"{m}_base"], level)
                b = float(paired[f"{m}_base"].mean()) if len(paired) else float("nan")
                row.update({f"delta_{m}": d_mean, f"delta_{m}_lo": d_lo, f"delta_{m}_hi": d_hi,
                            f"gain_{m}_pct": 100.0 * d_mean / b if b else float("nan")})
        row["ci"] = f"t over {len(g)} seeds" if len(g) >= 2 else "bootstrap over cases"
        row["wall_s"] = float(g["wall_s"].sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    for m in ("accuracy", "auc"):
        factors, bounds = [], []
        for _, r in out.iterrows():
            b = out[(out.modality == r.modality) & (out.strategy == "none")].sort_values("size_per_class")
            if b.empty:
                factors.append(float("nan"))
                bounds.append("")
                continue
            f, bd = data_factor(b["size_per_class"], b[f"{m}_mean"], r["size_per_class"], r[f"{m}_mean"])
            factors.append(f)
            bounds.append(bd)
        out[f"data_factor_{m}"] = factors
        out[f"data_factor_{m}_bound"] = bounds
    order = {s: i for i, s in enumerate(STRATEGIES)}
    out["_o"] = out["strategy"].map(lambda s: order.get(s, 99))
    return out.sort_values(["modality", "_o", "size_per_class"]).drop(columns="_o").reset_index(drop=True)


def _gain_verdict(gain: float, lo: float, hi: float) -> str:
    lo_c, hi_c = CLAIMED_GAIN_PCT
    if not np.isfinite(gain):
        return "n/a"
    sig = "" if not np.isfinite(lo) else (" (CI excludes 0)" if lo > 0 or hi < 0 else " (CI includes 0)")
    if gain < 0:
        return "no: worse than no augmentation" + sig
    if gain < lo_c:
        return f"no: below {lo_c:g}%" + sig
    if gain <= hi_c:
        return "yes: within 15-30%" + sig
    return f"yes: above {hi_c:g}%" + sig


def _factor_verdict(f: float, bound: str) -> str:
    lo_c, hi_c = CLAIMED_DATA_FACTOR
    if not np.isfinite(f):
        return "n/a"
    if bound == "<" or f < lo_c:
        if bound == ">":
            return f"undetermined: > {f:.2g}x (beyond the largest size)"
        return f"no: worth less than {lo_c:g}x the data"
    if bound == ">":
        return f"yes: at least {f:.2g}x (baseline never reaches it)"
    return "yes: within 2-5x" if f <= hi_c else f"yes: above {hi_c:g}x"


def claims_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (modality, strategy != none), at the smallest training size: accuracy gain (%, paired
    CI of the accuracy difference) and data factor, with verdicts on the two claims of the textbook chapter --
    on accuracy (the chapter's measure) and on ROC AUC (threshold-free, less noisy)."""
    rows = []
    for mod, g in summary.groupby("modality", sort=False):
        n0 = int(g["size_per_class"].min())
        base = g[(g.strategy == "none") & (g.size_per_class == n0)]
        for _, r in g[(g.strategy != "none") & (g.size_per_class == n0)].iterrows():
            row = {"modality": mod, "strategy": r.strategy, "size_per_class": n0}
            for m, short in (("accuracy", ""), ("auc", "_auc")):
                gain = r.get(f"gain_{m}_pct", float("nan"))
                lo, hi = r.get(f"delta_{m}_lo", np.nan), r.get(f"delta_{m}_hi", np.nan)
                row.update({
                    f"{m}_none": float(base[f"{m}_mean"].iloc[0]) if not base.empty else float("nan"),
                    m: r[f"{m}_mean"], f"gain{short}_pct": gain, f"delta_{m}_ci": f"[{lo:+.3f}, {hi:+.3f}]",
                    f"data_factor{short}": format_factor(r[f"data_factor_{m}"], r[f"data_factor_{m}_bound"]),
                    f"claim_15_30pct{short}": _gain_verdict(gain, lo, hi),
                    f"claim_2_5x_data{short}": _factor_verdict(r[f"data_factor_{m}"], r[f"data_factor_{m}_bound"]),
                })
            rows.append(row)
    return pd.DataFrame(rows)


def _holds(flags: pd.Series, total: int) -> str:
    k = int(flags.sum())
    return "**holds**" if k and k >= total / 2 else ("**holds only partly**" if k else "**does not hold**")


def claims_statement(claims: pd.DataFrame) -> str:
    """Plain-language verdict on the two claims of the textbook chapter, per modality, on accuracy and on AUC."""
    if claims.empty:
        return "No strategy besides the baseline was run: the claims were not tested."
    lines = []
    for mod, g in claims.groupby("modality", sort=False):
        n0 = int(g["size_per_class"].iloc[0])
        parts = []
        for m, short, label in (("accuracy", "", "accuracy"), ("auc", "_auc", "AUC")):
            if f"claim_15_30pct{short}" not in g:
                continue
            ok1 = g[f"claim_15_30pct{short}"].str.startswith("yes")
            ok2 = g[f"claim_2_5x_data{short}"].str.startswith("yes")
            gains = g[f"gain{short}_pct"]
            best = g.loc[gains.idxmax()] if gains.notna().any() else None
            txt = (f"on {label} (baseline {g[f'{m}_none'].iloc[0]:.3f}): '15-30% better under scarcity' "
                   f"{_holds(ok1, len(g))} ({int(ok1.sum())} of {len(g)} strategies gain >= 15%"
                   + (f": {', '.join(g[ok1].strategy)}" if ok1.any() else "")
                   + (f"; best {best.strategy} {best[f'gain{short}_pct']:+.1f}%" if best is not None else "")
                   + f"); 'worth 2-5x more data' {_holds(ok2, len(g))} ("
                   + ", ".join(f"{r.strategy} {r[f'data_factor{short}']}" for _, r in g.iterrows()) + ")")
            parts.append(txt)
        lines.append(f"- {mod.upper()}, {n0} training cases per class: " + "; ".join(parts) + ".")
    return "\n".join(lines)


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

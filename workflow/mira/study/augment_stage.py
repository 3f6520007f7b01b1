"""The augmentation stage's folder-level work: demo, constraint checks, policy search and GAN per dataset.

Each function reads a dataset folder (:mod:`mira.dataset`), runs the library
(:mod:`mira.augment`) with the modality's resolved profile and one section of the ``augment:``
settings, writes its outputs atomically and returns a short summary for the log. Every generator is
derived with :func:`mira.seeding.rng_for` from the study seed and the job's identity, so a job is
reproducible alone. The figure writers (:mod:`mira.study.report.augmentation`, matplotlib) are imported
by the two functions that draw, so the constraint and policy jobs do not load matplotlib.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, atomic_path, write_text, write_torch
from ..augment.catalogue import load_samples
from ..augment.compose import standard_pipeline
from ..augment.constraints import METRICS, Tolerances, check_constraints, format_markdown
from ..augment.demo import summary_rows
from ..augment.gan import (
    CHAPTER_DCGAN,
    base_channels_for,
    from_unit,
    gan_statistics,
    generate,
    parameter_count,
    resize_images,
    to_unit,
    train_dcgan,
)
from ..augment.gan_quality import sample_quality, train_feature_network
from ..augment.policy import search_policy
from ..augment.scorers import SCORERS, make_scorer
from ..dataset import DatasetWriter
from ..errors import InputError, ParameterError
from ..evaluate.scorer import SCORERS as EVALUATE_SCORERS
from ..modalities import ModalityProfile
from ..seeding import derive_seed, rng_for
from .data_stage import plain

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


def write_csv(df: pd.DataFrame, path: PathLike) -> None:
    """Write ``df`` atomically (no index, 6 significant digits)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def load_training_samples(folder: PathLike, n: int | None, profile: ModalityProfile) -> list:
    """The first ``n`` cases (all: ``None``) of a dataset folder as samples, sequences included."""
    samples = load_samples(folder, max_cases=n, sequences=True, profile=profile)
    if not samples:
        raise InputError(f"{folder}: no cases to augment")
    return samples


def _with_ids(rows: Sequence[dict], source: str, modality: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df.insert(0, "modality", modality)
    df.insert(0, "source", source)
    return df


# ------------------------------------------------------------------------------------------------
# demo figure + summary table


def run_demo(dataset: PathLike, out_figure: PathLike, out_csv: PathLike, out_md: PathLike, *, source: str,
             profile: ModalityProfile, seed: int, demo: Any) -> dict[str, Any]:
    """Demonstration figure of one case and the summary table of the variants drawn on several.

    Parameters
    ----------
    dataset : path
        Training dataset folder.
    out_figure, out_csv, out_md : path
        The figure (PNG) and the summary table (CSV, Markdown).
    source : str
        Source name (in the titles and table rows).
    profile : ModalityProfile
        Resolved profile of the dataset's modality.
    seed : int
        Study seed.
    demo : Section
        ``augment.demo`` settings: ``case`` (index of the case shown), ``cases`` (cases summarised),
        ``variants`` (per case and transform).
    """
    from .report.augmentation import demo_figure, summary_markdown

    modality, cases = profile.name, int(demo.cases)
    samples = load_training_samples(dataset, max(cases, int(demo.case) + 1), profile)
    shown = samples[min(int(demo.case), len(samples) - 1)]
    title = (f"{modality.upper()} augmentation at the profile limits ({source}, "
             f"{shown.meta.get('case_id', '')}{', middle slice' if shown.ndim == 3 else ''})")
    n_panels = demo_figure(shown, profile, rng_for(seed, "augment-demo", source, modality), out_figure, title=title)
    rows = summary_rows(samples[:cases], profile, rng_for(seed, "augment-summary", source, modality),
                        variants=int(demo.variants))
    write_csv(_with_ids(rows, source, modality), out_csv)
    md = summary_markdown(rows, profile, len(samples[:cases]), f"Augmentation summary: {source} {modality}")
    write_text(out_md, md)
    return {"panels": n_panels, "transforms": len(rows)}


# ------------------------------------------------------------------------------------------------
# constraint checks


def _tidy_draws(per_draw: Sequence[dict], source: str, modality: str) -> pd.DataFrame:
    """One row per (case, transform, draw, metric) of the per-draw constraint measurements."""
    tidy = []
    for r in per_draw:
        ids = {"source": source, "modality": modality, "case_id": r["case_id"], "transform": r["transform"],
               "draw": r["draw"]}
        tidy += [{**ids, "metric": m, "value": r[m]} for m in METRICS]
        tidy.append({**ids, "metric": "violations", "value": r["violations"]})
    return pd.DataFrame(tidy)


def run_constraints(dataset: PathLike, out_csv: PathLike, out_draws: PathLike, out_md: PathLike, *, source: str,
                    profile: ModalityProfile, seed: int, constraints: Any) -> dict[str, Any]:
    """Constraint checks of every transform on one (source, modality).

    Writes the aggregated table (CSV + Markdown) and the tidy per-draw CSV.

    Parameters
    ----------
    dataset : path
        Training dataset folder.
    out_csv, out_draws, out_md : path
        Aggregated CSV, per-draw CSV, Markdown table.
    source : str
        Source name.
    profile : ModalityProfile
        Resolved profile of the dataset's modality.
    seed : int
        Study seed.
    constraints : Section
        ``augment.constraints`` settings: ``cases``, ``draws``, ``min_pixels`` and ``tolerances``.
    """
    modality, draws = profile.name, int(constraints.draws)
    tol = Tolerances.from_mapping(plain(constraints.tolerances))
    samples = load_training_samples(dataset, int(constraints.cases), profile)
    per_draw, agg = check_constraints(samples, profile, rng_for(seed, "augment-constraints", source, modality),
                                      draws=draws, tolerances=tol, min_pixels=int(constraints.min_pixels))
    df = _with_ids(agg, source, modality)
    write_csv(df, out_csv)
    write_csv(_tidy_draws(per_draw, source, modality), out_draws)
    write_text(out_md, format_markdown(agg, f"Constraint checks: {source} {modality}", tol, len(samples), draws))
    return {"transforms": len(agg), "flagged": int((~df["ok"]).sum())}


# ------------------------------------------------------------------------------------------------
# policy search


def _candidate_rows(candidates: Sequence[dict], modality: str) -> list[dict]:
    """The ranked candidates as table rows (the policy shown as JSON or ``n=.., m=..``)."""
    rows = []
    for i, c in enumerate(candidates):
        pol = c["policy"]
        desc = (json.dumps(pol["sub_policies"]) if c["kind"] == "autoaugment"
                else f"n={pol['n']}, m={pol['m']}" if c["kind"] == "randaugment" else "-")
        rows.append({"modality": modality, "rank": i + 1, "name": c["name"], "kind": c["kind"],
                     **{k: v for k, v in c.items() if k not in ("name", "kind", "policy")}, "policy": desc})
    return rows


def run_policy_search(train: PathLike, val: PathLike, out_json: PathLike, out_csv: PathLike, *,
                      profile: ModalityProfile, seed: int, policy: Any, scorer: Any) -> dict[str, Any]:
    """Search augmentation policies on (train, val); write the best policy and the ranked candidates.

    Parameters
    ----------
    train, val : path
        Training and validation dataset folders (2D).
    out_json, out_csv : path
        The search result (best policy, every candidate) and the ranked table.
    profile : ModalityProfile
        Resolved profile of the modality.
    seed : int
        Study seed.
    policy : Section
        ``augment.policy`` settings: ``method``, ``n_random``, ``n_sub_policies``, ``randaugment_n``,
        ``randaugment_m``, ``time_budget_s``, ``train_cases``, and ``scorer``/``scorer_options`` (recorded).
    scorer : callable
        The scorer instance (:func:`policy_scorer`), ``scorer(policy, train, val, rng) -> dict``.
    """
    modality = profile.name
    tr = load_training_samples(train, policy.train_cases, profile)
    va = load_training_samples(val, None, profile)
    for s in (*tr, *va):
        s.modality = profile.name
    result = search_policy(tr, va, scorer, rng_for(seed, "augment-policy", modality), method=policy.method,
                           n_random=policy.n_random, n_sub_policies=policy.n_sub_policies,
                           randaugment_n=policy.randaugment_n, randaugment_m=policy.randaugment_m,
                           time_budget_s=policy.time_budget_s, profile=profile)
    payload = {"modality": modality, "scorer": policy.scorer, "scorer_options": plain(policy.scorer_options),
               "method": policy.method, "seed": seed, "n_train": len(tr), "n_val": len(va), **result.to_dict()}
    write_text(out_json, json.dumps(payload, indent=1, default=float) + "\n")
    write_csv(pd.DataFrame(_candidate_rows(result.candidates, modality)), out_csv)
    return {"best": payload["best"]["name"] if payload["best"] else None, "best_score": payload["best_score"],
            "baseline": (result.baseline or {}).get("score"), "evaluated": result.evaluated}


def policy_scorer(policy: Any) -> Any:
    """The scorer named by the ``augment.policy`` settings (``scorer``, ``scorer_options``).

    Known names: the built-in scorers (:data:`mira.augment.scorers.SCORERS`) and the strategy study's
    classifier (:data:`mira.evaluate.scorer.SCORERS`); the scorer is passed to the search explicitly.
    """
    return make_scorer(policy.scorer, plain(policy.scorer_options), {**SCORERS, **EVALUATE_SCORERS})


# ------------------------------------------------------------------------------------------------
# GAN


def gan_training_set(samples: Sequence, size: int, profile: ModalityProfile, copies: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, list | None]:
    """Each 2D training image and ``copies`` standard-pipeline variants of it, resized, in GAN units,
    with their label maps at full size (None when a sample has no label map)."""
    pipe = standard_pipeline(profile)
    imgs, labels = [], []
    for s in samples:
        if s.ndim != 2:
            raise ParameterError("GAN synthesis works on 2D images (source 'phantom')")
        for v in [s] + [pipe(s, rng) for _ in range(int(copies))]:
            imgs.append(v.image)
            labels.append(v.label)
    return to_unit(resize_images(imgs, size), profile), (None if any(lab is None for lab in labels) else labels)


def gan_training_images(samples: Sequence, size: int, profile: ModalityProfile, copies: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Each 2D training image and ``copies`` standard-pipeline variants of it, resized, in GAN units."""
    return gan_training_set(samples, size, profile, copies, rng)[0]


def gan_architecture(gan: Any) -> dict[str, int]:
    """``latent_dim``, ``base_channels``, ``image_size`` of the ``augment.gan`` settings: the chapter's
    network (:data:`mira.augment.gan.CHAPTER_DCGAN`) for ``architecture: chapter``, else the keys'."""
    if gan.architecture == "chapter":
        return dict(CHAPTER_DCGAN)
    size = int(gan.image_size)
    return dict(latent_dim=int(gan.latent_dim), base_channels=base_channels_for(gan.width, size), image_size=size)


def _gan_sidecar(res: Any, stats: dict, gan: Any, *, train: PathLike, heldout: Sequence[PathLike], n_train: int,
                 n_images: int, seed: int, spacing: Sequence[float], modality: str) -> dict[str, Any]:
    """The generator's sidecar: architecture, training data, run, statistics, how to replay it."""
    arch = gan_architecture(gan)
    return {
        "architecture": f"DCGAN generator (Radford et al. 2016), {gan.architecture}", "modality": modality,
        **arch, "generator_parameters": parameter_count(res.generator), "training_data": str(train),
        "n_train_cases": n_train,
        "n_training_images": n_images, "augment_copies": gan.augment_copies, "seed": seed,
        "iterations": res.iterations, "stopped_by": res.stopped_by, "cpu_s": res.cpu_s, "wall_s": res.wall_s,
        "time_budget_cpu_s": gan.time_budget_s, "batch_size": gan.batch_size, "lr": gan.lr,
        "instance_noise": gan.instance_noise,
        "final_loss_d": res.losses[-1][1] if res.losses else None,
        "final_loss_g": res.losses[-1][2] if res.losses else None,
        "statistics": stats, "heldout": [str(h) for h in heldout], "spacing_mm": spacing,
        "replay": f"max_iterations={res.iterations} reproduces these weights",
    }


def _write_gan_samples(out_samples: PathLike, native: np.ndarray, spacing: Sequence[float], modality: str) -> None:
    with atomic_dir(out_samples) as tmp:
        w = DatasetWriter(tmp, f"gan_{modality}", modality, "synthetic", {})
        for i, im in enumerate(native):
            w.add(f"gan_{modality}_{i:04d}", im, spacing)
        w.close()


def run_gan(train: PathLike, heldout: Sequence[PathLike], *, out_model: PathLike, out_sidecar: PathLike,
            out_samples: PathLike, out_figure: PathLike, profile: ModalityProfile, seed: int,
            gan: Any) -> dict[str, Any]:
    """Train a DCGAN on one modality's 2D training split; save weights, sidecar, samples and a grid figure.

    ``gan`` is the ``augment.gan`` settings section (image size, budget, network and optimiser
    settings, augmented copies, number of samples); ``heldout`` the folders the statistics compare with.
    """
    from .report.augmentation import gan_grid_figure

    arch = gan_architecture(gan)
    modality, size, latent = profile.name, arch["image_size"], arch["latent_dim"]
    tr = load_training_samples(train, None, profile)
    ho = [s for folder in heldout for s in load_samples(folder, sequences=False, profile=profile)]
    if len(ho) < 2:
        raise InputError(f"GAN evaluation needs at least 2 held-out images in {list(map(str, heldout))}")
    x_train, labels = gan_training_set(tr, size, profile, gan.augment_copies,
                                       rng_for(seed, "augment-gan-data", modality))
    x_real_train = to_unit(resize_images([s.image for s in tr], size), profile)
    x_heldout = to_unit(resize_images([s.image for s in ho], size), profile)
    gseed = derive_seed(seed, "augment-gan", modality)
    res = train_dcgan(x_train, seed=gseed, time_budget_s=gan.time_budget_s, max_iterations=gan.max_iterations,
                      batch_size=gan.batch_size, latent_dim=latent, base_channels=arch["base_channels"], lr=gan.lr,
                      instance_noise=gan.instance_noise)
    fake = generate(res.generator, gan.n_samples, latent, derive_seed(seed, "augment-gan-samples", modality))
    stats = gan_statistics(fake, x_real_train, x_heldout, profile, seed=gseed % (2 ** 32))
    stats.update(_feature_quality(fake, x_train, labels, x_real_train, x_heldout, seed, modality))
    write_torch(out_model, res.generator.state_dict())
    spacing = tuple(n * s / size for n, s in zip(tr[0].shape, tr[0].spacing))
    sidecar = _gan_sidecar(res, stats, gan, train=train, heldout=heldout, n_train=len(tr), n_images=len(x_train),
                           seed=gseed, spacing=spacing, modality=modality)
    write_text(out_sidecar, json.dumps(sidecar, indent=1, default=float) + "\n")
    native = from_unit(fake, profile)
    _write_gan_samples(out_samples, native, spacing, modality)
    gan_grid_figure(native, from_unit(x_heldout, profile), profile, out_figure, stats, res)
    return {"iterations": res.iterations, "cpu_s": round(res.cpu_s, 1), "mmd2": stats["mmd2"],
            "mmd2_reference": stats["mmd2_reference"], "fid": stats["fid"], "fid_reference": stats["fid_reference"]}


def _feature_quality(fake: np.ndarray, x_train: np.ndarray, labels: list | None, x_real_train: np.ndarray,
                     x_heldout: np.ndarray, seed: int, modality: str) -> dict[str, Any]:
    """FID/KID on a feature network trained here on the GAN's real training images (and their labels)."""
    import time

    t0 = time.process_time()
    net = train_feature_network(x_train, labels, seed=derive_seed(seed, "augment-gan-features", modality))
    q = sample_quality(fake, x_real_train, x_heldout, net, rng_for(seed, "augment-gan-kid", modality))
    log.info("GAN feature network (%s, %d steps, loss %.3f): FID %.3g (reference %.3g), KID %.3g (reference %.3g), "
             "%.1f CPU s", net.task, net.steps, net.final_loss, q["fid"], q["fid_reference"], q["kid"],
             q["kid_reference"], time.process_time() - t0)
    return {**q, "feature_task": net.task}


__all__ = ["gan_architecture", "gan_training_images", "gan_training_set",
           "load_training_samples", "policy_scorer", "run_constraints", "run_demo", "run_gan",
           "run_policy_search", "write_csv"]

"""What the augmentation rules run: one function per rule, taking paths and config values.

Every function derives its generator with :func:`mira.seeding.rng_for` from the config seed and
the job's identity, writes its outputs atomically, and returns a short summary for the log.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_text, write_torch
from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile, get_profile
from ..seeding import derive_seed, rng_for
from .catalogue import load_samples

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


def _profile(modality: str, overrides: Mapping[str, Any] | None) -> ModalityProfile:
    return get_profile(modality, overrides or None)


def _write_csv(df: pd.DataFrame, path: PathLike) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def _samples(folder: PathLike, n: int | None, profile: ModalityProfile) -> list:
    samples = load_samples(folder, max_cases=n, sequences=True, profile=profile)
    if not samples:
        raise InputError(f"{folder}: no cases to augment")
    return samples


# ------------------------------------------------------------------------------------------------
# demo figure + summary table


def run_demo(dataset: PathLike, *, source: str, modality: str, seed: int, out_figure: PathLike, out_csv: PathLike,
             out_md: PathLike, profile_overrides: Mapping[str, Any] | None = None, cases: int = 4, variants: int = 4,
             case_index: int = 0) -> dict[str, Any]:
    """Demonstration figure of one case and the summary table over ``cases`` cases."""
    from .demo import demo_figure, summary_markdown, summary_rows

    prof = _profile(modality, profile_overrides)
    samples = _samples(dataset, max(cases, case_index + 1), prof)
    shown = samples[min(case_index, len(samples) - 1)]
    n_panels = demo_figure(shown, prof, rng_for(seed, "augment-demo", source, modality), out_figure,
                           title=f"{modality.upper()} augmentation at the profile limits ({source}, "
                                 f"{shown.meta.get('case_id', '')}{', middle slice' if shown.ndim == 3 else ''})")
    rows = summary_rows(samples[:cases], prof, rng_for(seed, "augment-summary", source, modality), variants=variants)
    df = pd.DataFrame(rows)
    df.insert(0, "modality", modality)
    df.insert(0, "source", source)
    _write_csv(df, out_csv)
    write_text(out_md, summary_markdown(rows, prof, len(samples[:cases]), f"Augmentation summary: {source} {modality}"))
    return {"panels": n_panels, "transforms": len(rows)}


# ------------------------------------------------------------------------------------------------
# constraint checks


def run_constraints(dataset: PathLike, *, source: str, modality: str, seed: int, out_csv: PathLike,
                    out_draws: PathLike, out_md: PathLike, profile_overrides: Mapping[str, Any] | None = None,
                    cases: int = 4, draws: int = 3, tolerances: Mapping[str, float] | None = None,
                    min_pixels: int = 30) -> dict[str, Any]:
    """Constraint table of one (source, modality): aggregated CSV + Markdown, and the tidy per-draw CSV."""
    from .constraints import METRICS, Tolerances, check_constraints, format_markdown

    prof = _profile(modality, profile_overrides)
    tol = Tolerances.from_mapping(tolerances)
    samples = _samples(dataset, cases, prof)
    per_draw, agg = check_constraints(samples, prof, rng_for(seed, "augment-constraints", source, modality),
                                      draws=draws, tolerances=tol, min_pixels=min_pixels)
    df = pd.DataFrame(agg)
    df.insert(0, "modality", modality)
    df.insert(0, "source", source)
    _write_csv(df, out_csv)
    tidy = []
    for r in per_draw:
        for m in METRICS:
            tidy.append({"source": source, "modality": modality, "case_id": r["case_id"], "transform": r["transform"],
                         "draw": r["draw"], "metric": m, "value": r[m]})
        tidy.append({"source": source, "modality": modality, "case_id": r["case_id"], "transform": r["transform"],
                     "draw": r["draw"], "metric": "violations", "value": r["violations"]})
    _write_csv(pd.DataFrame(tidy), out_draws)
    write_text(out_md, format_markdown(agg, f"Constraint checks: {source} {modality}", tol, len(samples), draws))
    return {"transforms": len(agg), "flagged": int((~df["ok"]).sum())}


def combine_tables(inputs: Sequence[PathLike], out_csv: PathLike, out_md: PathLike, title: str,
                   columns: Sequence[str] | None = None, note: str = "") -> int:
    """Concatenate per-(source, modality) CSV tables into one CSV and one Markdown table."""
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in inputs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    _write_csv(df, out_csv)
    show = df[[c for c in columns if c in df.columns]] if columns is not None and not df.empty else df
    md = f"### {title}\n\n" + (note + "\n\n" if note else "")
    md += show.to_markdown(index=False, floatfmt=".3g") if not show.empty else "(no rows)"
    write_text(out_md, md + "\n")
    return len(df)


CONSTRAINT_COLUMNS = ("source", "modality", "transform", "n", "snr_before", "snr_after", "cnr_before", "cnr_after",
                      "entropy_before", "entropy_after", "dice_mean", "volume_error_max", "positions_kept_min",
                      "lesion_cnr_ratio_mean", "in_range", "flags")


# ------------------------------------------------------------------------------------------------
# policy search


def run_policy_search(train: PathLike, val: PathLike, *, modality: str, seed: int, out_json: PathLike,
                      out_csv: PathLike, profile_overrides: Mapping[str, Any] | None = None, method: str = "both",
                      n_random: int = 8, n_sub_policies: int = 5, randaugment_n: Sequence[int] = (1, 2),
                      randaugment_m: Sequence[int] = (3, 6, 9), scorer: str = "tiny_cnn",
                      scorer_options: Mapping[str, Any] | None = None, time_budget_s: float = 0.0,
                      train_cases: int | None = None) -> dict[str, Any]:
    """Search augmentation policies on (train, val) and write the best policy and the ranked candidates."""
    from .policy import get_scorer, search_policy

    prof = _profile(modality, profile_overrides)
    tr = _samples(train, train_cases, prof)
    va = _samples(val, None, prof)
    for s in (*tr, *va):
        s.modality = prof.name
    result = search_policy(tr, va, get_scorer(scorer, **dict(scorer_options or {})),
                           rng_for(seed, "augment-policy", modality), method=method, n_random=n_random,
                           n_sub_policies=n_sub_policies, randaugment_n=randaugment_n, randaugment_m=randaugment_m,
                           time_budget_s=time_budget_s)
    payload = {"modality": modality, "scorer": scorer, "scorer_options": dict(scorer_options or {}), "method": method,
               "seed": seed, "n_train": len(tr), "n_val": len(va), **result.to_dict()}
    write_text(out_json, json.dumps(payload, indent=1, default=float) + "\n")
    rows = []
    for i, c in enumerate(result.candidates):
        pol = c["policy"]
        desc = (json.dumps(pol["sub_policies"]) if c["kind"] == "autoaugment"
                else f"n={pol['n']}, m={pol['m']}" if c["kind"] == "randaugment" else "-")
        rows.append({"modality": modality, "rank": i + 1, "name": c["name"], "kind": c["kind"],
                     **{k: v for k, v in c.items() if k not in ("name", "kind", "policy")}, "policy": desc})
    _write_csv(pd.DataFrame(rows), out_csv)
    return {"best": payload["best"]["name"] if payload["best"] else None, "best_score": payload["best_score"],
            "baseline": (result.baseline or {}).get("score"), "evaluated": result.evaluated}


# ------------------------------------------------------------------------------------------------
# GAN


def _gan_images(samples, size: int, modality: str, copies: int, rng: np.random.Generator, profile) -> np.ndarray:
    from .compose import standard_pipeline
    from .gan import resize_images, to_unit

    pipe = standard_pipeline(profile)
    imgs = []
    for s in samples:
        base = s if s.ndim == 2 else None
        if base is None:
            raise ParameterError("GAN synthesis works on 2D images (source 'phantom')")
        imgs.append(base.image)
        for _ in range(int(copies)):
            imgs.append(pipe(base, rng).image)
    return to_unit(resize_images(imgs, size), modality)


def run_gan(train: PathLike, heldout: Sequence[PathLike], *, modality: str, seed: int, out_model: PathLike,
            out_sidecar: PathLike, out_samples: PathLike, out_figure: PathLike,
            profile_overrides: Mapping[str, Any] | None = None, image_size: int = 64, time_budget_s: float = 60.0,
            max_iterations: int = 100000, batch_size: int = 16, latent_dim: int = 64, width: int = 16,
            lr: float = 2e-4, augment_copies: int = 8, n_samples: int = 64,
            instance_noise: float = 0.1) -> dict[str, Any]:
    """Train a DCGAN on the training split of one modality; save weights, sidecar, samples and a grid figure."""

    from ..atomic import atomic_dir
    from ..dataset import DatasetWriter
    from .gan import from_unit, gan_statistics, generate, resize_images, to_unit, train_dcgan

    prof = _profile(modality, profile_overrides)
    tr = _samples(train, None, prof)
    ho = [s for folder in heldout for s in load_samples(folder, sequences=False, profile=prof)]
    if len(ho) < 2:
        raise InputError(f"GAN evaluation needs at least 2 held-out images in {list(map(str, heldout))}")
    x_train = _gan_images(tr, image_size, modality, augment_copies, rng_for(seed, "augment-gan-data", modality), prof)
    x_real_train = to_unit(resize_images([s.image for s in tr], image_size), modality)
    x_heldout = to_unit(resize_images([s.image for s in ho], image_size), modality)
    gseed = derive_seed(seed, "augment-gan", modality)
    res = train_dcgan(x_train, seed=gseed, time_budget_s=time_budget_s, max_iterations=max_iterations,
                      batch_size=batch_size, latent_dim=latent_dim, width=width, lr=lr, instance_noise=instance_noise)
    fake = generate(res.generator, n_samples, latent_dim, derive_seed(seed, "augment-gan-samples", modality))
    stats = gan_statistics(fake, x_real_train, x_heldout, modality, seed=gseed % (2 ** 32))
    write_torch(out_model, res.generator.state_dict())
    fov_mm = [n * s for n, s in zip(tr[0].shape, tr[0].spacing)]
    spacing = tuple(f / image_size for f in fov_mm)
    sidecar = {
        "architecture": "DCGAN generator (Radford et al. 2016)", "modality": modality, "image_size": image_size,
        "latent_dim": latent_dim, "width": width, "training_data": str(train), "n_train_cases": len(tr),
        "n_training_images": int(len(x_train)), "augment_copies": augment_copies, "seed": gseed,
        "iterations": res.iterations, "stopped_by": res.stopped_by, "cpu_s": res.cpu_s, "wall_s": res.wall_s,
        "time_budget_cpu_s": time_budget_s, "batch_size": batch_size, "lr": lr, "instance_noise": instance_noise,
        "final_loss_d": res.losses[-1][1] if res.losses else None,
        "final_loss_g": res.losses[-1][2] if res.losses else None,
        "statistics": stats, "heldout": [str(h) for h in heldout], "spacing_mm": spacing,
        "replay": f"max_iterations={res.iterations} reproduces these weights",
    }
    write_text(out_sidecar, json.dumps(sidecar, indent=1, default=float) + "\n")
    native = from_unit(fake, modality)
    with atomic_dir(out_samples) as tmp:
        w = DatasetWriter(tmp, f"gan_{modality}", modality, "synthetic", {})
        for i, im in enumerate(native):
            w.add(f"gan_{modality}_{i:04d}", im, spacing)
        w.close()
    gan_grid_figure(native, from_unit(x_heldout, modality), modality, out_figure, stats, res)
    return {"iterations": res.iterations, "cpu_s": round(res.cpu_s, 1), "mmd2": stats["mmd2"],
            "mmd2_reference": stats["mmd2_reference"]}


def gan_grid_figure(fake: np.ndarray, real: np.ndarray, modality: str, path: PathLike, stats: dict, res) -> None:
    """Grid of generated samples beside real held-out images, with the statistics in the title."""
    import matplotlib.pyplot as plt

    from ..report.figures import save_figure, window

    vmin, vmax = window(fake[0], modality)
    ncol = 8
    nf = min(len(fake), 24)
    nr = min(len(real), 8)
    rows = int(np.ceil(nf / ncol)) + 1
    fig, axes = plt.subplots(rows, ncol, figsize=(1.6 * ncol, 1.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(nr):
        axes[0, i].imshow(real[i], cmap="gray", vmin=vmin, vmax=vmax)
        axes[0, i].set_title("real (held out)", fontsize=6)
    for i in range(nf):
        ax = axes[1 + i // ncol, i % ncol]
        ax.imshow(fake[i], cmap="gray", vmin=vmin, vmax=vmax)
        if i % ncol == 0:
            ax.set_title("generated", fontsize=6)
    # no seconds in the figure: it must be the same bytes on every machine (CPU time is in the sidecar)
    fig.suptitle(f"DCGAN {modality.upper()} ({res.iterations} iterations): "
                 f"MMD$^2$ {stats['mmd2']:.3f} (real-real {stats['mmd2_reference']:.3f}, p={stats['mmd2_pvalue']:.3f}); "
                 f"SSIM diversity {stats['ssim_diversity_fake']:.2f} (real {stats['ssim_diversity_real']:.2f})",
                 fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def gan_table(sidecars: Sequence[PathLike], out_csv: PathLike, out_md: PathLike) -> int:
    """One row per modality from the GAN sidecars."""
    rows = []
    for p in sidecars:
        d = json.loads(Path(p).read_text(encoding="utf-8"))
        rows.append({"modality": d["modality"], "image_size": d["image_size"], "iterations": d["iterations"],
                     "cpu_s": d["cpu_s"], "stopped_by": d["stopped_by"], "n_training_images": d["n_training_images"],
                     **d["statistics"]})
    df = pd.DataFrame(rows)
    _write_csv(df, out_csv)
    note = ("Fidelity: unbiased kernel MMD^2 between generated and held-out real images (32x32, Gaussian kernel, "
            "median bandwidth) beside the real-train vs held-out reference, and its permutation p-value; "
            "intensity W1 in native units; diversity: mean pairwise SSIM (near 1 = mode collapse); "
            "nn_distance_ratio < 1 would indicate memorised training cases.")
    write_text(out_md, "### GAN synthesis\n\n" + note + "\n\n" + (df.to_markdown(index=False, floatfmt=".3g")
                                                                 if not df.empty else "(no rows)") + "\n")
    return len(df)


__all__ = ["run_demo", "run_constraints", "combine_tables", "run_policy_search", "run_gan", "gan_table",
           "gan_grid_figure", "CONSTRAINT_COLUMNS"]

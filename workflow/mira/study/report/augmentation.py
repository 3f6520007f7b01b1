"""Tables and figures of the augmentation stage.

* :func:`demo_figure` -- the demonstration figure (panels from :func:`mira.augment.demo.demo_panels`);
  :func:`summary_markdown` -- the per-dataset summary table of variants drawn;
* :func:`combine_tables` -- per-(source, modality) CSV tables into one CSV and one Markdown table;
  :func:`write_summary_table`, :func:`write_constraints_table` and :func:`write_policy_table` are
  the three combined tables of the HTML report (their columns and notes);
* :func:`write_gan_table` -- one row per GAN from the sidecars, with the strategy study's "gan vs
  none" effect (:func:`gan_downstream`) when that study ran;
* :func:`gan_grid_figure` -- generated samples beside real held-out images.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from ...atomic import atomic_path, write_text
from ...modalities import ModalityProfile
from .figures import Figure, display_slice, display_window, plt, save_figure

PathLike = Union[str, os.PathLike]

CONSTRAINT_COLUMNS = ("source", "modality", "transform", "n", "snr_before", "snr_after", "cnr_before", "cnr_after",
                      "entropy_before", "entropy_after", "dice_mean", "volume_error_max", "positions_kept_min",
                      "lesion_cnr_ratio_mean", "in_range", "flags")
SUMMARY_COLUMNS = ("source", "modality", "transform", "variants", "applied", "parameters", "value_min", "value_max",
                   "value_range_kept")
POLICY_COLUMNS = ("modality", "rank", "name", "kind", "score", "val_dice", "val_log_loss", "val_accuracy", "policy")


# ------------------------------------------------------------------------------------------------
# demonstration figure and per-dataset summary

DEMO_ROWS = ("basic", "intensity", "advanced")


def build_demo_figure(panels: Sequence[tuple[str, str, Any, bool]], profile: ModalityProfile,
                      title: str) -> Figure:
    """The demonstration figure: one row per family (:data:`DEMO_ROWS`), panels left to right.

    Parameters
    ----------
    panels : sequence of (row, title, Sample, spatial)
        From :func:`mira.augment.demo.demo_panels`; label contours are drawn on spatial panels.
    profile : ModalityProfile
        The modality's resolved profile; display window = ``profile.metric_window``.
    title : str
        Figure title.
    """
    ncol = max(sum(1 for p in panels if p[0] == r) for r in DEMO_ROWS)
    fig, axes = plt.subplots(len(DEMO_ROWS), ncol, figsize=(2.3 * ncol, 2.55 * len(DEMO_ROWS)), squeeze=False)
    vmin, vmax = display_window(profile)
    for i, row in enumerate(DEMO_ROWS):
        items = [p for p in panels if p[0] == row]
        for j in range(ncol):
            ax = axes[i, j]
            ax.axis("off")
            if j >= len(items):
                continue
            _, ttl, s, spatial = items[j]
            ax.imshow(display_slice(s.image), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            if s.label is not None and spatial:
                lab = display_slice(s.label)
                if lab.max() > 0:
                    ax.contour(lab, levels=np.arange(0.5, lab.max() + 0.5), colors="tab:orange", linewidths=0.35,
                               alpha=0.8)
            ax.set_title(ttl, fontsize=7)
        axes[i, 0].text(-0.08, 0.5, row, transform=axes[i, 0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=10, fontweight="bold")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def demo_figure(sample: Any, profile: ModalityProfile, rng: np.random.Generator, path: PathLike,
                title: str | None = None) -> int:
    """Draw the demonstration figure of ``sample`` to ``path``; returns the number of panels.

    Parameters
    ----------
    sample : mira.augment.Sample
        The case shown (3D: its middle slice).
    profile : ModalityProfile
        The modality's resolved profile (augmentation limits and display window).
    rng : numpy.random.Generator
        Generator of the drawn transforms.
    path : path
        Output figure.
    title : str, optional
        Default: "<MODALITY> augmentation at the profile limits".
    """
    from ...augment.demo import demo_panels

    panels = demo_panels(sample, profile, rng)
    sl = " (middle slice)" if sample.ndim == 3 else ""
    save_figure(build_demo_figure(panels, profile, title or f"{profile.name.upper()} augmentation at the profile "
                                                            f"limits{sl}"), path)
    return len(panels)


def summary_markdown(rows: Sequence[dict[str, Any]], profile: ModalityProfile, n_cases: int, title: str) -> str:
    """Markdown of :func:`mira.augment.demo.summary_rows`: per transform, variants, parameters, output range."""
    lo, hi = profile.value_range
    lines = [f"### {title}", "",
             f"{n_cases} cases; value range of {profile.name}: [{lo:g}, {hi:g}] {profile.units}. `applied` counts "
             "the variants in which the transform fired (probabilities below 1 inside the standard pipeline).", "",
             "| transform | family | variants | applied | drawn parameters (min..max) | output min | output max "
             "| range kept |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["transform"] + ("" if r["within_profile"] else " (outside profile)")
        lines.append(f"| {name} | {r['family']} | {r['variants']} | {r['applied']} | {r['parameters'] or '-'} | "
                     f"{r['value_min']:.4g} | {r['value_max']:.4g} | {'yes' if r['value_range_kept'] else '**no**'} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# combined tables


def write_csv(df: pd.DataFrame, path: PathLike) -> None:
    """Write ``df`` atomically as CSV (6 significant digits)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def combine_tables(inputs: Sequence[PathLike], out_csv: PathLike, out_md: PathLike, title: str,
                   columns: Sequence[str] | None = None, note: str = "") -> int:
    """Concatenate per-(source, modality) CSV tables into one CSV and one Markdown table.

    Parameters
    ----------
    inputs : sequence of path
        The CSV tables (same columns).
    out_csv, out_md : path
        Outputs: every column in the CSV; ``columns`` (those present) in the Markdown table.
    title, note : str
        Markdown heading (level 3) and the paragraph under it.

    Returns
    -------
    int
        Number of rows.
    """
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in inputs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_csv(df, out_csv)
    show = df[[c for c in columns if c in df.columns]] if columns is not None and not df.empty else df
    md = f"### {title}\n\n" + (note + "\n\n" if note else "")
    md += show.to_markdown(index=False, floatfmt=".3g") if not show.empty else "(no rows)"
    write_text(out_md, md + "\n")
    return len(df)


def write_summary_table(inputs: Sequence[PathLike], out_csv: PathLike, out_md: PathLike) -> int:
    """The augmentation summaries of every (source, modality) in one table; returns the row count."""
    return combine_tables(inputs, out_csv, out_md, "Augmentation summary", columns=list(SUMMARY_COLUMNS),
                          note="Variants drawn per transform on the training phantoms; drawn parameter ranges and "
                               "output value ranges (native units).")


def write_constraints_table(inputs: Sequence[PathLike], out_csv: PathLike, out_md: PathLike,
                            tolerances: Mapping[str, Any]) -> int:
    """The constraint checks of every (source, modality) in one table; returns the row count.

    ``tolerances`` is the ``augment.constraints.tolerances`` section (``dice_min``,
    ``volume_error_max``, ``positions_kept_min``, ``lesion_cnr_ratio_min``, ``snr_drop_db_max`` in dB),
    quoted in the table's note.
    """
    tol = tolerances
    note = ("Means over cases x draws; Dice = round trip through the inverse transform; flags count draws "
            f"violating: Dice >= {tol['dice_min']}, volume error <= {tol['volume_error_max']}, positions kept >= "
            f"{tol['positions_kept_min']}, lesion CNR ratio >= {tol['lesion_cnr_ratio_min']}, SNR drop <= "
            f"{tol['snr_drop_db_max']} dB. elastic_textbook (alpha=800, sigma=6 px) ignores the profile limit.")
    return combine_tables(inputs, out_csv, out_md, "Augmentation constraint checks", columns=list(CONSTRAINT_COLUMNS),
                          note=note)


def write_policy_table(inputs: Sequence[PathLike], out_csv: PathLike, out_md: PathLike) -> int:
    """The ranked policy candidates of every modality in one table; returns the row count."""
    return combine_tables(inputs, out_csv, out_md, "Augmentation policy search", columns=list(POLICY_COLUMNS),
                          note="Candidates ranked by the scorer (higher is better; tiny_segmenter: mean validation "
                               "Dice of a small FCN trained on policy-augmented phantoms; tiny_cnn: minus the "
                               "validation log-loss of a lesion classifier).")


def gan_downstream(strategies_csv: PathLike | None) -> pd.DataFrame:
    """The strategy study's "gan vs none" rows: per modality and training size, the paired accuracy and AUC
    change with their intervals (``delta_*``, ``*_lo``, ``*_hi``; columns of
    :func:`mira.evaluate.strategy_study.summarize_runs`). Empty without the summary or without GAN rows."""
    keep = ["modality", "size_per_class", "seeds", "accuracy_mean", "delta_accuracy", "delta_accuracy_lo",
            "delta_accuracy_hi", "auc_mean", "delta_auc", "delta_auc_lo", "delta_auc_hi", "ci"]
    if strategies_csv is None or not Path(strategies_csv).is_file() or Path(strategies_csv).stat().st_size <= 1:
        return pd.DataFrame(columns=keep)
    s = pd.read_csv(strategies_csv)
    if "strategy" not in s:
        return pd.DataFrame(columns=keep)
    s = s[s["strategy"] == "gan"]
    return s[[c for c in keep if c in s]].reset_index(drop=True)


def _interval(r: Any, m: str) -> str:
    return f"{r[f'delta_{m}']:+.3f} [{r[f'delta_{m}_lo']:+.3f}, {r[f'delta_{m}_hi']:+.3f}]"


def write_gan_table(sidecars: Sequence[PathLike], out_csv: PathLike, out_md: PathLike,
                    strategies: PathLike | None = None) -> int:
    """One row per modality from the GAN sidecars (CSV and Markdown); returns the row count.

    ``strategies``: the strategy study's summary CSV; its "gan vs none" rows (:func:`gan_downstream`)
    add the downstream effect at the smallest training size to the rows (``downstream_*`` columns)
    and, at every size, a second Markdown table.
    """
    rows = []
    for p in sidecars:
        d = json.loads(Path(p).read_text(encoding="utf-8"))
        rows.append({"modality": d["modality"], "architecture": d.get("architecture", ""),
                     "image_size": d["image_size"], "generator_parameters": d.get("generator_parameters"),
                     "iterations": d["iterations"], "cpu_s": d["cpu_s"], "stopped_by": d["stopped_by"],
                     "n_training_images": d["n_training_images"], **d["statistics"]})
    df = pd.DataFrame(rows)
    down = gan_downstream(strategies)
    if not df.empty and not down.empty:
        first = down.sort_values("size_per_class").groupby("modality", sort=False).head(1).set_index("modality")
        for c in ("size_per_class", "delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi", "delta_auc",
                  "delta_auc_lo", "delta_auc_hi"):
            if c in first:
                df[f"downstream_{c}"] = df["modality"].map(first[c])
    write_csv(df, out_csv)
    note = ("Fidelity: FID and KID (unbiased, cubic polynomial kernel, mean and sd over subsets) on the "
            "standardised features of a small CNN trained on the real training images (label-grid task), "
            "generated vs held-out real images, beside the real-train vs held-out reference (the floor: lower is "
            "better, near the reference is as good as these few real cases allow); pixel kernel MMD^2 (32x32, "
            "Gaussian kernel, median bandwidth) with its reference and permutation p-value; "
            "intensity W1 in native units; diversity: mean pairwise SSIM (near 1 = mode collapse); "
            "nn_distance_ratio < 1 would indicate memorised training cases.")
    text = "### GAN synthesis\n\n" + note + "\n\n" + (df.to_markdown(index=False, floatfmt=".3g")
                                                         if not df.empty else "(no rows)") + "\n"
    write_text(out_md, text + _downstream_markdown(down))
    return len(df)


def _downstream_markdown(down: pd.DataFrame) -> str:
    """The "gan vs none" rows of :func:`gan_downstream` as a Markdown section ('' without rows)."""
    if down.empty:
        return ""
    dd = pd.DataFrame({"modality": down["modality"], "training cases per class": down["size_per_class"],
                       "seeds": down.get("seeds"), "interval": down.get("ci"),
                       "accuracy change (gan - none) [CI]": [_interval(r, "accuracy") for _, r in down.iterrows()],
                       "AUC change [CI]": [_interval(r, "auc") for _, r in down.iterrows()]})
    return ("\n#### Downstream effect: lesion classifier trained with GAN samples vs without\n\n"
            "Strategy study, strategy 'gan' vs 'none' at the same training size and seeds (paired difference, "
            "the study's confidence level); an interval containing 0 means no measurable effect.\n\n"
            + dd.to_markdown(index=False) + "\n")


# ------------------------------------------------------------------------------------------------
# GAN


def build_gan_grid_figure(fake: np.ndarray, real: np.ndarray, profile: ModalityProfile, stats: Mapping[str, float],
                          iterations: int) -> Figure:
    """Generated samples (up to 24, rows of 8) under a row of real held-out images (up to 8).

    Parameters
    ----------
    fake, real : ndarray
        Stacks ``(n, h, w)`` of generated and real images in native units.
    profile : ModalityProfile
        The modality's resolved profile; display window = ``profile.metric_window``.
    stats : mapping
        :func:`mira.augment.gan.gan_statistics` (MMD^2, its reference and p-value, SSIM diversities),
        and FID with its reference (:func:`mira.augment.gan_quality.sample_quality`) when present.
    iterations : int
        Training iterations (in the title; no seconds, so the figure is the same bytes on every machine).
    """
    vmin, vmax = display_window(profile)
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
    fid = (f"FID {stats['fid']:.3g} (real-real {stats['fid_reference']:.3g}); " if "fid" in stats else "")
    fig.suptitle(f"DCGAN {profile.name.upper()} ({iterations} iterations): {fid}"
                 f"MMD$^2$ {stats['mmd2']:.3f} (real-real {stats['mmd2_reference']:.3f}, "
                 f"p={stats['mmd2_pvalue']:.3f}); "
                 f"SSIM diversity {stats['ssim_diversity_fake']:.2f} (real {stats['ssim_diversity_real']:.2f})",
                 fontsize=8)
    fig.tight_layout()
    return fig


def gan_grid_figure(fake: np.ndarray, real: np.ndarray, profile: ModalityProfile, path: PathLike,
                    stats: Mapping[str, float], res: Any) -> None:
    """Write :func:`build_gan_grid_figure` to ``path``; ``res`` is the training result (its ``iterations``)."""
    save_figure(build_gan_grid_figure(fake, real, profile, stats, res.iterations), path)


__all__ = ["CONSTRAINT_COLUMNS", "SUMMARY_COLUMNS", "POLICY_COLUMNS", "write_csv", "combine_tables",
           "write_summary_table", "write_constraints_table", "write_policy_table", "write_gan_table", "gan_downstream",
           "build_demo_figure", "demo_figure", "summary_markdown",
           "build_gan_grid_figure", "gan_grid_figure"]

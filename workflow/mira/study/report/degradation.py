"""Grading table and figure grid of the degradation stage."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from ...atomic import atomic_path, write_text
from ...degrade.grading import BANDS, GRADE_COLUMNS
from ...degrade.levels import LEVEL_NAMES
from ...degrade.pairs import GRADING, ID_COLUMNS, PairedDataset
from ...errors import InputError
from .figures import Figure, display_slice, plt, save_figure

PathLike = Union[str, os.PathLike]

#: Display windows of the figure grid (native units): CT in a soft-tissue window (W 400, L 40) and
#: X-ray in 0..0.35 (the body's I/I0; unattenuated air at 1 saturates) so noise and artifacts are
#: visible; MRI and ultrasound in their metric window.
DISPLAY_WINDOWS = {"ct": (-160.0, 240.0), "mri": (0.0, 1.0), "xray": (0.0, 0.35), "us": (0.0, 1.0)}
_UNITS = {"snr_db": "dB", "mtf_pct": "%", "artifact_pct": "%", "cnr": ""}
_SHORT = {"snr_db": "SNR", "mtf_pct": "MTF", "artifact_pct": "AI", "cnr": "CNR"}


def combine_grading(folders: Sequence[PathLike]) -> pd.DataFrame:
    """Concatenate the ``grading.csv`` of every paired folder."""
    frames = []
    for f in folders:
        p = Path(f) / GRADING
        if not p.is_file():
            raise InputError(f"{p}: missing grading table (is {f} a degraded dataset folder?)")
        frames.append(pd.read_csv(p, keep_default_na=True))
    if not frames:
        return pd.DataFrame(columns=ID_COLUMNS + GRADE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def landing_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (source, modality, degradation, level): cases, deciding measure (mean, min, max), landed fraction."""
    rows = []
    for keys, g in df.groupby(["source", "modality", "split", "degradation", "level"], sort=False):
        measure = g["measure"].iloc[0]
        vals = pd.to_numeric(g[measure], errors="coerce")
        landed = g["landed"].map({True: 1.0, False: 0.0, "True": 1.0, "False": 0.0})
        rows.append({
            "source": keys[0], "modality": keys[1], "split": keys[2], "degradation": keys[3], "level": keys[4],
            "cases": len(g), "measure": measure, "mean": vals.mean(), "min": vals.min(), "max": vals.max(),
            "grades": ", ".join(f"{k}:{v}" for k, v in g["grade"].fillna("").value_counts().items() if k),
            "landed": landed.mean() if landed.notna().any() else np.nan,
            "snr_db": pd.to_numeric(g["snr_db"], errors="coerce").mean(),
            "cnr": pd.to_numeric(g["cnr"], errors="coerce").mean(),
            "mtf_pct": pd.to_numeric(g["mtf_pct"], errors="coerce").mean(),
            "mtf_expected_pct": pd.to_numeric(g["mtf_expected_pct"], errors="coerce").mean(),
            "artifact_pct": pd.to_numeric(g["artifact_pct"], errors="coerce").mean(),
        })
    return pd.DataFrame(rows)


def _md(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False, floatfmt=".3g") if len(df) else "(no rows)"


def write_grading_tables(df: pd.DataFrame, csv_path: PathLike, md_path: PathLike,
                         summary_csv: PathLike | None = None) -> pd.DataFrame:
    """Write the per-case grading CSV, the summary CSV (optional) and a Markdown report of both."""
    summary = landing_summary(df)
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    if summary_csv is not None:
        with atomic_path(summary_csv) as tmp:
            summary.to_csv(tmp, index=False)
    graded = summary[summary["landed"].notna()]
    overall = float((graded["landed"] * graded["cases"]).sum() / graded["cases"].sum()) if len(graded) else float("nan")
    bands = "\n".join(
        f"| {_SHORT[m]} ({_UNITS[m] or '-'}) | {'>' if hi else '<'} {a:g} | {min(a, b):g} - {max(a, b):g} | "
        f"{'<' if hi else '>'} {b:g} |" for m, (a, b, hi) in BANDS.items())
    text = [
        "# Degradation severity grading",
        "",
        f"{len(df)} degraded cases; the deciding measure of each degradation (noise: SNR, resolution: MTF at "
        "0.125 cycles/pixel, artifacts: artifact index) gives the grade, and a case *lands* when the grade "
        "equals the intended level. CNR (lesion vs host organ) is measured and banded but does not decide.",
        f"Landing rate over all graded cases: **{overall:.0%}**." if len(graded) else "",
        "",
        "| measure | mild | moderate | severe |",
        "| --- | --- | --- | --- |",
        bands,
        "",
        "## Landing rate per modality, degradation and level",
        "",
        _md(summary),
        "",
        "## Every case",
        "",
        _md(df),
        "",
    ]
    write_text(md_path, "\n".join(text))
    return summary


def _order(folders: Sequence[PathLike]) -> dict[str, dict[str, Path]]:
    """degradation -> level -> folder, in the order given."""
    out: dict[str, dict[str, Path]] = {}
    for f in folders:
        p = Path(f)
        out.setdefault(p.parent.name, {})[p.name] = p
    return out


def _level_key(level: str) -> tuple:
    return (0, LEVEL_NAMES.index(level), 0) if level in LEVEL_NAMES else (1, 0, int(level.lstrip("x") or 0))


def _case_to_show(first: PairedDataset, case_id: str | None) -> str:
    """``case_id`` or the first lesion case (else the first case) of ``first``."""
    if case_id is not None:
        return case_id
    lesion = [r["case_id"] for r in first.rows if str(r["class_label"]) == "1"]
    return lesion[0] if lesion else first.rows[0]["case_id"]


def _panel_title(level: str, grade: pd.Series) -> str:
    """Level, deciding measure with its unit, grade and a tick (landed) or cross (missed)."""
    m = grade["measure"]
    landed = grade["landed"]
    mark = "" if pd.isna(landed) or landed == "" else (" \u2713" if str(landed) == "True" else " \u2717")
    return f"{level}\n{_SHORT[m]} {float(grade[m]):.3g}{_UNITS[m]} ({grade['grade']}){mark}"


def build_degradation_figure(folders: Sequence[PathLike], case_id: str | None = None) -> tuple[Figure, str]:
    """Figure grid for one modality: a row per degradation, clean then each level left to right.

    Parameters
    ----------
    folders : sequence of path
        Paired folders ``.../<degradation>/<level>`` of one (source, modality, split).
    case_id : str, optional
        The case to show; default the first lesion case.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and the case id drawn. Each panel is titled with the deciding measure, its band
        and a tick when it landed in the intended level; display windows :data:`DISPLAY_WINDOWS`.
    """
    table = _order(folders)
    if not table:
        raise InputError("degradation_figure: no degraded folders given")
    first = PairedDataset(next(iter(next(iter(table.values())).values())))
    case_id = _case_to_show(first, case_id)
    modality = first.info.get("modality", first.dataset.modality)
    vmin, vmax = DISPLAY_WINDOWS.get(modality, (0.0, 1.0))
    n_cols = 1 + max(len(v) for v in table.values())
    fig, axes = plt.subplots(len(table), n_cols, figsize=(2.1 * n_cols, 2.3 * len(table) + 0.3),
                             squeeze=False, layout="constrained")
    for i, (name, levels) in enumerate(table.items()):
        for j, level in enumerate(sorted(levels, key=_level_key), start=1):
            pd_ = PairedDataset(levels[level])
            row = next((r for r in pd_.rows if r["case_id"] == case_id), pd_.rows[0])
            pair = pd_.load(row)
            grade = pd_.grading().set_index("case_id").loc[row["case_id"]]
            if j == 1:
                ax = axes[i, 0]
                ax.imshow(display_slice(pair.reference), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
                ax.set_ylabel(name, fontsize=9)
                if i == 0:
                    ax.set_title("clean", fontsize=8)
            ax = axes[i, j]
            ax.imshow(display_slice(pair.degraded), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(_panel_title(level, grade), fontsize=7)
        for k in range(len(levels) + 1, n_cols):
            axes[i, k].axis("off")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{first.info.get('source', '')} / {modality}: case {case_id}, window {vmin:g}..{vmax:g}", fontsize=9)
    return fig, case_id


def degradation_figure(folders: Sequence[PathLike], out_png: PathLike, case_id: str | None = None) -> str:
    """Write :func:`build_degradation_figure` to ``out_png``; returns the case id drawn."""
    fig, case_id = build_degradation_figure(folders, case_id)
    save_figure(fig, out_png)
    return case_id

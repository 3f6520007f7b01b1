"""The restoration stage's tables over every restored folder: the tidy metric table and the targets.

* :func:`read_metrics` -- every restored folder's ``metrics.csv`` (:mod:`mira.study.restore_stage`)
  concatenated into one tidy table (the input of the evaluation tables and figures);
* :func:`targets_table` / :func:`targets_markdown` -- the quality and speed targets of the
  restoration study, measured as per-case paired differences;
* :func:`summarise` -- mean, sd, median, min, max and n per method (the benchmark's summary; the
  report's restoration table is :mod:`mira.study.report.restoration_tables`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ...atomic import atomic_path, write_text
from ...errors import InputError
from ...sources import domain_of
from ..restore_stage import GROUP, METRIC_COLUMNS, METRICS_CSV, SR_DEGRADATION

PathLike = str | os.PathLike

TARGET_COLUMNS = ("source", "domain", "modality", "degradation", "level", "target", "measured", "sd", "n", "required",
                  "met")
#: Networks whose output must never be below the group's baseline (every level and scale).
DEEP_BASELINES = {"dncnn": "input", "srcnn": "bicubic", "edsr": "bicubic"}


def read_metrics(paths: Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate ``metrics.csv`` files (or restored folders holding one)."""
    frames = []
    for p in paths:
        path = Path(p)
        path = path / METRICS_CSV if path.is_dir() else path
        if not path.is_file():
            raise InputError(f"{path}: no metrics table")
        frames.append(pd.read_csv(path, dtype={"case_id": str, "level": str}))
    if not frames:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(METRIC_COLUMNS)]


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1), median, min, max and n per method and metric."""
    g = df.groupby(GROUP + ["metric"], sort=False)["value"]
    out = g.agg(n="count", mean="mean", sd="std", median="median", min="min", max="max").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    return out


def _pm(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _paired(df: pd.DataFrame, a: str, b: str, metric: str = "psnr") -> pd.Series:
    """Per-case ``a - b`` differences of ``metric`` (``df``: one group's rows)."""
    sel = df[df["metric"] == metric]
    va = sel[sel["method"] == a].set_index("case_id")["value"]
    vb = sel[sel["method"] == b].set_index("case_id")["value"]
    common = va.index.intersection(vb.index)
    return (va[common] - vb[common]).astype(float)


def _target_row(keys: dict, target: str, diff: pd.Series, required: float) -> dict:
    mean = float(diff.mean()) if len(diff) else float("nan")
    return {**keys, "target": target, "measured": mean, "sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
            "n": len(diff), "required": required, "met": bool(np.isfinite(mean) and mean >= required)}


def _noise_targets(grp: pd.DataFrame, keys: dict, dncnn_margin_db: float, speedup: float,
                   real_margin_db: float) -> list[dict]:
    """Classical denoisers vs the input, DnCNN vs BM3D (PSNR and CPU time) in one noise folder group.

    On real scans DnCNN must come within ``real_margin_db`` of BM3D; on phantoms beat it by ``dncnn_margin_db``.
    """
    from ...restore import get_method

    rows = []
    present = set(grp["method"])
    if "input" in present:
        for meth in sorted(present):
            if get_method(meth).family in ("classical", "zero-shot"):
                rows.append(_target_row(keys, f"{meth} - input PSNR (dB)", _paired(grp, meth, "input"), 1e-9))
    if {"dncnn", "bm3d"} <= present:
        real = keys["domain"] == "real"
        rows.append(_target_row(keys, "dncnn - bm3d PSNR (dB)" + (", real scans" if real else ""),
                                _paired(grp, "dncnn", "bm3d"), -real_margin_db if real else dncnn_margin_db))
        c_b = grp[(grp["method"] == "bm3d") & (grp["metric"] == "cpu_s")].set_index("case_id")["value"]
        c_d = grp[(grp["method"] == "dncnn") & (grp["metric"] == "cpu_s")].set_index("case_id")["value"]
        ratio = pd.Series([c_b.mean() / max(c_d.mean(), 1e-9)])
        rows.append(_target_row(keys, "bm3d / dncnn CPU time", ratio, speedup))
        rows[-1]["sd"], rows[-1]["n"] = 0.0, int(min(len(c_b), len(c_d)))
    return rows


def _never_below(df: pd.DataFrame) -> list[dict]:
    """Every network vs its baseline (``input``, ``bicubic``) in every group, every level and scale: > 0."""
    rows = []
    for (src, mod, deg, lvl), grp in df.groupby(["source", "modality", "degradation", "level"], sort=False):
        present = set(grp["method"])
        keys = {"source": src, "domain": domain_of(src), "modality": mod, "degradation": deg, "level": lvl}
        for net, base in DEEP_BASELINES.items():
            if {net, base} <= present:
                rows.append(_target_row(keys, f"{net} - {base} PSNR (dB), never below", _paired(grp, net, base), 1e-9))
    return rows


def targets_table(df: pd.DataFrame, level: str = "moderate", sr_level: str = "x2", dncnn_margin_db: float = 0.3,
                  speedup: float = 4.0, sr_margin_db: float = 1.0, real_margin_db: float = 1.0) -> pd.DataFrame:
    """The issue's quality and speed targets, measured on the per-case rows (paired differences).

    Rows per (source, modality, noise degradation) at ``level``: every classical denoiser vs the
    noisy input (PSNR gain > 0), DnCNN vs BM3D (PSNR gain >= ``dncnn_margin_db`` on phantoms, >=
    ``-real_margin_db`` on real scans) and their CPU time ratio (>= ``speedup``); per (source, modality)
    at ``sr_level``: SRCNN vs bicubic (>= ``sr_margin_db``) and EDSR vs SRCNN (>= 0); then every network
    vs its baseline at every level and scale (never below: > 0). Differences are per case, reported
    as mean and sd over the cases; ``domain`` says whether the source is phantoms or real scans.
    """
    rows = []
    noise = df[(df["level"] == level) & (df["degradation"] != SR_DEGRADATION)]
    for (src, mod, deg), grp in noise.groupby(["source", "modality", "degradation"], sort=False):
        keys = {"source": src, "domain": domain_of(src), "modality": mod, "degradation": deg, "level": level}
        rows += _noise_targets(grp, keys, dncnn_margin_db, speedup, real_margin_db)
    sr = df[(df["degradation"] == SR_DEGRADATION) & (df["level"] == sr_level)]
    for (src, mod), grp in sr.groupby(["source", "modality"], sort=False):
        present = set(grp["method"])
        keys = {"source": src, "domain": domain_of(src), "modality": mod, "degradation": SR_DEGRADATION,
                "level": sr_level}
        for a, b, req in (("srcnn", "bicubic", sr_margin_db), ("edsr", "srcnn", 0.0)):
            if {a, b} <= present:
                rows.append(_target_row(keys, f"{a} - {b} PSNR (dB)", _paired(grp, a, b), req))
    rows += _never_below(df)
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS))


def targets_markdown(targets: pd.DataFrame, title: str = "Restoration targets") -> str:
    """Markdown of :func:`targets_table` with met/missed and the shortfall."""
    lines = [f"# {title}", "",
             "Per-case paired differences (mean ± sd over n test cases); CPU ratio of the mean CPU seconds per image.",
             "Domain: *phantom* = mira's synthetic data, *real* = scans of `inputs:` (on real scans DnCNN must come "
             "within 1 dB of BM3D; every network must stay above its baseline at every level).",
             "", "| source | domain | modality | degradation | level | target | measured | required | met |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    for _, r in targets.iterrows():
        ratio = "CPU" in r["target"]
        meas = f"{r['measured']:.1f}x" if ratio else _pm(r["measured"], r["sd"], 2)
        tiny = 0 < r["required"] < 1e-6
        req = f">= {r['required']:.1f}x" if ratio else ("> 0" if tiny else f">= {r['required']:.1f}")
        met = "yes" if r["met"] else (f"no (short by {r['required'] - r['measured']:.2f}{'x' if ratio else ' dB'})")
        lines.append(f"| {r['source']} | {r['domain']} | {r['modality']} | {r['degradation']} | {r['level']} | "
                     f"{r['target']} | "
                     f"{meas} | {req} | {met} |")
    n_met = int(targets["met"].sum()) if len(targets) else 0
    lines += ["", f"{n_met} of {len(targets)} targets met."]
    return "\n".join(lines) + "\n"


def write_csv(frame: pd.DataFrame, path: PathLike) -> None:
    """``frame`` as CSV (atomically), default float format."""
    with atomic_path(path) as t:
        frame.to_csv(t, index=False)


def write_targets(df: pd.DataFrame, targets_csv: PathLike, targets_md: PathLike, level: str) -> pd.DataFrame:
    """The targets table of the tidy metrics at noise level ``level`` (CSV and Markdown)."""
    tg = targets_table(df, level=level)
    write_csv(tg, targets_csv)
    write_text(targets_md, targets_markdown(tg, f"Restoration targets ({level} noise, SR x2)"))
    return tg


__all__ = [
    "TARGET_COLUMNS",
    "read_metrics",
    "summarise",
    "targets_markdown",
    "targets_table",
    "write_csv",
    "write_targets",
]

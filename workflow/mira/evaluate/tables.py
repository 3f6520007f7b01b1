"""Summaries of tidy per-case tables: mean, sd and n per group and metric, and best-method marks.

Pure functions on :class:`pandas.DataFrame` objects (no paths): the restoration table of the report
(:mod:`mira.study.report.restoration_tables`) and the super-resolution case study
(:mod:`mira.evaluate.sr_study`) are built on them.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

#: +1: higher is better, -1: lower is better (metrics not listed get no best mark).
DIRECTIONS: dict[str, int] = {"psnr": 1, "ssim": 1, "mae": -1, "psnr_full_db": 1, "mae_full": -1,
                              "mae_above_window": -1, "wall_s": -1, "cpu_s": -1, "dice": 1}


def summarize(df: pd.DataFrame, group: Sequence[str], metric_col: str = "metric",
              value_col: str = "value") -> pd.DataFrame:
    """Mean, sd (ddof 1, 0 for n = 1) and n of the finite ``value_col`` per ``group`` x ``metric_col``.

    Infinite values (the PSNR of an image identical to its reference) are left out and ``n`` says so.
    """
    keys = list(group) + [metric_col]
    d = df[keys + [value_col]].copy()
    d[value_col] = pd.to_numeric(d[value_col], errors="coerce")
    d = d[np.isfinite(d[value_col])]
    g = d.groupby(keys, sort=False)[value_col]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    out["n"] = out["n"].astype(int)
    return out


def mark_best(summary: pd.DataFrame, row_keys: Sequence[str], method_col: str = "method", metric_col: str = "metric",
              directions: Mapping[str, int] = DIRECTIONS, rtol: float = 1e-9) -> pd.DataFrame:
    """Add a boolean ``best`` column: within each row group and metric, the method(s) with the best mean.

    ``directions`` gives +1 (higher is better) or -1 per metric; ties are all marked.
    """
    out = summary.copy()
    out["best"] = False
    for _, g in out.groupby(list(row_keys) + [metric_col], sort=False):
        metric = g[metric_col].iloc[0]
        sign = directions.get(metric)
        if sign is None or g["mean"].isna().all():
            continue
        best = g["mean"].max() if sign > 0 else g["mean"].min()
        hit = np.isclose(g["mean"], best, rtol=rtol, atol=0.0)
        out.loc[g.index[hit], "best"] = True
    return out


__all__ = ["DIRECTIONS", "summarize", "mark_best"]

"""Aggregation of tidy per-case tables into the tables users read: mean, sd, n and best-method marks.

Input contract (the restoration stage's per-case metrics table, :mod:`mira.study.restore_stage`):
tidy rows ``source, modality, split, degradation, level, method, case_id, metric, value`` with
metrics ``psnr`` (dB), ``ssim``, ``mae`` (native units) over the modality's window, the full-range
``psnr_full_db`` (dB), ``mae_full`` and ``mae_above_window`` (native units), ``wall_s`` and ``cpu_s``
(seconds per image).

* :func:`summarize` (from :mod:`mira.evaluate.tables`) -- mean, sample standard deviation (ddof 1;
  0 for a single case) and n of the finite values per group and metric (an infinite PSNR of an
  identical image is left out and the ``n`` says so).
* :func:`mark_best` (from :mod:`mira.evaluate.tables`) -- per row group (e.g. modality x degradation x
  level) and metric, the method with the best mean (higher for PSNR/SSIM, lower for MAE and time; ties all marked). The
  unrestored ``input`` (and the ``bicubic`` SR baseline) compete too: when doing nothing wins, the
  table says so.
* :func:`restoration_table` / :func:`restoration_markdown` -- the wide table per modality x
  degradation x level x method, best values in bold and listed in the ``best`` column.
* :func:`sr_case_table` / :func:`sr_summary` (from :mod:`mira.evaluate.sr_study`, the library's
  super-resolution case study, :func:`mira.evaluate.sr_case_study`) -- per image, the
  low-resolution baseline (bicubic upsampling to the reference grid) against each SR method, PSNR and
  SSIM and their gains; the averages per scale and method with the fraction of images improved.
* :func:`collect_markdown` -- earlier stages' Markdown tables gathered into one document.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
import pandas as pd

from ...atomic import atomic_path, write_text
from ...errors import InputError
from ...evaluate.sr_study import SR_BASELINE, SR_DEGRADATION, sr_case_table, sr_summary
from ...evaluate.tables import mark_best, summarize
from ...sources import domain_of

PathLike = Union[str, os.PathLike]

#: +1: higher is better, -1: lower is better
DIRECTIONS: dict[str, int] = {"psnr": 1, "ssim": 1, "mae": -1, "psnr_full_db": 1, "mae_full": -1,
                              "mae_above_window": -1, "wall_s": -1, "cpu_s": -1, "dice": 1}
QUALITY_METRICS = ("psnr", "ssim", "mae", "psnr_full_db", "mae_full", "mae_above_window")
ROW_KEYS = ["source", "modality", "degradation", "level"]
TIDY_COLUMNS = ("source", "modality", "split", "degradation", "level", "method", "case_id", "metric", "value")


def read_tidy(paths: Iterable[PathLike] | PathLike) -> pd.DataFrame:
    """Read one or several tidy metric CSVs (columns :data:`TIDY_COLUMNS`)."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise InputError(f"{p}: no metric table")
        df = pd.read_csv(p, dtype={"case_id": str, "level": str})
        missing = [c for c in TIDY_COLUMNS if c not in df.columns]
        if missing:
            raise InputError(f"{p}: missing columns {missing}")
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TIDY_COLUMNS))


def restoration_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per (source, modality, degradation, level, method).

    Columns ``<m>_mean``, ``<m>_sd``, ``<m>_n`` and ``<m>_best`` for PSNR, SSIM, MAE (window), the
    full-range PSNR and MAE, the MAE above the window, wall and CPU time per image, ``n`` (cases) and
    ``best`` (the quality metrics the method wins in its row group).
    """
    group = ROW_KEYS + ["method"]
    s = mark_best(summarize(df, group), ROW_KEYS, directions=DIRECTIONS)
    if s.empty:
        return pd.DataFrame(columns=group + ["n", "best"])
    wide = None
    for metric in [m for m in (*QUALITY_METRICS, "wall_s", "cpu_s") if m in set(s["metric"])]:
        part = s[s["metric"] == metric].drop(columns="metric").rename(
            columns={"mean": f"{metric}_mean", "sd": f"{metric}_sd", "n": f"{metric}_n", "best": f"{metric}_best"})
        wide = part if wide is None else wide.merge(part, on=group, how="outer")
    wide.insert(1, "domain", wide["source"].map(domain_of))
    for c in [c for c in wide.columns if c.endswith("_best")]:  # a metric absent from a row (no pixel above the
        wide[c] = wide[c].astype("boolean").fillna(False).astype(bool)  # window) is not its best
    order = {m: i for i, m in enumerate(dict.fromkeys(df["method"]))}
    wide["n"] = wide[[c for c in wide.columns if c.endswith("_n")]].max(axis=1).astype(int)
    wide["best"] = [", ".join(m for m in QUALITY_METRICS if bool(r.get(f"{m}_best", False)))
                    for _, r in wide.iterrows()]
    wide["_o"] = wide["method"].map(order)
    return wide.sort_values(ROW_KEYS + ["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _pm(mean: float, sd: float, digits: int, bold: bool = False) -> str:
    if not np.isfinite(mean):
        return "n/a"
    txt = f"{mean:.{digits}f} ± {sd:.{digits}f}"
    return f"**{txt}**" if bold else txt


def _cell(r: pd.Series, m: str, digits: int) -> str:
    """``mean ± sd`` of metric ``m`` in row ``r`` (bold when best), or n/a."""
    if f"{m}_mean" not in r:
        return "n/a"
    return _pm(r[f"{m}_mean"], r[f"{m}_sd"], digits, bool(r.get(f"{m}_best", False)))


def restoration_markdown(table: pd.DataFrame,
                         title: str = "Restoration: which method for which modality and degradation") -> str:
    """Markdown of :func:`restoration_table`: best values in bold, ``best`` column."""
    lines = [f"# {title}", "",
             "Mean ± sd over n test cases (deep models only on cases they never trained on). PSNR, SSIM and MAE over "
             "each modality's fixed window (CT -1000..1000 HU, others 0..1); full range: PSNR and MAE unclipped, "
             "PSNR's data range the physical value range (CT 4095 HU); MAE > window: on the reference's pixels above "
             "the window (CT bone and metal; n/a where none). MAE in native units (HU for CT); time = wall "
             "milliseconds per image. Bold: best in its modality x degradation x level group (`input` is the "
             "unrestored degraded image, `bicubic` the super-resolution baseline; they compete too). Domain: "
             "*phantom* = mira's synthetic data, *real* = scans of `inputs:`.", "",
             "| source | domain | modality | degradation | level | method | n | PSNR window (dB) | SSIM | MAE window "
             "| PSNR full range (dB) | MAE full range | MAE > window | time (ms) | best |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for _, r in table.iterrows():
        mae_digits = 1 if r["modality"] == "ct" else 4
        t = r.get("wall_s_mean", np.nan)
        ms = f"{1000 * t:.1f}" if np.isfinite(t) else "n/a"
        lines.append(f"| {r['source']} | {domain_of(r['source'])} | {r['modality']} | {r['degradation']} | "
                     f"{r['level']} | {r['method']} | "
                     f"{int(r['n'])} | {_cell(r, 'psnr', 2)} | {_cell(r, 'ssim', 4)} | {_cell(r, 'mae', mae_digits)} | "
                     f"{_cell(r, 'psnr_full_db', 2)} | {_cell(r, 'mae_full', mae_digits)} | "
                     f"{_cell(r, 'mae_above_window', mae_digits)} | {ms} | {r['best'] or ''} |")
    return "\n".join(lines) + "\n"


def winners(table: pd.DataFrame, metric: str = "psnr", exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Per (source, modality, degradation, level): the method with the best mean ``metric`` (ignoring ``exclude``)."""
    sign = DIRECTIONS[metric]
    rows = []
    t = table[~table["method"].isin(list(exclude))]
    for key, g in t.groupby(ROW_KEYS, sort=False):
        g = g[np.isfinite(g[f"{metric}_mean"])]
        if g.empty:
            continue
        i = g[f"{metric}_mean"].idxmax() if sign > 0 else g[f"{metric}_mean"].idxmin()
        rows.append({**dict(zip(ROW_KEYS, key)), "method": g.loc[i, "method"], metric: g.loc[i, f"{metric}_mean"]})
    return pd.DataFrame(rows)


def sr_markdown(cases: pd.DataFrame, summary: pd.DataFrame, max_case_rows: int = 60) -> str:
    """The super-resolution case study: averages per scale and method, then the per-image table."""
    lines = ["# Super-resolution case study: low resolution (bicubic) vs super-resolved", "",
             "LR = the low-resolution image upsampled to the reference grid by bicubic interpolation; SR = the "
             "method's output; gains are SR - LR per image. PSNR/SSIM over the modality's fixed window. "
             "Bold: largest mean PSNR gain at that scale.", "",
             "## Averages per scale and method", "",
             "| source | modality | scale | method | n | LR PSNR | SR PSNR | PSNR gain (dB) | LR SSIM | SR SSIM "
             "| SSIM gain | improved (PSNR) |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in summary.iterrows():
        b = bool(r.get("best", False))
        lines.append(f"| {r['source']} | {r['modality']} | x{r['scale']} | {r['method']} | {r['n']} | "
                     f"{_pm(r['lr_psnr_mean'], r['lr_psnr_sd'], 2)} | {_pm(r['sr_psnr_mean'], r['sr_psnr_sd'], 2)} | "
                     f"{_pm(r['gain_psnr_mean'], r['gain_psnr_sd'], 2, b)} | "
                     f"{_pm(r['lr_ssim_mean'], r['lr_ssim_sd'], 4)} | "
                     f"{_pm(r['sr_ssim_mean'], r['sr_ssim_sd'], 4)} | "
                     f"{_pm(r['gain_ssim_mean'], r['gain_ssim_sd'], 4)} | "
                     f"{100 * r['improved_psnr']:.0f}% |")
    lines += ["", "## Per image", ""]
    shown = cases.head(max_case_rows)
    if len(shown):
        lines.append(shown.to_markdown(index=False, floatfmt=".3f"))
        if len(cases) > len(shown):
            lines.append(f"\n({len(cases) - len(shown)} more rows in the CSV.)")
    else:
        lines.append("(no super-resolution results)")
    return "\n".join(lines) + "\n"


def collect_markdown(parts: Sequence[tuple[str, PathLike]], title: str = "Tables of the earlier stages") -> str:
    """Concatenate Markdown files under ``## <heading>`` sections (their own top-level headings demoted)."""
    lines = [f"# {title}", ""]
    for heading, path in parts:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: table to collect is missing")
        body = p.read_text(encoding="utf-8").strip().splitlines()
        body = [("#" + ln if ln.startswith("#") else ln) for ln in body]
        lines += [f"## {heading}", "", *body, ""]
    return "\n".join(lines) + "\n"


def write_csv(df: pd.DataFrame, path: PathLike) -> None:
    """Write ``df`` atomically as CSV (6 significant digits)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def write_restoration_tables(metrics_csv: PathLike, out_csv: PathLike, out_md: PathLike, sr_cases_csv: PathLike,
                             sr_summary_csv: PathLike, sr_md: PathLike, verdicts_csv: PathLike | None = None,
                             verdicts_md: PathLike | None = None) -> dict[str, int]:
    """The restoration table, the phantom-vs-real verdicts and the SR case study from the tidy per-case metrics."""
    from .restoration_domains import verdict_table, verdicts_markdown

    df = read_tidy(metrics_csv)
    table = restoration_table(df)
    write_csv(table, out_csv)
    write_text(out_md, restoration_markdown(table))
    if verdicts_csv is not None and verdicts_md is not None:
        verdicts = verdict_table(table)
        write_csv(verdicts, verdicts_csv)
        write_text(verdicts_md, verdicts_markdown(verdicts))
    cases = sr_case_table(df)
    summ = sr_summary(cases)
    write_csv(cases, sr_cases_csv)
    write_csv(summ, sr_summary_csv)
    write_text(sr_md, sr_markdown(cases, summ))
    return {"rows": len(table), "sr_cases": len(cases)}


__all__ = ["DIRECTIONS", "read_tidy", "summarize", "mark_best", "restoration_table", "restoration_markdown", "winners",
           "SR_BASELINE", "SR_DEGRADATION", "sr_case_table", "sr_summary", "sr_markdown",
           "collect_markdown", "write_csv", "write_restoration_tables"]

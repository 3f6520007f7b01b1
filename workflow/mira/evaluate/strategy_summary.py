"""Summary statistics of the augmentation-strategy study: t-intervals over seeds, paired gains against
the ``none`` baseline, data-efficiency factors and the verdicts on the textbook chapter's claims.

Pure functions on the tidy runs table (one row per strategy x training size x seed, columns
:data:`mira.evaluate.strategy_study.RUN_COLUMNS`, or any table with the key columns ``modality``,
``strategy``, ``size_per_class``, ``seed_index`` and metric columns). Shared by the pipeline's
strategy tables (:mod:`mira.study.report.strategy_tables`) and the library's
:func:`mira.evaluate.compare_augmentation_strategies`; the design is described in
:mod:`mira.evaluate.strategy_study`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .strategies import STRATEGIES

CLAIMED_GAIN_PCT = (15.0, 30.0)
CLAIMED_DATA_FACTOR = (2.0, 5.0)
#: The metrics the pipeline summarises (higher is better).
SUMMARY_METRICS = ("accuracy", "auc")
BASELINE = "none"


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


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The metrics of a runs table: ``accuracy`` and ``auc`` where present (the pipeline's), else every
    numeric column that is not a key, an interval bound or bookkeeping."""
    found = [m for m in SUMMARY_METRICS if m in runs.columns]
    if found:
        return found
    skip = {"size_per_class", "n_train", "seed_index", "n_eval", "n_synthetic", "steps", "wall_s"}
    return [c for c in runs.columns if c not in skip and not c.endswith(("_lo", "_hi"))
            and pd.api.types.is_numeric_dtype(runs[c])]


def _summary_row(g: pd.DataFrame, base: pd.DataFrame, key: tuple, metrics: Sequence[str], level: float) -> dict:
    """One summary row: mean, sd, CI per metric; paired difference to the baseline at the same seeds."""
    mod, strat, n = key
    row: dict[str, Any] = {"modality": mod, "strategy": strat, "size_per_class": int(n), "seeds": len(g),
                           "detail": g["detail"].iloc[0] if "detail" in g else ""}
    for m in metrics:
        mean, sd, lo, hi = t_interval(g[m], level)
        if len(g) < 2 and f"{m}_lo" in g:  # one seed: the bootstrap interval over evaluation cases
            lo, hi = float(g[f"{m}_lo"].iloc[0]), float(g[f"{m}_hi"].iloc[0])
        row.update({f"{m}_mean": mean, f"{m}_sd": sd, f"{m}_lo": lo, f"{m}_hi": hi})
        if not base.empty:
            paired = g.merge(base[["seed_index", m]], on="seed_index", suffixes=("", "_base"))
            d_mean, _, d_lo, d_hi = t_interval(paired[m] - paired[f"{m}_base"], level)
            b = float(paired[f"{m}_base"].mean()) if len(paired) else float("nan")
            row.update({f"delta_{m}": d_mean, f"delta_{m}_lo": d_lo, f"delta_{m}_hi": d_hi,
                        f"gain_{m}_pct": 100.0 * d_mean / b if b else float("nan")})
    row["ci"] = f"t over {len(g)} seeds" if len(g) >= 2 else "bootstrap over cases"
    row["wall_s"] = float(g["wall_s"].sum()) if "wall_s" in g else float("nan")
    return row


def summarize_runs(runs: pd.DataFrame, level: float = 0.95, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per (modality, strategy, size): mean, sd and CI of every metric over seeds; paired gain vs
    ``none``; data-efficiency factors (:mod:`mira.evaluate.strategy_study`).

    Parameters
    ----------
    runs : DataFrame
        One row per (modality, strategy, size_per_class, seed_index) with one column per metric
        (higher is better) and, optionally, ``<metric>_lo`` / ``<metric>_hi`` bootstrap bounds (used
        when there is a single seed), ``detail`` and ``wall_s``.
    level : float
        Confidence level of the t-intervals, in (0, 1).
    metrics : sequence of str, optional
        Metric columns (default :func:`metric_columns`: ``accuracy`` and ``auc`` when present).

    Returns
    -------
    DataFrame
        Columns ``<m>_mean``, ``<m>_sd``, ``<m>_lo``, ``<m>_hi``; with a ``none`` baseline also
        ``delta_<m>`` (paired, same seeds) with ``delta_<m>_lo`` / ``_hi``, ``gain_<m>_pct``, and
        ``data_factor_<m>`` with ``data_factor_<m>_bound`` (``""``, ``">"`` or ``"<"``).
    """
    metrics = list(metrics) if metrics is not None else metric_columns(runs)
    rows = []
    for key, g in runs.groupby(["modality", "strategy", "size_per_class"], sort=False):
        mod, _, n = key
        base = runs[(runs.modality == mod) & (runs.strategy == BASELINE) & (runs.size_per_class == n)]
        rows.append(_summary_row(g, base, key, metrics, level))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    for m in metrics:
        factors, bounds = [], []
        for _, r in out.iterrows():
            b = out[(out.modality == r.modality) & (out.strategy == BASELINE)].sort_values("size_per_class")
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
    return out.sort_values(["modality", "_o", "size_per_class"], kind="stable").drop(columns="_o").reset_index(
        drop=True)


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


__all__ = ["CLAIMED_GAIN_PCT", "CLAIMED_DATA_FACTOR", "SUMMARY_METRICS", "BASELINE", "t_interval", "equivalent_size",
           "data_factor", "format_factor", "metric_columns", "summarize_runs", "claims_table", "claims_statement"]

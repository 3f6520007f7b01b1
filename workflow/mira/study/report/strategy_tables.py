"""The strategy study's tables: every strategy job's runs and learning curves combined, the summary with
confidence intervals, the claims table and the Markdown page of the report."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from ...atomic import write_text
from ...evaluate.strategy_study import (
    RUN_COLUMNS,
    claims_statement,
    claims_table,
    format_factor,
    summarize_runs,
    write_csv,
)

PathLike = Union[str, os.PathLike]


def _ci(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) else f"{mean:.{digits}f}"


def strategy_markdown(summary: pd.DataFrame, claims: pd.DataFrame, level: float = 0.95) -> str:
    """The strategy study for humans: the verdict first, then the learning-curve table, then the claims table."""
    pct = f"{100 * level:.0f}%"
    lines = ["# Augmentation strategies vs training-set size (lesion patch classification)", "",
             "## Verdict on the claims of the textbook chapter on medical image augmentation and restoration", "",
             claims_statement(claims), "",
             "## Held-out accuracy and AUC per strategy and training size", "",
             f"Mean over seeds with {pct} CI (t-interval over seeds; with one seed, bootstrap over evaluation cases). "
             "Gain = paired accuracy difference to `none` at the same size and seed, in % of `none`'s accuracy. "
             "Data factor = training size the `none` baseline needs to match the strategy's accuracy (interpolated in "
             "log2 size), divided by the strategy's size; `>` = the baseline never gets there within the sizes run "
             "(lower bound), `<` = below the baseline's smallest size (upper bound).", "",
             "| modality | strategy | cases/class | seeds | accuracy | AUC | gain (%) | data factor | what |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in summary.itertuples():
        gain = getattr(r, "gain_accuracy_pct", np.nan)
        fac = format_factor(r.data_factor_accuracy, r.data_factor_accuracy_bound) if r.strategy != "none" else "1x"
        lines.append(f"| {r.modality} | {r.strategy} | {r.size_per_class} | {r.seeds} | "
                     f"{_ci(r.accuracy_mean, r.accuracy_lo, r.accuracy_hi)} | {_ci(r.auc_mean, r.auc_lo, r.auc_hi)} | "
                     f"{'-' if r.strategy == 'none' or not np.isfinite(gain) else f'{gain:+.1f}'} | {fac} | "
                     f"{r.detail} |")
    lines += ["", "## The claims, strategy by strategy (smallest training size)", ""]
    lines.append(claims.to_markdown(index=False, floatfmt=".3f") if not claims.empty else "(no strategies)")
    return "\n".join(lines) + "\n"


def write_strategy_tables(run_csvs: Sequence[PathLike], history_csvs: Sequence[PathLike], *, out_runs: PathLike,
                          out_history: PathLike, out_summary: PathLike, out_claims: PathLike, out_md: PathLike,
                          confidence: float = 0.95) -> dict[str, Any]:
    """Combine every strategy job's runs and learning curves; write the summary, the claims and the Markdown."""
    runs = (pd.concat([pd.read_csv(p) for p in run_csvs], ignore_index=True) if run_csvs
            else pd.DataFrame(columns=RUN_COLUMNS))
    hist = pd.concat([pd.read_csv(p) for p in history_csvs if Path(p).stat().st_size > 1], ignore_index=True) \
        if history_csvs else pd.DataFrame()
    summ = summarize_runs(runs, confidence)
    claims = claims_table(summ) if not summ.empty else pd.DataFrame()
    write_csv(runs, out_runs)
    write_csv(hist, out_history)
    write_csv(summ, out_summary)
    write_csv(claims, out_claims)
    write_text(out_md, strategy_markdown(summ, claims, confidence))
    return {"runs": len(runs), "rows": len(summ)}

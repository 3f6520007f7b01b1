"""Jobs of the degradation stage: paired clean/degraded folders, the grading table, the figure grids.

Numeric and plotting modules are imported inside each job: the dispatcher imports every stage's job
module to find one rule's function, and a job should pay only for what it runs.
"""
from __future__ import annotations

from . import Job, job


@job("degrade")
def degrade(j: Job) -> None:
    """One paired clean/degraded folder for ``{source, modality, split, degradation, level}``."""
    from ..degrade_stage import degrade_dataset

    wc = j.wildcards
    table = degrade_dataset(j.input[0], j.output[0], degradation=wc.degradation, level=wc.level, seed=j.settings.seed,
                            source=wc.source, split=wc.split, overrides=j.settings.degrade.parameters.to_dict(),
                            profile=j.settings.profile(wc.modality))
    landed = table["landed"].dropna()
    j.log.info("wrote %d pairs to %s; landed in the intended band: %s", len(table), j.output[0],
               f"{int(landed.sum())}/{len(landed)}" if len(landed) else "n/a")


@job("degrade_grading_table")
def degrade_grading_table(j: Job) -> None:
    """Every case's measured SNR/CNR/MTF/artifact index, and the landing rates, in one table."""
    from ..report.degradation import combine_grading, write_grading_tables

    df = combine_grading(list(j.input))
    summary = write_grading_tables(df, j.output.csv, j.output.md, summary_csv=j.output.summary)
    j.log.info("graded %d cases in %d groups; landing rate %.2f", len(df), len(summary), summary["landed"].mean())


@job("degrade_figure")
def degrade_figure(j: Job) -> None:
    """Grid of every degradation of one (source, modality) at each level, on one case."""
    from ..report.degradation import degradation_figure

    case = degradation_figure(list(j.input), j.output[0], case_id=j.settings.degrade.figure_case or None)
    j.log.info("drew case %s over %d folders", case, len(j.input))

"""Jobs of the data stage: synthetic phantoms, real-image ingestion, dataset tables, overview figures.

Numeric and plotting modules are imported inside each job: the dispatcher imports every stage's job
module to find one rule's function, and a job should pay only for what it runs.
"""
from __future__ import annotations

from ...errors import ConfigError
from . import Job, job


@job("synthesize")
def synthesize(j: Job) -> None:
    """One synthetic dataset folder: ``{source}`` (2D phantoms or 3D volumes), ``{modality}``, ``{split}``."""
    from ..data_stage import SyntheticSpec, write_synthetic_dataset
    from ..plan.data import SYNTHETIC_3D

    wc = j.wildcards
    spec = SyntheticSpec.from_settings(j.settings.synthesis, wc.source, wc.modality, wc.split,
                                       volume=wc.source == SYNTHETIC_3D)
    n = write_synthetic_dataset(j.output[0], spec, j.settings.seed)
    j.log.info("wrote %d cases to %s", n, j.output[0])


@job("ingest")
def ingest(j: Job) -> None:
    """Read one configured real-image source into its train/val/test folders and its ingest report."""
    from ...ingest import ingest_source

    source, modality = j.wildcards.source, j.wildcards.modality
    spec = j.settings.inputs[source].to_dict()
    if spec["modality"] != modality:
        raise ConfigError(f"config key inputs.{source}.modality is {spec['modality']!r}, "
                          f"but {modality!r} was requested")
    out = {"train": j.output.train, "val": j.output.val, "test": j.output.test}
    counts = ingest_source(source, spec, out, seed=j.settings.seed, mem_mb=getattr(j.resources, "mem_mb", None),
                           report_path=j.output.report)
    j.log.info("ingested %s: %s", source, counts)


@job("ingest_summary")
def ingest_summary(j: Job) -> None:
    """One table of what went in from every real-image source (for the HTML report)."""
    from ...ingest.report import write_summary

    table = write_summary(j.input, j.output.csv, j.output.md)
    j.log.info("ingest summary of %d source(s)", len(table))


@job("dataset_stats")
def dataset_stats(j: Job) -> None:
    """Per-label statistics of one (source, modality) over all splits."""
    from ..report.dataset_table import dataset_stats as stats
    from ..report.dataset_table import write_csv

    df = stats(list(j.input), j.settings.profile(j.wildcards.modality))
    write_csv(df, j.output[0])
    j.log.info("%d rows", len(df))


@job("dataset_table")
def dataset_table(j: Job) -> None:
    """The per-dataset statistics of every (source, modality) in one CSV and one Markdown table."""
    from ..report.dataset_table import combine_tables, write_csv, write_markdown

    df = combine_tables(j.input)
    write_csv(df, j.output.csv)
    write_markdown(df, j.output.md, title="Datasets: cases, sizes, spacing, per-label intensity (native units)")


@job("overview_figure")
def overview_figure(j: Job) -> None:
    """Montage of cases with label overlays for one (source, modality)."""
    from ..report.overview import overview_figure as draw

    n = draw(list(j.input), j.output[0], j.settings.profile(j.wildcards.modality), n_cases=j.settings.overview.cases)
    j.log.info("drew %d cases", n)

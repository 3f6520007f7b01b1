"""Rule dataset_stats: per-label statistics of one (source, modality) over all splits."""
from mira.cli import run_script
from mira.report.dataset_table import dataset_stats, write_csv


def main(smk, log):
    df = dataset_stats(list(smk.input))
    write_csv(df, smk.output[0])
    log.info("%d rows", len(df))


run_script(snakemake, main)  # noqa: F821

"""Rule degrade_grading_table: every case's measured SNR/CNR/MTF/artifact index and the landing rates."""
from mira.cli import run_script
from mira.degrade.report import combine_grading, write_grading_tables


def main(smk, log):
    df = combine_grading(list(smk.input))
    summary = write_grading_tables(df, smk.output.csv, smk.output.md, summary_csv=smk.output.summary)
    log.info("graded %d cases in %d groups; landing rate %.2f", len(df), len(summary), summary["landed"].mean())


run_script(snakemake, main)  # noqa: F821

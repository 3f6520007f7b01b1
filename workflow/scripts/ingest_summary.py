"""Rule ingest_summary: one table of what went in from every real-image source (for the HTML report)."""
from mira.cli import run_script
from mira.ingest.report import write_summary


def main(smk, log):
    table = write_summary(smk.input, smk.output.csv, smk.output.md)
    log.info("ingest summary of %d source(s)", len(table))


run_script(snakemake, main)  # noqa: F821

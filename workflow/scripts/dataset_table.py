"""Rule dataset_table: collect the per-dataset statistics into one CSV and Markdown table."""
from mira.cli import run_script
from mira.report.dataset_table import combine_tables, write_csv, write_markdown


def main(smk, log):
    df = combine_tables(smk.input)
    write_csv(df, smk.output.csv)
    write_markdown(df, smk.output.md, title="Datasets: cases, sizes, spacing, per-label intensity (native units)")


run_script(snakemake, main)  # noqa: F821

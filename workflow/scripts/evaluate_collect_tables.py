"""Rule evaluate_collect_tables: the earlier stages' Markdown tables gathered into one document."""
from mira.atomic import write_text
from mira.cli import run_script
from mira.evaluate.aggregate import collect_markdown


def main(smk, log):
    parts = list(zip(smk.params.headings, smk.input))
    write_text(smk.output[0], collect_markdown(parts, "Tables of the earlier stages"))
    log.info("collected %d tables", len(parts))


run_script(snakemake, main)  # noqa: F821

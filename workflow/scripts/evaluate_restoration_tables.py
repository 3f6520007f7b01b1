"""Rule evaluate_restoration_tables: restoration table with best-method marks and the SR case study."""
from mira.cli import run_script
from mira.evaluate.aggregate import write_restoration_tables


def main(smk, log):
    o = smk.output
    info = write_restoration_tables(smk.input[0], o.csv, o.md, o.sr_cases, o.sr_summary, o.sr_md)
    log.info("restoration tables: %s", info)


run_script(snakemake, main)  # noqa: F821

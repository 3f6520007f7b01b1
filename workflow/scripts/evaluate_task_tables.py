"""Rule evaluate_task_tables: Dice summary, change per method and per-label tables of the task study."""
from mira.cli import run_script
from mira.evaluate.task_study import write_task_tables


def main(smk, log):
    o = smk.output
    info = write_task_tables(list(smk.input.dice), smk.input.metrics, o.csv, o.change, o.labels, o.md)
    log.info("task tables: %s", info)


run_script(snakemake, main)  # noqa: F821

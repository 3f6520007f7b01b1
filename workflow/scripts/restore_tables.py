"""Rule restore_tables: tidy per-case metrics, summary, targets and trained-models tables."""
from mira.cli import run_script
from mira.restore.evaluate import write_tables
from mira.restore.report import write_models_table


def main(smk, log):
    o = smk.output
    summary = write_tables(list(smk.input.restored), o.metrics, o.summary, o.summary_md, o.targets, o.targets_md,
                           level=smk.params.level)
    models = write_models_table(list(smk.input.sidecars), o.models, o.models_md)
    log.info("%d summary rows, %d models", len(summary), len(models))


run_script(snakemake, main)  # noqa: F821

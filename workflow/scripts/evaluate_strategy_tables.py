"""Rule evaluate_strategy_tables: strategy study summary, data-efficiency factors and the claims verdict."""
from mira.cli import run_script
from mira.evaluate.strategy_study import write_strategy_tables


def main(smk, log):
    o = smk.output
    info = write_strategy_tables(list(smk.input.runs), list(smk.input.history), out_runs=o.runs, out_history=o.history,
                                 out_summary=o.summary, out_claims=o.claims, out_md=o.md,
                                 confidence=smk.params.confidence)
    log.info("strategy tables: %s", info)


run_script(snakemake, main)  # noqa: F821

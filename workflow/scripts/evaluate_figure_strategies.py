"""Rule evaluate_figure_strategies: accuracy/AUC against training-set size per strategy, learning curves."""
from mira.cli import run_script
from mira.evaluate.figures import strategy_figure


def main(smk, log):
    n = strategy_figure(smk.input.summary, smk.input.history, smk.output[0])
    log.info("%d modalities drawn", n)


run_script(snakemake, main)  # noqa: F821

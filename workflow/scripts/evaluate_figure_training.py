"""Rule evaluate_figure_training: training curves of every network of the study."""
from mira.cli import run_script
from mira.evaluate.figures import training_curves


def main(smk, log):
    i = smk.input
    n = training_curves(smk.output[0], restore_histories=list(i.get("restore", [])),
                        unet_histories=list(i.get("unet", [])), strategy_history=i.get("strategy"))
    log.info("%d panels drawn", n)


run_script(snakemake, main)  # noqa: F821

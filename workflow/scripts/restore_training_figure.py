"""Rule restore_training_figure: validation PSNR and loss curves of every trained network."""
from mira.cli import run_script
from mira.restore.report import training_figure


def main(smk, log):
    log.info("%d training curves", training_figure(list(smk.input), smk.output[0]))


run_script(snakemake, main)  # noqa: F821

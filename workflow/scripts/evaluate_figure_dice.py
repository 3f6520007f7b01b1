"""Rule evaluate_figure_dice: Dice change per restoration method and PSNR gain vs Dice change."""
from mira.cli import run_script
from mira.evaluate.figures import dice_change_figure


def main(smk, log):
    n = dice_change_figure(smk.input[0], smk.output[0])
    log.info("%d modalities drawn", n)


run_script(snakemake, main)  # noqa: F821

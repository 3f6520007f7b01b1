"""Rule augment_gan_table: training and fidelity/diversity statistics of every GAN in one table."""
from mira.augment.pipeline import gan_table
from mira.cli import run_script


def main(smk, log):
    log.info("%d rows", gan_table(list(smk.input), smk.output.csv, smk.output.md))


run_script(snakemake, main)  # noqa: F821

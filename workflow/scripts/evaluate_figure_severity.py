"""Rule evaluate_figure_severity: PSNR/SSIM against severity level per method."""
from mira.cli import run_script
from mira.evaluate.figures import severity_curves


def main(smk, log):
    n = severity_curves(smk.input[0], smk.output[0], smk.wildcards.source, smk.wildcards.modality)
    log.info("%d degradations drawn", n)


run_script(snakemake, main)  # noqa: F821

"""Rule evaluate_figure_box: per-case PSNR per method (box plots)."""
from mira.cli import run_script
from mira.evaluate.figures import box_plots


def main(smk, log):
    n = box_plots(smk.input[0], smk.output[0], smk.wildcards.source, smk.wildcards.modality,
                  level=smk.params.level, sr_level=smk.params.sr_level)
    log.info("%d panels drawn", n)


run_script(snakemake, main)  # noqa: F821

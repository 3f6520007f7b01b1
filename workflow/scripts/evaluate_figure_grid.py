"""Rule evaluate_figure_grid: clean, degraded and restored images with zoomed insets and difference maps."""
from mira.cli import run_script
from mira.evaluate.figures import comparison_grid


def main(smk, log):
    p = smk.params
    case = comparison_grid(smk.input.paired, list(smk.input.restored), smk.output[0], case_id=p.case,
                           zoom_fraction=p.zoom, diff_fraction=p.diff)
    log.info("drew case %s", case)


run_script(snakemake, main)  # noqa: F821

"""Rule overview_figure: montage of cases with label overlays for one (source, modality)."""
from mira.cli import run_script
from mira.report.overview import overview_figure


def main(smk, log):
    n = overview_figure(list(smk.input), smk.output[0], n_cases=smk.params.n_cases)
    log.info("drew %d cases", n)


run_script(snakemake, main)  # noqa: F821

"""Rule degrade_figure: grid of every degradation of one modality at each level (one case)."""
from mira.cli import run_script
from mira.degrade.report import degradation_figure


def main(smk, log):
    case = degradation_figure(list(smk.input), smk.output[0], case_id=smk.params.case or None)
    log.info("drew case %s over %d folders", case, len(smk.input))


run_script(snakemake, main)  # noqa: F821

"""Rule restore_figure: clean / degraded / every method for one case of one (source, modality)."""
from mira.cli import run_script
from mira.restore.report import restoration_figure


def main(smk, log):
    case = restoration_figure(list(smk.input.restored), list(smk.input.paired), smk.output[0],
                              case_id=smk.params.case or None)
    log.info("drew case %s", case)


run_script(snakemake, main)  # noqa: F821

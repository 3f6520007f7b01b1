"""Rule evaluate_task: Dice of the U-Net on clean, degraded and restored test images of one dataset."""
from mira.cli import run_script
from mira.evaluate.task_study import run_task_study


def main(smk, log):
    df = run_task_study(smk.input.model, smk.input.clean, list(smk.input.restored), smk.output[0],
                        source=smk.wildcards.source, modality=smk.wildcards.modality)
    log.info("%d Dice rows", len(df))


run_script(snakemake, main)  # noqa: F821

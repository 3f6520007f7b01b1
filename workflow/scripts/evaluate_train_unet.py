"""Rule evaluate_train_unet: the task study's U-Net on the clean training phantoms of one modality."""
from mira.cli import run_script
from mira.evaluate.segmentation import train_segmentation


def main(smk, log):
    info = train_segmentation(smk.input.train, smk.input.val, modality=smk.wildcards.modality, seed=smk.params.seed,
                              out_model=smk.output.model, out_sidecar=smk.output.sidecar,
                              out_history=smk.output.history, settings=smk.params.settings)
    log.info("U-Net %s: %s", smk.wildcards.modality, info)


run_script(snakemake, main)  # noqa: F821

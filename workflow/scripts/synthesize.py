"""Rule synthesize: write one synthetic dataset folder (source, modality, split)."""
from mira.cli import run_script
from mira.synthetic_dataset import write_synthetic_dataset


def main(smk, log):
    shape = smk.params.shape
    n = write_synthetic_dataset(
        smk.output[0], source=smk.wildcards.source, modality=smk.wildcards.modality, split=smk.wildcards.split,
        n_cases=shape["n_cases"], seed=smk.params.seed, ndim=shape["ndim"], size=shape["size"],
        slices=shape["slices"], lesion_fraction=smk.params.lesion_fraction, tissues=smk.params.tissues,
        mri_contrast=smk.params.mri_contrast,
    )
    log.info("wrote %d cases to %s", n, smk.output[0])


run_script(snakemake, main)  # noqa: F821

"""Rule evaluate_strategy_cohort: synthesise the strategy study's lesion / no-lesion patch cohort."""
from mira.cli import run_script
from mira.evaluate.cohort import PatchSpec, make_cohort


def main(smk, log):
    c = smk.params.cohort
    info = make_cohort(smk.output[0], modality=smk.wildcards.modality, seed=smk.params.seed,
                       pool_per_class=c["pool_per_class"], eval_per_class=c["eval_per_class"],
                       image_size=c["image_size"], patch=PatchSpec(c["patch_size"], c["patch_context"]))
    log.info("cohort %s: %s", smk.wildcards.modality, info)


run_script(snakemake, main)  # noqa: F821

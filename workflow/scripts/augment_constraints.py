"""Rule augment_constraints: constraint checks of every transform on one (source, modality)."""
from mira.augment.pipeline import run_constraints
from mira.cli import run_script


def main(smk, log):
    c = smk.params.constraints
    info = run_constraints(smk.input[0], source=smk.wildcards.source, modality=smk.wildcards.modality,
                           seed=smk.params.seed, out_csv=smk.output.csv, out_draws=smk.output.draws,
                           out_md=smk.output.md, profile_overrides=smk.params.profile, cases=c["cases"],
                           draws=c["draws"], tolerances=c["tolerances"], min_pixels=c["min_pixels"])
    log.info("constraints: %s", info)


run_script(snakemake, main)  # noqa: F821

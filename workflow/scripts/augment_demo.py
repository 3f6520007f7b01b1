"""Rule augment_demo: demonstration figure and summary table of one (source, modality)."""
from mira.augment.pipeline import run_demo
from mira.cli import run_script


def main(smk, log):
    demo = smk.params.demo
    info = run_demo(smk.input[0], source=smk.wildcards.source, modality=smk.wildcards.modality, seed=smk.params.seed,
                    out_figure=smk.output.figure, out_csv=smk.output.csv, out_md=smk.output.md,
                    profile_overrides=smk.params.profile, cases=demo["cases"], variants=demo["variants"],
                    case_index=demo["case"])
    log.info("demo: %s", info)


run_script(snakemake, main)  # noqa: F821

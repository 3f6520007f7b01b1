"""Rule augment_summary_table: one table of the augmentation summaries of every (source, modality)."""
from mira.augment.pipeline import combine_tables
from mira.cli import run_script


def main(smk, log):
    n = combine_tables(list(smk.input), smk.output.csv, smk.output.md, "Augmentation summary",
                       columns=["source", "modality", "transform", "variants", "applied", "parameters",
                                "value_min", "value_max", "value_range_kept"],
                       note="Variants drawn per transform on the training phantoms; drawn parameter ranges and "
                            "output value ranges (native units).")
    log.info("%d rows", n)


run_script(snakemake, main)  # noqa: F821

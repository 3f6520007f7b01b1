"""Rule augment_constraints_table: the constraint checks of every (source, modality) in one table."""
from mira.augment.pipeline import CONSTRAINT_COLUMNS, combine_tables
from mira.cli import run_script


def main(smk, log):
    tol = smk.params.tolerances
    note = ("Means over cases x draws; Dice = round trip through the inverse transform; flags count draws "
            f"violating: Dice >= {tol['dice_min']}, volume error <= {tol['volume_error_max']}, positions kept >= "
            f"{tol['positions_kept_min']}, lesion CNR ratio >= {tol['lesion_cnr_ratio_min']}, SNR drop <= "
            f"{tol['snr_drop_db_max']} dB. elastic_textbook (alpha=800, sigma=6 px) ignores the profile limit.")
    n = combine_tables(list(smk.input), smk.output.csv, smk.output.md, "Augmentation constraint checks",
                       columns=list(CONSTRAINT_COLUMNS), note=note)
    log.info("%d rows", n)


run_script(snakemake, main)  # noqa: F821

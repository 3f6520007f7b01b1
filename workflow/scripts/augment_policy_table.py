"""Rule augment_policy_table: ranked policy candidates of every modality in one table."""
from mira.augment.pipeline import combine_tables
from mira.cli import run_script


def main(smk, log):
    n = combine_tables(list(smk.input), smk.output.csv, smk.output.md, "Augmentation policy search",
                       columns=["modality", "rank", "name", "kind", "score", "val_dice", "val_log_loss",
                                "val_accuracy", "policy"],
                       note="Candidates ranked by the scorer (higher is better; tiny_segmenter: mean validation "
                            "Dice of a small FCN trained on policy-augmented phantoms; tiny_cnn: minus the "
                            "validation log-loss of a lesion classifier).")
    log.info("%d rows", n)


run_script(snakemake, main)  # noqa: F821

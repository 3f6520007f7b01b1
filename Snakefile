# mira: Medical Image Restoration and Augmentation.
# Run: snakemake --cores 2            (full study on the embedded synthetic data)
#      snakemake --cores 2 figures    (regenerate figures from existing results)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    source="[A-Za-z0-9][A-Za-z0-9_-]*",
    modality="|".join(MODALITIES),
    split="|".join(SPLITS),



include: "workflow/rules/data.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/degrade.smk"
include: "workflow/rules/restore_common.smk"
include: "workflow/rules/restore.smk"
include: "workflow/rules/evaluate_common.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        all_targets,

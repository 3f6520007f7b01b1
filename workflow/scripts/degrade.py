"""Rule degrade: one paired clean/degraded dataset for {source, modality, split, degradation, level}."""
from mira.cli import run_script
from mira.degrade.pairs import degrade_dataset


def main(smk, log):
    wc = smk.wildcards
    table = degrade_dataset(smk.input[0], smk.output[0], degradation=wc.degradation, level=wc.level,
                            seed=smk.params.seed, source=wc.source, split=wc.split, overrides=smk.params.overrides)
    landed = table["landed"].dropna()
    log.info("wrote %d pairs to %s; landed in the intended band: %s", len(table), smk.output[0],
             f"{int(landed.sum())}/{len(landed)}" if len(landed) else "n/a")


run_script(snakemake, main)  # noqa: F821

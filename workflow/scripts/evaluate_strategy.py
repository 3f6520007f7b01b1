"""Rule evaluate_strategy: one augmentation strategy of one modality at every training size and seed."""
from mira.cli import run_script
from mira.evaluate.strategy_study import run_strategy_job


def main(smk, log):
    s = smk.params.study
    info = run_strategy_job(smk.input.cohort, modality=smk.wildcards.modality, strategy=smk.wildcards.strategy,
                            seed=smk.params.seed, sizes=s["sizes"], seeds=s["seeds"], training=s["training"],
                            out_runs=smk.output.runs, out_history=smk.output.history, input_size=s["input_size"],
                            policy_json=smk.input.get("policy"), gan_dir=smk.input.get("gan"),
                            gan_ratio=s["gan_ratio"], mixup_alpha=s["mixup_alpha"], cutmix_alpha=s["cutmix_alpha"],
                            n_boot=s["bootstrap"], confidence=s["confidence"])
    log.info("%s %s: %s", smk.wildcards.modality, smk.wildcards.strategy, info)


run_script(snakemake, main)  # noqa: F821

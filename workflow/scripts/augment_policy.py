"""Rule augment_policy: AutoAugment-style policy search on the 2D phantoms of one modality."""
from mira.augment.pipeline import run_policy_search
from mira.cli import run_script


def main(smk, log):
    p = smk.params.policy
    info = run_policy_search(smk.input.train, smk.input.val, modality=smk.wildcards.modality, seed=smk.params.seed,
                             out_json=smk.output.json, out_csv=smk.output.csv, profile_overrides=smk.params.profile,
                             method=p["method"], n_random=p["n_random"], n_sub_policies=p["n_sub_policies"],
                             randaugment_n=p["randaugment_n"], randaugment_m=p["randaugment_m"], scorer=p["scorer"],
                             scorer_options=p["scorer_options"], time_budget_s=p["time_budget_s"],
                             train_cases=p["train_cases"])
    log.info("policy search: %s", info)


run_script(snakemake, main)  # noqa: F821

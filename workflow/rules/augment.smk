# Augmentation stage: demonstration figures and summary tables, constraint checks, policy search and
# DCGAN synthesis. Jobs: mira.study.jobs.augment.


rule augment_demo:
    input:
        lambda wc: paths.dataset(wc.source, wc.modality, "train"),
    output:
        figure=report(
            paths.augment_demo_figure("{source}", "{modality}"),
            caption="../report/augment_demo.rst",
            category="Augmentation",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}", "figure": "demonstration"},
        ),
        csv=paths.augment_summary_part("{source}", "{modality}").csv,
        md=paths.augment_summary_part("{source}", "{modality}").md,
    log:
        paths.log("augment_demo", "source", "modality"),
    benchmark:
        paths.benchmark("augment_demo", "source", "modality")
    wildcard_constraints:
        source=PLAN.data.synthetic_sources_regex,
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PLAN.settings_of("augment_demo"),
    script:
        "../scripts/run_job.py"


rule augment_summary_table:
    input:
        PLAN.augment.summary_parts(),
    output:
        csv=paths.AUGMENT_SUMMARY.csv,
        md=report(paths.AUGMENT_SUMMARY.md, caption="../report/augment_summary.rst", category="Augmentation"),
    log:
        paths.log("augment_summary_table"),
    benchmark:
        paths.benchmark("augment_summary_table")
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule augment_constraints:
    input:
        lambda wc: paths.dataset(wc.source, wc.modality, "train"),
    output:
        csv=paths.augment_constraints_part("{source}", "{modality}").csv,
        draws=paths.augment_constraints_draws("{source}", "{modality}"),
        md=paths.augment_constraints_part("{source}", "{modality}").md,
    log:
        paths.log("augment_constraints", "source", "modality"),
    benchmark:
        paths.benchmark("augment_constraints", "source", "modality")
    wildcard_constraints:
        source=PLAN.data.synthetic_sources_regex,
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        settings=PLAN.settings_of("augment_constraints"),
    script:
        "../scripts/run_job.py"


rule augment_constraints_table:
    input:
        PLAN.augment.constraints_parts(),
    output:
        csv=paths.AUGMENT_CONSTRAINTS.csv,
        md=report(paths.AUGMENT_CONSTRAINTS.md, caption="../report/augment_constraints.rst", category="Augmentation"),
    log:
        paths.log("augment_constraints_table"),
    benchmark:
        paths.benchmark("augment_constraints_table")
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("augment_constraints_table"),
    script:
        "../scripts/run_job.py"


rule augment_policy:
    input:
        train=paths.dataset(PLAN.augment.source, "{modality}", "train"),
        val=paths.dataset(PLAN.augment.source, "{modality}", "val"),
    output:
        json=paths.augment_policy("{modality}"),
        csv=paths.augment_policy_part("{modality}"),
    log:
        paths.log("augment_policy", "modality"),
    benchmark:
        paths.benchmark("augment_policy", "modality")
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        settings=PLAN.settings_of("augment_policy"),
    script:
        "../scripts/run_job.py"


rule augment_policy_table:
    input:
        PLAN.augment.policy_parts(),
    output:
        csv=paths.AUGMENT_POLICY.csv,
        md=report(paths.AUGMENT_POLICY.md, caption="../report/augment_policy.rst", category="Augmentation"),
    log:
        paths.log("augment_policy_table"),
    benchmark:
        paths.benchmark("augment_policy_table")
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule augment_gan:
    input:
        train=paths.dataset(PLAN.augment.source, "{modality}", "train"),
        val=paths.dataset(PLAN.augment.source, "{modality}", "val"),
        test=paths.dataset(PLAN.augment.source, "{modality}", "test"),
    output:
        model=paths.gan_model("{modality}"),
        sidecar=paths.gan_sidecar("{modality}"),
        samples=directory(paths.gan_samples("{modality}")),
        figure=report(
            paths.gan_figure("{modality}"),
            caption="../report/augment_gan.rst",
            category="Augmentation",
            subcategory="GAN",
            labels={"modality": "{modality}", "figure": "GAN samples"},
        ),
    log:
        paths.log("augment_gan", "modality"),
    benchmark:
        paths.benchmark("augment_gan", "modality")
    conda:
        CONDA_ENV
    threads: PLAN.augment.gan_threads
    resources:
        mem_mb=3000,
        runtime=PLAN.augment.gan_runtime,
    params:
        settings=PLAN.settings_of("augment_gan"),
    script:
        "../scripts/run_job.py"


rule augment_gan_table:
    input:
        PLAN.augment.gan_sidecars(),
        **PLAN.augment.gan_table_inputs(PLAN.evaluate.strategy_jobs()),
    output:
        csv=paths.AUGMENT_GAN.csv,
        md=report(paths.AUGMENT_GAN.md, caption="../report/augment_gan_table.rst", category="Augmentation"),
    log:
        paths.log("augment_gan_table"),
    benchmark:
        paths.benchmark("augment_gan_table")
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"

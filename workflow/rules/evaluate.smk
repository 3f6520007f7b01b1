# Evaluation stage: restoration and super-resolution tables, the task-oriented study, the
# augmentation-strategy study, the findings, and every figure of the report. Jobs:
# mira.study.jobs.evaluate.


rule evaluate_restoration_tables:
    input:
        paths.RESTORE_METRICS,
    output:
        csv=paths.EVAL_RESTORATION.csv,
        md=report(
            paths.EVAL_RESTORATION.md,
            caption="../report/evaluate_restoration.rst",
            category="Restoration",
            subcategory="Evaluation",
        ),
        verdicts=paths.EVAL_RESTORATION_VERDICTS.csv,
        verdicts_md=report(
            paths.EVAL_RESTORATION_VERDICTS.md,
            caption="../report/evaluate_verdicts.rst",
            category="Restoration",
            subcategory="Phantom vs real",
        ),
        sr_cases=paths.EVAL_SR_CASES,
        sr_summary=paths.EVAL_SR_SUMMARY,
        sr_md=report(paths.EVAL_SR_STUDY, caption="../report/evaluate_sr.rst", category="Super-resolution"),
    log:
        paths.log("evaluate_restoration_tables"),
    benchmark:
        paths.benchmark("evaluate_restoration_tables")
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule evaluate_collect_tables:
    input:
        **PLAN.evaluate.collect_inputs(),
    output:
        report(paths.EVAL_EARLIER_STAGES, caption="../report/evaluate_earlier.rst", category="Findings"),
    log:
        paths.log("evaluate_collect_tables"),
    benchmark:
        paths.benchmark("evaluate_collect_tables")
    conda:
        CONDA_ENV
    resources:
        mem_mb=500,
    script:
        "../scripts/run_job.py"


rule evaluate_train_unet:
    input:
        train=paths.dataset(PLAN.evaluate.task_source, "{modality}", "train"),
        val=paths.dataset(PLAN.evaluate.task_source, "{modality}", "val"),
    output:
        model=paths.network_model(PLAN.evaluate.unet, "{modality}"),
        sidecar=paths.network_sidecar(PLAN.evaluate.unet, "{modality}"),
        history=paths.network_history(PLAN.evaluate.unet, "{modality}"),
    log:
        paths.log("evaluate_train_unet", "modality"),
    benchmark:
        paths.benchmark("evaluate_train_unet", "modality")
    conda:
        CONDA_ENV
    threads: PLAN.evaluate.unet_threads
    resources:
        mem_mb=3000,
        runtime=PLAN.evaluate.unet_runtime,
    params:
        settings=PLAN.settings_of("evaluate_train_unet"),
    script:
        "../scripts/run_job.py"


rule evaluate_task:
    input:
        unpack(lambda wc: PLAN.evaluate.task_inputs(wc.source, wc.modality)),
    output:
        paths.task_dice("{source}", "{modality}"),
    log:
        paths.log("evaluate_task", "source", "modality"),
    benchmark:
        paths.benchmark("evaluate_task", "source", "modality")
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        settings=PLAN.settings_of("evaluate_task"),
    script:
        "../scripts/run_job.py"


rule evaluate_task_tables:
    input:
        dice=PLAN.evaluate.task_parts(),
        metrics=paths.RESTORE_METRICS,
    output:
        csv=paths.EVAL_TASK.csv,
        change=paths.EVAL_TASK_DICE_CHANGE,
        labels=paths.EVAL_TASK_LABELS,
        md=report(paths.EVAL_TASK.md, caption="../report/evaluate_task.rst", category="Task-oriented evaluation"),
    log:
        paths.log("evaluate_task_tables"),
    benchmark:
        paths.benchmark("evaluate_task_tables")
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("evaluate_task_tables"),
    script:
        "../scripts/run_job.py"


rule evaluate_task_classification:
    input:
        unpack(lambda wc: PLAN.evaluate.task_classification_inputs(wc.source, wc.modality)),
    output:
        paths.task_classification("{source}", "{modality}"),
    log:
        paths.log("evaluate_task_classification", "source", "modality"),
    benchmark:
        paths.benchmark("evaluate_task_classification", "source", "modality")
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        settings=PLAN.settings_of("evaluate_task_classification"),
    script:
        "../scripts/run_job.py"


rule evaluate_task_classification_table:
    input:
        PLAN.evaluate.task_classification_parts(),
    output:
        csv=paths.EVAL_TASK_CLASSIFICATION.csv,
        md=report(
            paths.EVAL_TASK_CLASSIFICATION.md,
            caption="../report/evaluate_task_classification.rst",
            category="Task-oriented evaluation",
        ),
    log:
        paths.log("evaluate_task_classification_table"),
    benchmark:
        paths.benchmark("evaluate_task_classification_table")
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("evaluate_task_classification_table"),
    script:
        "../scripts/run_job.py"


rule evaluate_strategy_cohort:
    output:
        paths.strategy_cohort("{modality}"),
    log:
        paths.log("evaluate_strategy_cohort", "modality"),
    benchmark:
        paths.benchmark("evaluate_strategy_cohort", "modality")
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        settings=PLAN.settings_of("evaluate_strategy_cohort"),
    script:
        "../scripts/run_job.py"


rule evaluate_strategy:
    input:
        unpack(lambda wc: PLAN.evaluate.strategy_inputs(wc.modality, wc.strategy)),
    output:
        runs=paths.strategy_runs("{modality}", "{strategy}"),
        history=paths.strategy_history("{modality}", "{strategy}"),
    log:
        paths.log("evaluate_strategy", "modality", "strategy"),
    benchmark:
        paths.benchmark("evaluate_strategy", "modality", "strategy")
    wildcard_constraints:
        strategy=PLAN.evaluate.strategies_regex,
    conda:
        CONDA_ENV
    threads: PLAN.evaluate.strategy_threads
    resources:
        mem_mb=2000,
        runtime=lambda wc: PLAN.evaluate.strategy_runtime(wc.strategy),
    params:
        settings=PLAN.settings_of("evaluate_strategy"),
    script:
        "../scripts/run_job.py"


rule evaluate_strategy_tables:
    input:
        runs=PLAN.evaluate.strategy_runs(),
        history=PLAN.evaluate.strategy_histories(),
    output:
        runs=paths.EVAL_STRATEGY_RUNS,
        history=paths.EVAL_STRATEGY_HISTORY,
        summary=paths.EVAL_STRATEGIES.csv,
        claims=paths.EVAL_STRATEGY_CLAIMS,
        md=report(
            paths.EVAL_STRATEGIES.md, caption="../report/evaluate_strategies.rst", category="Augmentation strategies"
        ),
    log:
        paths.log("evaluate_strategy_tables"),
    benchmark:
        paths.benchmark("evaluate_strategy_tables")
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("evaluate_strategy_tables"),
    script:
        "../scripts/run_job.py"


rule evaluate_findings:
    input:
        **PLAN.evaluate.findings_inputs(),
    output:
        report(paths.EVAL_FINDINGS, caption="../report/evaluate_findings.rst", category="Findings"),
    log:
        paths.log("evaluate_findings"),
    benchmark:
        paths.benchmark("evaluate_findings")
    conda:
        CONDA_ENV
    resources:
        mem_mb=500,
    script:
        "../scripts/run_job.py"


# ---- figures: drawn from tables and result folders only (group "figures": the figures target) ----


rule evaluate_figure_grid:
    input:
        unpack(lambda wc: PLAN.evaluate.grid_inputs(wc.source, wc.modality, wc.degradation)),
    output:
        report(
            paths.grid_figure("{source}", "{modality}", "{degradation}"),
            caption="../report/evaluate_grid.rst",
            category="Restoration",
            subcategory="Visual comparison",
            labels={"source": "{source}", "modality": "{modality}", "degradation": "{degradation}"},
        ),
    log:
        paths.log("evaluate_figure_grid", "source", "modality", "degradation"),
    benchmark:
        paths.benchmark("evaluate_figure_grid", "source", "modality", "degradation")
    wildcard_constraints:
        degradation="[a-z][a-z_]*",
    group:
        "figures"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
    params:
        settings=PLAN.settings_of("evaluate_figure_grid"),
    script:
        "../scripts/run_job.py"


rule evaluate_figure_severity:
    input:
        paths.EVAL_RESTORATION.csv,
    output:
        report(
            paths.severity_figure("{source}", "{modality}"),
            caption="../report/evaluate_severity.rst",
            category="Restoration",
            subcategory="Severity curves",
            labels={"source": "{source}", "modality": "{modality}", "figure": "PSNR/SSIM vs severity"},
        ),
    log:
        paths.log("evaluate_figure_severity", "source", "modality"),
    benchmark:
        paths.benchmark("evaluate_figure_severity", "source", "modality")
    group:
        "figures"
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("evaluate_figure_severity"),
    script:
        "../scripts/run_job.py"


rule evaluate_figure_box:
    input:
        paths.RESTORE_METRICS,
    output:
        report(
            paths.box_figure("{source}", "{modality}"),
            caption="../report/evaluate_box.rst",
            category="Restoration",
            subcategory="Box plots",
            labels={"source": "{source}", "modality": "{modality}", "figure": "per-case PSNR"},
        ),
    log:
        paths.log("evaluate_figure_box", "source", "modality"),
    benchmark:
        paths.benchmark("evaluate_figure_box", "source", "modality")
    group:
        "figures"
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("evaluate_figure_box"),
    script:
        "../scripts/run_job.py"


rule evaluate_figure_training:
    input:
        **PLAN.evaluate.training_figure_inputs(),
    output:
        report(paths.EVAL_TRAINING_FIGURE, caption="../report/evaluate_training.rst", category="Training"),
    log:
        paths.log("evaluate_figure_training"),
    benchmark:
        paths.benchmark("evaluate_figure_training")
    group:
        "figures"
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule evaluate_figure_strategies:
    input:
        summary=paths.EVAL_STRATEGIES.csv,
        history=paths.EVAL_STRATEGY_HISTORY,
    output:
        report(
            paths.EVAL_STRATEGIES_FIGURE,
            caption="../report/evaluate_strategies_figure.rst",
            category="Augmentation strategies",
        ),
    log:
        paths.log("evaluate_figure_strategies"),
    benchmark:
        paths.benchmark("evaluate_figure_strategies")
    group:
        "figures"
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule evaluate_figure_dice:
    input:
        paths.EVAL_TASK.csv,
    output:
        report(paths.EVAL_DICE_FIGURE, caption="../report/evaluate_dice.rst", category="Task-oriented evaluation"),
    log:
        paths.log("evaluate_figure_dice"),
    benchmark:
        paths.benchmark("evaluate_figure_dice")
    group:
        "figures"
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


# Every figure; redraw all of them from existing results with
#   snakemake figures --workflow-profile profiles/figures   (forcerun: the "figures" group)
rule figures:
    input:
        PLAN.figures(),
    localrule: True

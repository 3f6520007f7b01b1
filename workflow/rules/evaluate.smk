# Evaluation stage (issue 6): restoration and super-resolution tables, the task-oriented study, the
# augmentation-strategy study, the findings, and every figure of the report. Input functions and the
# plan live in evaluate_common.smk; all logic in mira.evaluate.


rule evaluate_restoration_tables:
    input:
        eval_restore_metrics(),
    output:
        csv=f"{EVAL_TABLES}/restoration.csv",
        md=report(
            f"{EVAL_TABLES}/restoration.md",
            caption="../report/evaluate_restoration.rst",
            category="Restoration",
            subcategory="Evaluation",
        ),
        sr_cases=f"{EVAL_TABLES}/sr_cases.csv",
        sr_summary=f"{EVAL_TABLES}/sr_summary.csv",
        sr_md=report(
            f"{EVAL_TABLES}/sr_study.md",
            caption="../report/evaluate_sr.rst",
            category="Super-resolution",
        ),
    log:
        f"{RESULTS}/logs/evaluate_restoration_tables/evaluate_restoration_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_restoration_tables/evaluate_restoration_tables.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_restoration_tables.py"


rule evaluate_collect_tables:
    input:
        [p for _, p in eval_collect_parts()],
    output:
        report(
            f"{EVAL_TABLES}/earlier_stages.md",
            caption="../report/evaluate_earlier.rst",
            category="Findings",
        ),
    params:
        headings=[h for h, _ in eval_collect_parts()],
    log:
        f"{RESULTS}/logs/evaluate_collect_tables/evaluate_collect_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_collect_tables/evaluate_collect_tables.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/evaluate_collect_tables.py"


rule evaluate_train_unet:
    input:
        train=dataset_dir(SYNTHETIC_2D, "{modality}", "train"),
        val=dataset_dir(SYNTHETIC_2D, "{modality}", "val"),
    output:
        model=f"{RESULTS}/models/unet/{{modality}}/model.pt",
        sidecar=f"{RESULTS}/models/unet/{{modality}}/model.json",
        history=f"{RESULTS}/models/unet/{{modality}}/history.csv",
    params:
        seed=config["seed"],
        settings=lambda wc: {k: v for k, v in EVAL_CFG["segmentation"].items() if k not in ("modalities", "threads")},
    log:
        f"{RESULTS}/logs/evaluate_train_unet/{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_train_unet/{{modality}}.tsv"
    threads: EVAL_CFG["segmentation"]["threads"]
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=lambda wc: 10 + int(EVAL_CFG["segmentation"]["time_budget_s"] // 60),
    script:
        "../scripts/evaluate_train_unet.py"


rule evaluate_task:
    input:
        unpack(eval_task_inputs),
    output:
        f"{EVAL_WORK}/task/{{source}}_{{modality}}.csv",
    log:
        f"{RESULTS}/logs/evaluate_task/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_task/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "../scripts/evaluate_task.py"


rule evaluate_task_tables:
    input:
        dice=[f"{EVAL_WORK}/task/{s}_{m}.csv" for s, m in eval_task_datasets()],
        metrics=eval_restore_metrics(),
    output:
        csv=f"{EVAL_TABLES}/task.csv",
        change=f"{EVAL_TABLES}/task_dice_change.csv",
        labels=f"{EVAL_TABLES}/task_labels.csv",
        md=report(
            f"{EVAL_TABLES}/task.md",
            caption="../report/evaluate_task.rst",
            category="Task-oriented evaluation",
        ),
    log:
        f"{RESULTS}/logs/evaluate_task_tables/evaluate_task_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_task_tables/evaluate_task_tables.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_task_tables.py"


rule evaluate_strategy_cohort:
    output:
        f"{EVAL_WORK}/strategy/{{modality}}/cohort.npz",
    params:
        seed=config["seed"],
        cohort=lambda wc: {k: EVAL_CFG["strategies"][k] for k in
                           ("pool_per_class", "eval_per_class", "image_size", "patch_size", "patch_context")},
    log:
        f"{RESULTS}/logs/evaluate_strategy_cohort/{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_strategy_cohort/{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/evaluate_strategy_cohort.py"


rule evaluate_strategy:
    input:
        unpack(eval_strategy_inputs),
    output:
        runs=f"{EVAL_WORK}/strategy/{{modality}}/{{strategy}}_runs.csv",
        history=f"{EVAL_WORK}/strategy/{{modality}}/{{strategy}}_history.csv",
    wildcard_constraints:
        strategy="none|basic|intensity|advanced|mixup|cutmix|policy|gan",
    params:
        seed=config["seed"],
        study=lambda wc: {k: v for k, v in EVAL_CFG["strategies"].items() if k not in ("modalities", "strategies", "threads")},
    log:
        f"{RESULTS}/logs/evaluate_strategy/{{modality}}_{{strategy}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_strategy/{{modality}}_{{strategy}}.tsv"
    threads: EVAL_CFG["strategies"]["threads"]
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=eval_strategy_runtime,
    script:
        "../scripts/evaluate_strategy.py"


rule evaluate_strategy_tables:
    input:
        runs=eval_strategy_outputs("runs"),
        history=eval_strategy_outputs("history"),
    output:
        runs=f"{EVAL_TABLES}/strategy_runs.csv",
        history=f"{EVAL_TABLES}/strategy_history.csv",
        summary=f"{EVAL_TABLES}/strategies.csv",
        claims=f"{EVAL_TABLES}/strategy_claims.csv",
        md=report(
            f"{EVAL_TABLES}/strategies.md",
            caption="../report/evaluate_strategies.rst",
            category="Augmentation strategies",
        ),
    params:
        confidence=EVAL_CFG["strategies"]["confidence"],
    log:
        f"{RESULTS}/logs/evaluate_strategy_tables/evaluate_strategy_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_strategy_tables/evaluate_strategy_tables.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_strategy_tables.py"


rule evaluate_findings:
    input:
        unpack(
            lambda wc: {
                **({"restoration": f"{EVAL_TABLES}/restoration.csv"} if eval_has_restoration() else {}),
                **({"task": f"{EVAL_TABLES}/task.csv", "change": f"{EVAL_TABLES}/task_dice_change.csv"}
                   if eval_task_datasets() else {}),
                **({"claims": f"{EVAL_TABLES}/strategy_claims.csv"} if eval_strategy_jobs() else {}),
            }
        ),
    output:
        report(
            f"{EVAL_TABLES}/findings.md",
            caption="../report/evaluate_findings.rst",
            category="Findings",
        ),
    log:
        f"{RESULTS}/logs/evaluate_findings/evaluate_findings.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_findings/evaluate_findings.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/evaluate_findings.py"


# ---- figures: drawn from tables and result folders only ----------------------------------------


rule evaluate_figure_grid:
    input:
        unpack(eval_grid_inputs),
    output:
        report(
            f"{EVAL_FIGURES}/{{source}}_{{modality}}/grid_{{degradation}}.png",
            caption="../report/evaluate_grid.rst",
            category="Restoration",
            subcategory="Visual comparison",
            labels={"source": "{source}", "modality": "{modality}", "degradation": "{degradation}"},
        ),
    wildcard_constraints:
        degradation="[a-z][a-z_]*",
    params:
        case=EVAL_CFG["figures"]["case"],
        zoom=EVAL_CFG["figures"]["zoom"],
        diff=EVAL_CFG["figures"]["diff"],
    log:
        f"{RESULTS}/logs/evaluate_figure_grid/{{source}}_{{modality}}_{{degradation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_figure_grid/{{source}}_{{modality}}_{{degradation}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/evaluate_figure_grid.py"


rule evaluate_figure_severity:
    input:
        f"{EVAL_TABLES}/restoration.csv",
    output:
        report(
            f"{EVAL_FIGURES}/{{source}}_{{modality}}/severity.png",
            caption="../report/evaluate_severity.rst",
            category="Restoration",
            subcategory="Severity curves",
            labels={"source": "{source}", "modality": "{modality}", "figure": "PSNR/SSIM vs severity"},
        ),
    log:
        f"{RESULTS}/logs/evaluate_figure_severity/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_figure_severity/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_figure_severity.py"


rule evaluate_figure_box:
    input:
        eval_restore_metrics(),
    output:
        report(
            f"{EVAL_FIGURES}/{{source}}_{{modality}}/box.png",
            caption="../report/evaluate_box.rst",
            category="Restoration",
            subcategory="Box plots",
            labels={"source": "{source}", "modality": "{modality}", "figure": "per-case PSNR"},
        ),
    params:
        level=lambda wc: eval_level("noise"),
        sr_level=lambda wc: eval_level("sr"),
    log:
        f"{RESULTS}/logs/evaluate_figure_box/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_figure_box/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_figure_box.py"


rule evaluate_figure_training:
    input:
        unpack(
            lambda wc: {
                **eval_training_histories(),
                **({"strategy": f"{EVAL_TABLES}/strategy_history.csv"} if eval_strategy_jobs() else {}),
            }
        ),
    output:
        report(
            f"{EVAL_FIGURES}/training.png",
            caption="../report/evaluate_training.rst",
            category="Training",
        ),
    log:
        f"{RESULTS}/logs/evaluate_figure_training/evaluate_figure_training.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_figure_training/evaluate_figure_training.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_figure_training.py"


rule evaluate_figure_strategies:
    input:
        summary=f"{EVAL_TABLES}/strategies.csv",
        history=f"{EVAL_TABLES}/strategy_history.csv",
    output:
        report(
            f"{EVAL_FIGURES}/strategies.png",
            caption="../report/evaluate_strategies_figure.rst",
            category="Augmentation strategies",
        ),
    log:
        f"{RESULTS}/logs/evaluate_figure_strategies/evaluate_figure_strategies.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_figure_strategies/evaluate_figure_strategies.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_figure_strategies.py"


rule evaluate_figure_dice:
    input:
        f"{EVAL_TABLES}/task.csv",
    output:
        report(
            f"{EVAL_FIGURES}/dice_change.png",
            caption="../report/evaluate_dice.rst",
            category="Task-oriented evaluation",
        ),
    log:
        f"{RESULTS}/logs/evaluate_figure_dice/evaluate_figure_dice.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_figure_dice/evaluate_figure_dice.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/evaluate_figure_dice.py"


# Every figure; redraw all of them from existing results with
#   snakemake figures --workflow-profile workflow/profiles/figures   (forcerun = FIGURE_JOBS)
rule figures:
    localrule: True
    input:
        eval_figure_targets(),

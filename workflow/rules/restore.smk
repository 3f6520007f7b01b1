# Restoration stage: classical denoisers and interpolation on the degraded test folders, DnCNN /
# SRCNN / EDSR-style training on the training phantoms, inference, the per-case metrics and the
# targets and models tables. The summary table and comparison grids are the evaluation stage's.
# Jobs: mira.study.jobs.restore.


rule restore_classical:
    input:
        lambda wc: PLAN.restore.paired(wc.source, wc.modality, wc.split, wc.degradation, wc.level),
    output:
        [
            directory(paths.restored("{source}", "{modality}", "{split}", "{degradation}", "{level}", m))
            for m in PLAN.restore.classical_methods
        ],
    log:
        paths.log("restore_classical", "source", "modality", "split", "degradation", "level"),
    benchmark:
        paths.benchmark("restore_classical", "source", "modality", "split", "degradation", "level")
    wildcard_constraints:
        degradation="[a-z][a-z_]*",
        level="mild|moderate|severe",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=PLAN.settings_of("restore_classical"),
    script:
        "../scripts/run_job.py"


rule restore_interpolation:
    input:
        lambda wc: PLAN.restore.paired(wc.source, wc.modality, wc.split, PLAN.restore.sr_degradation, wc.level),
    output:
        [
            directory(paths.restored("{source}", "{modality}", "{split}", PLAN.restore.sr_degradation, "{level}", m))
            for m in PLAN.restore.interpolation_methods
        ],
    log:
        paths.log("restore_interpolation", "source", "modality", "split", "level"),
    benchmark:
        paths.benchmark("restore_interpolation", "source", "modality", "split", "level")
    wildcard_constraints:
        level="x[0-9]+",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PLAN.settings_of("restore_interpolation"),
    script:
        "../scripts/run_job.py"


rule train_restorer:
    input:
        unpack(lambda wc: PLAN.restore.training_inputs(wc.model, wc.target)),
    output:
        model=paths.network_model("{model}", "{target}"),
        sidecar=paths.network_sidecar("{model}", "{target}"),
        history=paths.network_history("{model}", "{target}"),
    log:
        paths.log("train_restorer", "model", "target"),
    benchmark:
        paths.benchmark("train_restorer", "model", "target")
    wildcard_constraints:
        model=PLAN.restore.networks_regex,
        target=PLAN.restore.targets_regex,
    conda:
        CONDA_ENV
    threads: lambda wc: PLAN.restore.threads(wc.model)
    resources:
        mem_mb=4000,
        runtime=lambda wc: PLAN.restore.runtime(wc.model),
    params:
        settings=PLAN.settings_of("train_restorer"),
    script:
        "../scripts/run_job.py"


rule restore_deep:
    input:
        pairs=lambda wc: PLAN.restore.paired(wc.source, wc.modality, wc.split, wc.degradation, wc.level),
        model=lambda wc: PLAN.restore.model_for(wc.method, wc.modality, wc.level),
    output:
        directory(paths.restored("{source}", "{modality}", "{split}", "{degradation}", "{level}", "{method}")),
    log:
        paths.log("restore_deep", "source", "modality", "split", "degradation", "level", "method"),
    benchmark:
        paths.benchmark("restore_deep", "source", "modality", "split", "degradation", "level", "method")
    wildcard_constraints:
        method=PLAN.restore.networks_regex,
        degradation="[a-z][a-z_]*",
        level="mild|moderate|severe|x[0-9]+",
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        settings=PLAN.settings_of("restore_deep"),
    script:
        "../scripts/run_job.py"


rule restore_tables:
    input:
        restored=PLAN.restore.all_restored(),
        sidecars=[paths.network_sidecar(a, t) for a, t in PLAN.restore.models()],
    output:
        metrics=paths.RESTORE_METRICS,
        targets=paths.RESTORE_TARGETS.csv,
        targets_md=report(paths.RESTORE_TARGETS.md, caption="../report/restore_targets.rst", category="Restoration"),
        models=paths.RESTORE_MODELS.csv,
        models_md=report(paths.RESTORE_MODELS.md, caption="../report/restore_models.rst", category="Restoration"),
    log:
        paths.log("restore_tables"),
    benchmark:
        paths.benchmark("restore_tables")
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
    params:
        settings=PLAN.settings_of("restore_tables"),
    script:
        "../scripts/run_job.py"


rule restore_training_figure:
    input:
        [paths.network_history(a, t) for a, t in PLAN.restore.models()],
    output:
        report(paths.RESTORE_TRAINING_FIGURE, caption="../report/restore_training.rst", category="Restoration"),
    log:
        paths.log("restore_training_figure"),
    benchmark:
        paths.benchmark("restore_training_figure")
    group:
        "figures"
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"

# Restoration stage (issue 5): classical denoisers and interpolation on the degraded test folders,
# DnCNN / SRCNN / EDSR-style training on the training phantoms, inference, tables and figures.
# Functions and the job plan (RESTORE) live in restore_common.smk; all logic in mira.restore.


rule restore_classical:
    input:
        restore_paired_input,
    output:
        [
            directory(RESTORE.restored("{source}", "{modality}", "{split}", "{degradation}", "{level}", m))
            for m in RESTORE.classical_methods
        ],
    wildcard_constraints:
        degradation="[a-z][a-z_]*",
        level="mild|moderate|severe",
    params:
        methods=RESTORE.classical_methods,
        noise_model=config["restore"]["noise_model"],
        method_params=config["restore"]["denoise"]["params"],
        sigma_mode=config["restore"]["denoise"]["sigma"],
    log:
        f"{RESULTS}/logs/restore_classical/{{source}}_{{modality}}_{{split}}_{{degradation}}_{{level}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/restore_classical/{{source}}_{{modality}}_{{split}}_{{degradation}}_{{level}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/restore_methods.py"


rule restore_interpolation:
    input:
        restore_sr_input,
    output:
        [
            directory(RESTORE.restored("{source}", "{modality}", "{split}", "downsample", "{level}", m))
            for m in RESTORE.interpolation_methods
        ],
    wildcard_constraints:
        level="x[0-9]+",
    params:
        methods=RESTORE.interpolation_methods,
        noise_model=True,
        method_params={},
        sigma_mode="estimate",
    log:
        f"{RESULTS}/logs/restore_interpolation/{{source}}_{{modality}}_{{split}}_{{level}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/restore_interpolation/{{source}}_{{modality}}_{{split}}_{{level}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/restore_methods.py"


rule train_restorer:
    input:
        unpack(restore_training_inputs),
    output:
        model=RESTORE.model("{model}", "{target}"),
        sidecar=RESTORE.sidecar("{model}", "{target}"),
        history=RESTORE.history("{model}", "{target}"),
    wildcard_constraints:
        model="dncnn|srcnn|edsr",
        target="ct|mri|xray|us|x[0-9]+",
    params:
        train=restore_train_params,
        seed=config["seed"],
        train_noise=config["restore"]["train_noise"],
    log:
        f"{RESULTS}/logs/train_restorer/{{model}}_{{target}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_restorer/{{model}}_{{target}}.tsv"
    threads: restore_train_threads
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=restore_train_runtime,
    script:
        "../scripts/train_restorer.py"


rule restore_deep:
    input:
        pairs=restore_paired_input,
        model=restore_model_input,
    output:
        directory(RESTORE.restored("{source}", "{modality}", "{split}", "{degradation}", "{level}", "{method}")),
    wildcard_constraints:
        method="dncnn|srcnn|edsr",
        degradation="[a-z][a-z_]*",
        level="mild|moderate|severe|x[0-9]+",
    log:
        f"{RESULTS}/logs/restore_deep/{{source}}_{{modality}}_{{split}}_{{degradation}}_{{level}}_{{method}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/restore_deep/{{source}}_{{modality}}_{{split}}_{{degradation}}_{{level}}_{{method}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=10,
    script:
        "../scripts/restore_deep.py"


rule restore_tables:
    input:
        restored=RESTORE.all_restored(),
        sidecars=[RESTORE.sidecar(a, t) for a, t in RESTORE.models()],
    output:
        metrics=RESTORE.tables()["metrics"],
        summary=RESTORE.tables()["summary"],
        summary_md=report(
            RESTORE.tables()["summary_md"],
            caption="../report/restore_summary.rst",
            category="Restoration",
        ),
        targets=RESTORE.tables()["targets"],
        targets_md=report(
            RESTORE.tables()["targets_md"],
            caption="../report/restore_targets.rst",
            category="Restoration",
        ),
        models=RESTORE.tables()["models"],
        models_md=report(
            RESTORE.tables()["models_md"],
            caption="../report/restore_models.rst",
            category="Restoration",
        ),
    params:
        level=config["restore"]["benchmark_level"],
    log:
        f"{RESULTS}/logs/restore_tables/restore_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/restore_tables/restore_tables.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/restore_tables.py"


rule restore_figure:
    input:
        unpack(lambda wc: RESTORE.figure_inputs(wc.source, wc.modality)),
    output:
        report(
            RESTORE.figure("{source}", "{modality}"),
            caption="../report/restore_figure.rst",
            category="Restoration",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}", "figure": "restoration grid"},
        ),
    params:
        case=config["restore"]["figure_case"],
    log:
        f"{RESULTS}/logs/restore_figure/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/restore_figure/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/restore_figure.py"


rule restore_training_figure:
    input:
        [RESTORE.history(a, t) for a, t in RESTORE.models()],
    output:
        report(
            RESTORE.training_figure(),
            caption="../report/restore_training.rst",
            category="Restoration",
        ),
    log:
        f"{RESULTS}/logs/restore_training_figure/restore_training_figure.log",
    benchmark:
        f"{RESULTS}/benchmarks/restore_training_figure/restore_training_figure.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/restore_training_figure.py"

# Degradation stage: physics-based degradations per {modality, degradation, level} written as paired
# clean/degraded datasets (contract: mira/degrade/pairs.py), super-resolution inputs per scale
# (degradation 'downsample', levels x2, x3, ...), the severity grading table and a figure grid per
# modality. Jobs: mira.study.jobs.degrade.


rule degrade:
    input:
        lambda wc: paths.dataset(wc.source, wc.modality, wc.split),
    output:
        directory(paths.degraded("{source}", "{modality}", "{split}", "{degradation}", "{level}")),
    log:
        paths.log("degrade", "source", "modality", "split", "degradation", "level"),
    benchmark:
        paths.benchmark("degrade", "source", "modality", "split", "degradation", "level")
    wildcard_constraints:
        degradation="[a-z][a-z_]*",
        level="mild|moderate|severe|x[0-9]+",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PLAN.settings_of("degrade"),
    script:
        "../scripts/run_job.py"


rule degrade_grading_table:
    input:
        PLAN.degrade.all_folders(),
    output:
        csv=paths.DEGRADE_GRADING.csv,
        summary=paths.DEGRADE_GRADING_SUMMARY,
        md=report(paths.DEGRADE_GRADING.md, caption="../report/degrade_grading.rst", category="Degradation"),
    log:
        paths.log("degrade_grading_table"),
    benchmark:
        paths.benchmark("degrade_grading_table")
    conda:
        CONDA_ENV
    params:
        settings=PLAN.settings_of("degrade_grading_table"),
    script:
        "../scripts/run_job.py"


rule degrade_figure:
    input:
        lambda wc: PLAN.degrade.figure_inputs(wc.source, wc.modality),
    output:
        report(
            paths.degrade_figure("{source}", "{modality}"),
            caption="../report/degrade_figure.rst",
            category="Degradation",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}", "figure": "degradation grid"},
        ),
    log:
        paths.log("degrade_figure", "source", "modality"),
    benchmark:
        paths.benchmark("degrade_figure", "source", "modality")
    group:
        "figures"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PLAN.settings_of("degrade_figure"),
    script:
        "../scripts/run_job.py"

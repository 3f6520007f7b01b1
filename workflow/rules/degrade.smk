# Degradation stage (issue 4): physics-based degradations per {modality, degradation, level} written
# as paired clean/degraded datasets, super-resolution inputs per scale (degradation 'downsample',
# levels x2, x3, ...), the severity grading table and a figure grid per modality. All logic lives in
# mira.degrade; the paired-folder contract is in mira/degrade/pairs.py. Later stages find the folders
# with DEGRADE.folder(source, modality, split, degradation, level) / DEGRADE.folders(...).
from mira.degrade.plan import DegradePlan

try:
    DEGRADE = DegradePlan(config, datasets(), RESULTS)
except ConfigError as _exc:
    sys.exit(f"mira: config error: {_exc}")

register_targets(DEGRADE.targets)


rule degrade:
    input:
        lambda wc: dataset_dir(wc.source, wc.modality, wc.split),
    output:
        directory(DEGRADE.folder("{source}", "{modality}", "{split}", "{degradation}", "{level}")),
    wildcard_constraints:
        degradation="[a-z][a-z_]*",
        level="mild|moderate|severe|x[0-9]+",
    params:
        seed=config["seed"],
        overrides=config["degrade"]["parameters"],
    log:
        f"{RESULTS}/logs/degrade/{{source}}_{{modality}}_{{split}}_{{degradation}}_{{level}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/degrade/{{source}}_{{modality}}_{{split}}_{{degradation}}_{{level}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/degrade.py"


rule degrade_grading_table:
    input:
        DEGRADE.all_folders(),
    output:
        csv=DEGRADE.tables()["csv"],
        summary=DEGRADE.tables()["summary"],
        md=report(
            DEGRADE.tables()["md"],
            caption="../report/degrade_grading.rst",
            category="Degradation",
        ),
    log:
        f"{RESULTS}/logs/degrade_grading_table/degrade_grading_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/degrade_grading_table/degrade_grading_table.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/degrade_grading_table.py"


rule degrade_figure:
    input:
        lambda wc: DEGRADE.figure_inputs(wc.source, wc.modality),
    output:
        report(
            DEGRADE.figure("{source}", "{modality}"),
            caption="../report/degrade_figure.rst",
            category="Degradation",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}", "figure": "degradation grid"},
        ),
    params:
        case=config["degrade"]["figure_case"],
    log:
        f"{RESULTS}/logs/degrade_figure/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/degrade_figure/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/degrade_figure.py"

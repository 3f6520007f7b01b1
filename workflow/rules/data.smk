# Data stage: synthetic phantoms and real-image ingestion -> dataset folders; overview figures and
# the dataset table. Input functions live in common.smk.


rule synthesize:
    output:
        directory(f"{RESULTS}/data/{{source}}/{{modality}}/{{split}}"),
    wildcard_constraints:
        source=f"{SYNTHETIC_2D}|{SYNTHETIC_3D}",
    params:
        shape=synthesis_params,
        seed=config["seed"],
        lesion_fraction=config["synthesis"]["lesion_fraction"],
        mri_contrast=config["synthesis"]["mri_contrast"],
        tissues=lambda wc: config["synthesis"]["tissues"].get(wc.modality, {}),
    log:
        f"{RESULTS}/logs/synthesize/{{source}}_{{modality}}_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize/{{source}}_{{modality}}_{{split}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/synthesize.py"


rule ingest:
    output:
        train=directory(f"{RESULTS}/data/{{source}}/{{modality}}/train"),
        val=directory(f"{RESULTS}/data/{{source}}/{{modality}}/val"),
        test=directory(f"{RESULTS}/data/{{source}}/{{modality}}/test"),
        report=f"{RESULTS}/data/{{source}}/{{modality}}/ingest_report.csv",
    wildcard_constraints:
        source=input_names_regex(),
    params:
        spec=lambda wc: config["inputs"][wc.source],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/ingest/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/ingest.py"


rule ingest_summary:
    input:
        ingest_reports(),
    output:
        csv=f"{RESULTS}/tables/ingest.csv",
        md=report(
            f"{RESULTS}/tables/ingest.md",
            caption="../report/ingest.rst",
            category="Data",
        ),
    log:
        f"{RESULTS}/logs/ingest_summary/ingest_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_summary/ingest_summary.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/ingest_summary.py"


rule dataset_stats:
    input:
        lambda wc: dataset_dirs(wc.source, wc.modality),
    output:
        f"{RESULTS}/tables/datasets/{{source}}_{{modality}}.csv",
    log:
        f"{RESULTS}/logs/dataset_stats/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/dataset_stats/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/dataset_stats.py"


rule dataset_table:
    input:
        [f"{RESULTS}/tables/datasets/{s}_{m}.csv" for s, m in datasets()],
    output:
        csv=f"{RESULTS}/tables/datasets.csv",
        md=report(
            f"{RESULTS}/tables/datasets.md",
            caption="../report/datasets.rst",
            category="Data",
        ),
    log:
        f"{RESULTS}/logs/dataset_table/dataset_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/dataset_table/dataset_table.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/dataset_table.py"


rule overview_figure:
    input:
        lambda wc: dataset_dirs(wc.source, wc.modality),
    output:
        report(
            f"{RESULTS}/figures/overview/{{source}}_{{modality}}.png",
            caption="../report/overview.rst",
            category="Data",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}"},
        ),
    params:
        n_cases=config["overview"]["cases"],
    log:
        f"{RESULTS}/logs/overview_figure/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/overview_figure/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/overview_figure.py"

# Data stage: synthetic phantoms and real-image ingestion -> dataset folders; overview figures and
# the dataset table. Jobs: mira.study.jobs.data.


rule synthesize:
    output:
        directory(paths.dataset("{source}", "{modality}", "{split}")),
    log:
        paths.log("synthesize", "source", "modality", "split"),
    benchmark:
        paths.benchmark("synthesize", "source", "modality", "split")
    wildcard_constraints:
        source=PLAN.data.synthetic_sources_regex,
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        settings=PLAN.settings_of("synthesize"),
    script:
        "../scripts/run_job.py"


rule ingest:
    output:
        train=directory(paths.dataset("{source}", "{modality}", "train")),
        val=directory(paths.dataset("{source}", "{modality}", "val")),
        test=directory(paths.dataset("{source}", "{modality}", "test")),
        report=paths.ingest_report("{source}", "{modality}"),
    log:
        paths.log("ingest", "source", "modality"),
    benchmark:
        paths.benchmark("ingest", "source", "modality")
    wildcard_constraints:
        source=PLAN.data.input_sources_regex,
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=PLAN.settings_of("ingest"),
    script:
        "../scripts/run_job.py"


rule ingest_summary:
    input:
        PLAN.data.ingest_reports(),
    output:
        csv=paths.INGEST.csv,
        md=report(paths.INGEST.md, caption="../report/ingest.rst", category="Data"),
    log:
        paths.log("ingest_summary"),
    benchmark:
        paths.benchmark("ingest_summary")
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule dataset_stats:
    input:
        lambda wc: PLAN.data.splits(wc.source, wc.modality),
    output:
        paths.dataset_stats("{source}", "{modality}"),
    log:
        paths.log("dataset_stats", "source", "modality"),
    benchmark:
        paths.benchmark("dataset_stats", "source", "modality")
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PLAN.settings_of("dataset_stats"),
    script:
        "../scripts/run_job.py"


rule dataset_table:
    input:
        PLAN.data.dataset_stats(),
    output:
        csv=paths.DATASETS.csv,
        md=report(paths.DATASETS.md, caption="../report/datasets.rst", category="Data"),
    log:
        paths.log("dataset_table"),
    benchmark:
        paths.benchmark("dataset_table")
    conda:
        CONDA_ENV
    script:
        "../scripts/run_job.py"


rule overview_figure:
    input:
        lambda wc: PLAN.data.splits(wc.source, wc.modality),
    output:
        report(
            paths.overview_figure("{source}", "{modality}"),
            caption="../report/overview.rst",
            category="Data",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}"},
        ),
    log:
        paths.log("overview_figure", "source", "modality"),
    benchmark:
        paths.benchmark("overview_figure", "source", "modality")
    group:
        "figures"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PLAN.settings_of("overview_figure"),
    script:
        "../scripts/run_job.py"

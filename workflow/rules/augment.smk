# Augmentation stage (issue 3): demonstration figures and summary tables, constraint checks,
# policy search and DCGAN synthesis. All logic lives in mira.augment.pipeline.

# (source, modality) pairs of the demo/summary/constraint rules: 2D phantoms, and 3D if enabled.
AUGMENT_DATASETS = [(SYNTHETIC_2D, m) for m in config["modalities"]] + [
    (SYNTHETIC_3D, m)
    for m in config["synthesis"]["volumes"]["modalities"]
    if m in config["modalities"] and config["augment"]["volumes"]
]
# Modalities of the policy search and the GAN, limited to the study's modalities.
AUGMENT_POLICY_MODALITIES = [m for m in config["augment"]["policy"]["modalities"] if m in config["modalities"]]
AUGMENT_GAN_MODALITIES = [m for m in config["augment"]["gan"]["modalities"] if m in config["modalities"]]
AUGMENT_TABLES = f"{RESULTS}/tables/augment"

register_targets(
    lambda: [f"{RESULTS}/figures/augment/{s}_{m}_demo.png" for s, m in AUGMENT_DATASETS]
    + [f"{RESULTS}/tables/augment_summary.md", f"{RESULTS}/tables/augment_constraints.md"]
    + ([f"{RESULTS}/tables/augment_policy.md"] if AUGMENT_POLICY_MODALITIES else [])
    + [f"{RESULTS}/figures/augment/gan_{m}.png" for m in AUGMENT_GAN_MODALITIES]
    + ([f"{RESULTS}/tables/augment_gan.md"] if AUGMENT_GAN_MODALITIES else [])
)


rule augment_demo:
    input:
        lambda wc: dataset_dir(wc.source, wc.modality, "train"),
    output:
        figure=report(
            f"{RESULTS}/figures/augment/{{source}}_{{modality}}_demo.png",
            caption="../report/augment_demo.rst",
            category="Augmentation",
            subcategory="{source}",
            labels={"source": "{source}", "modality": "{modality}", "figure": "demonstration"},
        ),
        csv=f"{AUGMENT_TABLES}/summary/{{source}}_{{modality}}.csv",
        md=f"{AUGMENT_TABLES}/summary/{{source}}_{{modality}}.md",
    wildcard_constraints:
        source=f"{SYNTHETIC_2D}|{SYNTHETIC_3D}",
    params:
        seed=config["seed"],
        profile=lambda wc: config["profiles"].get(wc.modality, {}),
        demo=config["augment"]["demo"],
    log:
        f"{RESULTS}/logs/augment_demo/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_demo/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/augment_demo.py"


rule augment_summary_table:
    input:
        [f"{AUGMENT_TABLES}/summary/{s}_{m}.csv" for s, m in AUGMENT_DATASETS],
    output:
        csv=f"{RESULTS}/tables/augment_summary.csv",
        md=report(
            f"{RESULTS}/tables/augment_summary.md",
            caption="../report/augment_summary.rst",
            category="Augmentation",
        ),
    log:
        f"{RESULTS}/logs/augment_summary_table/augment_summary_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_summary_table/augment_summary_table.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/augment_summary_table.py"


rule augment_constraints:
    input:
        lambda wc: dataset_dir(wc.source, wc.modality, "train"),
    output:
        csv=f"{AUGMENT_TABLES}/constraints/{{source}}_{{modality}}.csv",
        draws=f"{AUGMENT_TABLES}/constraints/{{source}}_{{modality}}_draws.csv",
        md=f"{AUGMENT_TABLES}/constraints/{{source}}_{{modality}}.md",
    wildcard_constraints:
        source=f"{SYNTHETIC_2D}|{SYNTHETIC_3D}",
    params:
        seed=config["seed"],
        profile=lambda wc: config["profiles"].get(wc.modality, {}),
        constraints=config["augment"]["constraints"],
    log:
        f"{RESULTS}/logs/augment_constraints/{{source}}_{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_constraints/{{source}}_{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../scripts/augment_constraints.py"


rule augment_constraints_table:
    input:
        [f"{AUGMENT_TABLES}/constraints/{s}_{m}.csv" for s, m in AUGMENT_DATASETS],
    output:
        csv=f"{RESULTS}/tables/augment_constraints.csv",
        md=report(
            f"{RESULTS}/tables/augment_constraints.md",
            caption="../report/augment_constraints.rst",
            category="Augmentation",
        ),
    params:
        tolerances=config["augment"]["constraints"]["tolerances"],
    log:
        f"{RESULTS}/logs/augment_constraints_table/augment_constraints_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_constraints_table/augment_constraints_table.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/augment_constraints_table.py"


rule augment_policy:
    input:
        train=dataset_dir(SYNTHETIC_2D, "{modality}", "train"),
        val=dataset_dir(SYNTHETIC_2D, "{modality}", "val"),
    output:
        json=f"{RESULTS}/augment/policy/{{modality}}.json",
        csv=f"{RESULTS}/tables/augment/policy/{{modality}}.csv",
    params:
        seed=config["seed"],
        profile=lambda wc: config["profiles"].get(wc.modality, {}),
        policy=config["augment"]["policy"],
    log:
        f"{RESULTS}/logs/augment_policy/{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_policy/{{modality}}.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/augment_policy.py"


rule augment_policy_table:
    input:
        [f"{RESULTS}/tables/augment/policy/{m}.csv" for m in AUGMENT_POLICY_MODALITIES],
    output:
        csv=f"{RESULTS}/tables/augment_policy.csv",
        md=report(
            f"{RESULTS}/tables/augment_policy.md",
            caption="../report/augment_policy.rst",
            category="Augmentation",
        ),
    log:
        f"{RESULTS}/logs/augment_policy_table/augment_policy_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_policy_table/augment_policy_table.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/augment_policy_table.py"


rule augment_gan:
    input:
        train=dataset_dir(SYNTHETIC_2D, "{modality}", "train"),
        val=dataset_dir(SYNTHETIC_2D, "{modality}", "val"),
        test=dataset_dir(SYNTHETIC_2D, "{modality}", "test"),
    output:
        model=f"{RESULTS}/models/gan/{{modality}}/generator.pt",
        sidecar=f"{RESULTS}/models/gan/{{modality}}/generator.json",
        samples=directory(f"{RESULTS}/augment/gan/{{modality}}/samples"),
        figure=report(
            f"{RESULTS}/figures/augment/gan_{{modality}}.png",
            caption="../report/augment_gan.rst",
            category="Augmentation",
            subcategory="GAN",
            labels={"modality": "{modality}", "figure": "GAN samples"},
        ),
    params:
        seed=config["seed"],
        profile=lambda wc: config["profiles"].get(wc.modality, {}),
        gan=config["augment"]["gan"],
    log:
        f"{RESULTS}/logs/augment_gan/{{modality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_gan/{{modality}}.tsv"
    threads: config["augment"]["gan"]["threads"]
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=lambda wc: 10 + int(config["augment"]["gan"]["time_budget_s"] // 60),
    script:
        "../scripts/augment_gan.py"


rule augment_gan_table:
    input:
        [f"{RESULTS}/models/gan/{m}/generator.json" for m in AUGMENT_GAN_MODALITIES],
    output:
        csv=f"{RESULTS}/tables/augment_gan.csv",
        md=report(
            f"{RESULTS}/tables/augment_gan.md",
            caption="../report/augment_gan_table.rst",
            category="Augmentation",
        ),
    log:
        f"{RESULTS}/logs/augment_gan_table/augment_gan_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_gan_table/augment_gan_table.tsv"
    threads: 1
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/augment_gan_table.py"

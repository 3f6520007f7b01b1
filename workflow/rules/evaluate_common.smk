# Evaluation stage (issue 6): plan, paths and input functions only; the jobs are in evaluate.smk.
# Include after restore.smk (needs RESTORE, DEGRADE and the augment lists) and before evaluate.smk.
# All logic lives in mira.evaluate.
EVAL_CFG = config["evaluate"]
EVAL_TABLES = f"{RESULTS}/tables/evaluation"
EVAL_FIGURES = f"{RESULTS}/figures/evaluate"
EVAL_WORK = f"{RESULTS}/evaluate"
EVAL_SPLIT = "test"
EVAL_STRATEGY_MODALITIES = [m for m in EVAL_CFG["strategies"]["modalities"] if m in config["modalities"]]
# Which stage writes each figure without recomputing anything upstream (the figures target forces these).
FIGURE_JOBS = [
    "overview_figure", "degrade_figure", "restore_figure", "restore_training_figure", "evaluate_figure_grid",
    "evaluate_figure_severity", "evaluate_figure_box", "evaluate_figure_training", "evaluate_figure_strategies",
    "evaluate_figure_dice",
]


def eval_restore_metrics():
    """The restoration stage's tidy per-case metric table."""
    return RESTORE.tables()["metrics"]


def eval_datasets():
    """(source, modality) pairs with restored test folders."""
    return [(s, m) for s, m in RESTORE.datasets if eval_restored(s, m)]


def eval_restored(source, modality):
    """Every restored folder of one (source, modality) (path .../<source>/<modality>/<split>/<deg>/<level>/<method>)."""
    return [f for f in RESTORE.all_restored() if f.split("/")[-6:-4] == [source, modality]]


def eval_task_datasets():
    """(source, modality) of the task study: the labelled 2D phantoms that were restored."""
    mods = EVAL_CFG["segmentation"]["modalities"]
    return [(s, m) for s, m in eval_datasets() if s == SYNTHETIC_2D and m in mods]


def eval_level(kind):
    """The level drawn in grids and box plots: kind 'noise' (restored level) or 'sr' (scale)."""
    if kind == "sr":
        lv = EVAL_CFG["figures"]["sr_level"]
        scales = [f"x{s}" for s in RESTORE.scales]
        return lv if lv in scales else (scales[0] if scales else lv)
    lv = EVAL_CFG["figures"]["level"]
    levels = RESTORE.levels
    return lv if lv in levels else (levels[len(levels) // 2] if levels else lv)


def eval_grid_rows(source, modality):
    """(degradation, level, methods) drawn in the comparison grids of one (source, modality)."""
    rows = []
    if RESTORE.levels:
        lv = eval_level("noise")
        for d in RESTORE.degradations(modality):
            rows.append((d, lv, RESTORE.classical_methods + RESTORE.denoise_deep))
    if RESTORE.scales:
        rows.append(("downsample", eval_level("sr"), RESTORE.sr_methods_for(modality)))
    return rows


def eval_grid_inputs(wildcards):
    """Paired folder and restored folders of one comparison grid."""
    for d, lv, methods in eval_grid_rows(wildcards.source, wildcards.modality):
        if d == wildcards.degradation:
            return {
                "paired": RESTORE.paired(wildcards.source, wildcards.modality, EVAL_SPLIT, d, lv),
                "restored": [RESTORE.restored(wildcards.source, wildcards.modality, EVAL_SPLIT, d, lv, m) for m in methods],
            }
    raise ValueError(f"no comparison grid for {wildcards.source} {wildcards.modality} {wildcards.degradation}")


def eval_unet_dir(modality):
    return f"{RESULTS}/models/unet/{modality}"


def eval_task_inputs(wildcards):
    """U-Net checkpoint, clean test split and every restored folder of one (source, modality)."""
    return {
        "model": f"{eval_unet_dir(wildcards.modality)}/model.pt",
        "sidecar": f"{eval_unet_dir(wildcards.modality)}/model.json",
        "clean": dataset_dir(wildcards.source, wildcards.modality, EVAL_SPLIT),
        "restored": eval_restored(wildcards.source, wildcards.modality),
    }


def eval_strategy_jobs():
    """(modality, strategy) of the strategy study; policy/gan only where the augment stage made them."""
    jobs = []
    wanted = EVAL_CFG["strategies"]["strategies"]
    for m in EVAL_STRATEGY_MODALITIES:
        for s in ["none"] + [s for s in wanted if s != "none"]:
            if s == "policy" and m not in AUGMENT_POLICY_MODALITIES:
                continue
            if s == "gan" and m not in AUGMENT_GAN_MODALITIES:
                continue
            jobs.append((m, s))
    return jobs


def eval_strategy_inputs(wildcards):
    """Cohort, plus the searched policy or the GAN samples when the strategy needs them."""
    out = {"cohort": f"{EVAL_WORK}/strategy/{wildcards.modality}/cohort.npz"}
    if wildcards.strategy == "policy":
        out["policy"] = f"{RESULTS}/augment/policy/{wildcards.modality}.json"
    if wildcards.strategy == "gan":
        out["gan"] = f"{RESULTS}/augment/gan/{wildcards.modality}/samples"
    return out


def eval_strategy_outputs(kind):
    return [f"{EVAL_WORK}/strategy/{m}/{s}_{kind}.csv" for m, s in eval_strategy_jobs()]


def eval_strategy_runtime(wildcards):
    """Minutes of one strategy job: a rough 10 s per run, plus slack."""
    st = EVAL_CFG["strategies"]
    runs = len(st["sizes"]) * st["seeds"] * (2 if wildcards.strategy == "gan" else 1)
    return 10 + int(runs * st["training"]["steps"] / 500 * 10 / 60)


def eval_training_histories():
    """Histories of every network: restoration models and the task study's U-Nets."""
    restore = [RESTORE.history(a, t) for a, t in RESTORE.models()]
    unet = [f"{eval_unet_dir(m)}/history.csv" for _, m in eval_task_datasets()]
    return {"restore": restore, "unet": unet}


def eval_collect_parts():
    """(heading, Markdown table) of the earlier stages collected into one document."""
    parts = []
    if DEGRADE.all_folders():
        parts.append(("Degradation severity grading", DEGRADE.tables()["md"]))
    parts.append(("Augmentation constraint checks", f"{RESULTS}/tables/augment_constraints.md"))
    parts.append(("Augmentation summary", f"{RESULTS}/tables/augment_summary.md"))
    if AUGMENT_POLICY_MODALITIES:
        parts.append(("Augmentation policy search", f"{RESULTS}/tables/augment_policy.md"))
    if AUGMENT_GAN_MODALITIES:
        parts.append(("GAN synthesis", f"{RESULTS}/tables/augment_gan.md"))
    if RESTORE.all_restored():
        parts.append(("Restoration targets", RESTORE.tables()["targets_md"]))
        parts.append(("Restoration models", RESTORE.tables()["models_md"]))
    return parts


def eval_has_restoration():
    return bool(RESTORE.all_restored())


def eval_figure_targets():
    """Every figure the figures target redraws (this stage's and the other stages' standalone figures)."""
    out = [f"{RESULTS}/figures/overview/{s}_{m}.png" for s, m in datasets()]
    out += [DEGRADE.figure(s, m) for s, m in DEGRADE.datasets if DEGRADE.figure_inputs(s, m)]
    out += [RESTORE.figure(s, m) for s, m in RESTORE.datasets if RESTORE.figure_inputs(s, m)["restored"]]
    if RESTORE.models():
        out.append(RESTORE.training_figure())
    for s, m in eval_datasets():
        out += [f"{EVAL_FIGURES}/{s}_{m}/grid_{d}.png" for d, _, _ in eval_grid_rows(s, m)]
        out += [f"{EVAL_FIGURES}/{s}_{m}/severity.png", f"{EVAL_FIGURES}/{s}_{m}/box.png"]
    out.append(f"{EVAL_FIGURES}/training.png")
    if eval_strategy_jobs():
        out.append(f"{EVAL_FIGURES}/strategies.png")
    if eval_task_datasets():
        out.append(f"{EVAL_FIGURES}/dice_change.png")
    return out


def evaluate_targets():
    """Final outputs of the evaluation stage."""
    out = [f"{EVAL_TABLES}/findings.md", f"{EVAL_TABLES}/earlier_stages.md"]
    if eval_has_restoration():
        out += [f"{EVAL_TABLES}/restoration.md", f"{EVAL_TABLES}/sr_study.md"]
    if eval_task_datasets():
        out.append(f"{EVAL_TABLES}/task.md")
    if eval_strategy_jobs():
        out.append(f"{EVAL_TABLES}/strategies.md")
    return out + eval_figure_targets()


register_targets(evaluate_targets)

# Restoration stage (issue 5): the plan and target function only; the rules are in restore.smk.
# Include after degrade.smk (it needs DEGRADE) and before restore.smk. All logic lives in
# mira.restore; the job plan and every output path come from mira.restore.plan.RestorePlan.
from mira.restore.plan import RestorePlan

try:
    RESTORE = RestorePlan(config, DEGRADE, datasets(), RESULTS)
except ConfigError as _exc:
    sys.exit(f"mira: config error: {_exc}")


def restore_targets():
    """Final outputs of the restoration stage: tables, targets, figures."""
    return RESTORE.targets()


def restore_training_inputs(wildcards):
    """Training and validation dataset folders of one network (training split only)."""
    return RESTORE.training_inputs(wildcards.model, wildcards.target)


def restore_model_input(wildcards):
    """The checkpoint a deep method applies to one paired folder."""
    return RESTORE.model_for(wildcards.method, wildcards.modality, wildcards.level)


def restore_paired_input(wildcards):
    """The degradation stage's paired folder a restoration job reads."""
    return RESTORE.paired(wildcards.source, wildcards.modality, wildcards.split, wildcards.degradation, wildcards.level)


def restore_sr_input(wildcards):
    """The downsampled (super-resolution input) paired folder of one scale."""
    return RESTORE.paired(wildcards.source, wildcards.modality, wildcards.split, "downsample", wildcards.level)


def restore_train_params(wildcards):
    """Architecture parameters, training settings and scale of one network."""
    arch, settings = RESTORE.arch_settings(wildcards.model)
    scale = int(wildcards.target[1:]) if wildcards.target[1:].isdigit() else 1
    return {"arch": arch, "settings": settings, "scale": scale}


def restore_train_threads(wildcards):
    return int(RESTORE.arch_settings(wildcards.model)[1]["threads"])


def restore_train_runtime(wildcards):
    """Minutes: the training budget plus data preparation and slack."""
    budget = float(RESTORE.arch_settings(wildcards.model)[1].get("budget_s") or 0)
    return int(budget // 60) + 20


register_targets(restore_targets)

"""The config each rule's job reads, declared as the rule's ``settings`` param (Snakemake's rerun trigger).

Jobs read their settings from the whole validated config (:class:`~mira.study.settings.Settings`),
not from params; a rule declares ``params: settings=PLAN.settings_of("<rule>")`` so that changing a
config value reruns exactly the jobs that read it (Snakemake's ``params`` rerun trigger). The slice
of a rule with a ``{modality}`` wildcard holds that modality's ``profiles:`` overrides only.
"""
from __future__ import annotations

import string
from typing import Any, Callable, Mapping

from ...errors import ConfigError

#: Config keys (dotted; ``{wildcard}`` filled from the job's wildcards) each rule's job reads.
RULE_SETTINGS: dict[str, tuple[str, ...]] = {
    # data
    "synthesize": ("seed", "synthesis", "profiles.{modality}"),
    "ingest": ("seed", "inputs.{source}", "profiles.{modality}"),
    "dataset_stats": ("profiles.{modality}",),
    "overview_figure": ("overview", "profiles.{modality}"),
    # augmentation
    "augment_demo": ("seed", "augment.demo", "profiles.{modality}"),
    "augment_constraints": ("seed", "augment.constraints", "profiles.{modality}"),
    "augment_constraints_table": ("augment.constraints.tolerances",),
    "augment_policy": ("seed", "augment.policy", "profiles.{modality}"),
    "augment_gan": ("seed", "augment.gan", "profiles.{modality}"),
    # degradation
    "degrade": ("seed", "degrade.parameters.{modality}", "profiles.{modality}"),
    "degrade_grading_table": ("profiles",),
    "degrade_figure": ("degrade.figure_case", "profiles.{modality}"),
    # restoration
    "restore_classical": ("restore.noise_model", "restore.denoise", "profiles.{modality}"),
    "restore_interpolation": ("restore.sr.methods", "profiles.{modality}"),
    "train_restorer": ("seed", "restore.training", "restore.models.{model}", "restore.train_noise",
                       "restore.sr.train_modalities", "restore.train_source", "restore.validate_on",
                       "restore.appearance", "profiles"),
    "restore_deep": ("restore.denoise.guard", "profiles.{modality}"),
    "restore_tables": ("restore.benchmark_level",),
    # evaluation
    "evaluate_train_unet": ("seed", "evaluate.segmentation", "profiles.{modality}"),
    "evaluate_task": ("profiles.{modality}",),
    "evaluate_task_tables": ("seed", "evaluate.task.bootstrap", "evaluate.task.confidence"),
    "evaluate_task_classification": ("seed", "evaluate.task", "evaluate.strategies.patch_size",
                                     "evaluate.strategies.patch_context", "evaluate.strategies.input_size",
                                     "evaluate.strategies.training", "profiles.{modality}"),
    "evaluate_task_classification_table": ("evaluate.task.confidence",),
    "evaluate_strategy_cohort": ("seed", "evaluate.strategies", "profiles.{modality}"),
    "evaluate_strategy": ("seed", "evaluate.strategies", "profiles.{modality}"),
    "evaluate_strategy_tables": ("evaluate.strategies",),
    "evaluate_figure_grid": ("evaluate.figures", "profiles.{modality}"),
    "evaluate_figure_box": ("evaluate.figures",),
    "evaluate_figure_severity": ("profiles.{modality}",),
}


class _FromWildcards(dict):
    """``str.format_map`` mapping that reads Snakemake wildcards by attribute."""

    def __init__(self, wildcards: Any) -> None:
        super().__init__()
        self.wildcards = wildcards

    def __missing__(self, key: str) -> str:
        return str(getattr(self.wildcards, key))


def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    """The config value at ``dotted`` (``None`` where an optional mapping has no such key)."""
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def wildcards_of(rule: str) -> set[str]:
    """Wildcards the config slice of ``rule`` is filled from."""
    return {name for key in RULE_SETTINGS.get(rule, ()) for _, name, _, _ in string.Formatter().parse(key) if name}


def settings_of(config: Mapping[str, Any], rule: str) -> Callable[[Any], dict[str, Any]]:
    """The params function of ``rule``: wildcards -> ``{config key: value}`` of the settings its job reads.

    Parameters
    ----------
    config : mapping
        The validated config.
    rule : str
        A rule name listed in :data:`RULE_SETTINGS`.

    Raises
    ------
    ConfigError
        For a rule that reads no settings (declare no ``settings`` param for it).
    """
    if rule not in RULE_SETTINGS:
        raise ConfigError(f"rule {rule!r} reads no settings (mira.study.plan.rerun.RULE_SETTINGS)")
    keys = RULE_SETTINGS[rule]

    def settings(wildcards: Any) -> dict[str, Any]:
        filled = [key.format_map(_FromWildcards(wildcards)) for key in keys]
        return {key: _lookup(config, key) for key in filled}

    return settings

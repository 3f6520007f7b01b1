"""The study plan: every ``results/`` path and every job list, in pure Python (no numeric imports).

The Snakefile imports this package and nothing else of mira besides :mod:`mira.config`, so parsing
the workflow (on a cluster node, for every job) is fast. Build the plan once from the validated config::

    plan = StudyPlan.from_config(validated_config)
    plan.data.datasets                 # [(source, modality), ...]
    plan.degrade.folder("phantom", "ct", "test", "low_dose", "moderate")
    plan.restore.restored_folders("phantom", "ct")   # Restored(source, modality, split, ...) tuples
    plan.targets()                     # every final output (rule all)

Modules: :mod:`.paths` (the layout: each path written once), :mod:`.data`, :mod:`.augment`,
:mod:`.degrade`, :mod:`.restore`, :mod:`.evaluate` (one plan per stage), :mod:`.rerun` (the config
each rule reads, for Snakemake's params rerun trigger).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..settings import Settings
from . import paths
from .augment import AugmentPlan
from .data import SPLITS, SYNTHETIC_2D, SYNTHETIC_3D, DataPlan
from .degrade import SR_DEGRADATION, DegradePlan
from .evaluate import EvaluatePlan
from .rerun import settings_of
from .restore import Restored, RestorePlan

__all__ = ["SPLITS", "SR_DEGRADATION", "SYNTHETIC_2D", "SYNTHETIC_3D", "AugmentPlan", "DataPlan", "DegradePlan",
           "EvaluatePlan", "Restored", "RestorePlan", "StudyPlan", "paths"]


@dataclass(frozen=True)
class StudyPlan:
    """The plans of the five stages of one study.

    Build with :meth:`from_config` (validated config) or :meth:`from_settings`.

    Raises
    ------
    ConfigError
        From the stage plans: config values that name no dataset, degradation or network of the study.
    """

    settings: Settings
    data: DataPlan
    augment: AugmentPlan
    degrade: DegradePlan
    restore: RestorePlan
    evaluate: EvaluatePlan

    @classmethod
    def from_settings(cls, settings: Settings) -> "StudyPlan":
        data = DataPlan(settings)
        augment = AugmentPlan(settings, data)
        degrade = DegradePlan(settings, data.datasets)
        restore = RestorePlan(settings, degrade, data.datasets)
        evaluate = EvaluatePlan(settings, data, augment, degrade, restore)
        return cls(settings, data, augment, degrade, restore, evaluate)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "StudyPlan":
        """The plan of a config already checked by :func:`mira.config.validate_config`."""
        return cls.from_settings(Settings.from_config(config))

    def targets(self) -> list[str]:
        """Every final output of the study (the ``all`` rule's inputs), stage by stage."""
        stages = (self.data, self.augment, self.degrade, self.restore, self.evaluate)
        return [t for stage in stages for t in stage.targets()]

    def figures(self) -> list[str]:
        """Every figure the ``figures`` target redraws from existing results."""
        return self.evaluate.figures()

    def settings_of(self, rule: str) -> Callable[[Any], dict[str, Any]]:
        """Params function of ``rule``: the config slice its job reads (see :mod:`.rerun`)."""
        return settings_of(self.settings.raw, rule)

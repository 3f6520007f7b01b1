"""Augmentation stage plan: demonstration figures, constraint checks, policy search and GAN jobs."""
from __future__ import annotations

from typing import Sequence

from ..settings import Settings
from . import paths
from .data import SYNTHETIC_2D, SYNTHETIC_3D, DataPlan


class AugmentPlan:
    """Which (source, modality) the augmentation jobs run on, and the stage's outputs.

    Parameters
    ----------
    settings : Settings
        The study settings.
    data : DataPlan
        The data stage's plan.
    """

    def __init__(self, settings: Settings, data: DataPlan) -> None:
        aug = settings.augment
        study = settings.modalities
        volumes = data.volume_modalities if aug.volumes else []
        #: (source, modality) of the demo, summary and constraint jobs: 2D phantoms, and 3D if enabled.
        self.datasets = [(SYNTHETIC_2D, m) for m in study] + [(SYNTHETIC_3D, m) for m in volumes]
        #: Modalities of the policy search and of the GAN, limited to the study's modalities.
        self.policy_modalities = [m for m in aug.policy.modalities if m in study]
        self.gan_modalities = [m for m in aug.gan.modalities if m in study]
        #: The source the policy search and the GAN train on (the labelled 2D phantoms).
        self.source = SYNTHETIC_2D
        #: Threads and minutes (the time budget plus slack) of one GAN job.
        self.gan_threads = int(aug.gan.threads)
        self.gan_runtime = 10 + int(aug.gan.time_budget_s // 60)

    def summary_parts(self) -> list[str]:
        return [paths.augment_summary_part(s, m).csv for s, m in self.datasets]

    def constraints_parts(self) -> list[str]:
        return [paths.augment_constraints_part(s, m).csv for s, m in self.datasets]

    def policy_parts(self) -> list[str]:
        return [paths.augment_policy_part(m) for m in self.policy_modalities]

    def gan_sidecars(self) -> list[str]:
        return [paths.gan_sidecar(m) for m in self.gan_modalities]

    def gan_table_inputs(self, strategy_jobs: Sequence[tuple[str, str]]) -> dict[str, str]:
        """The GAN table's extra input: the strategy study's summary when it trains with GAN samples
        (``strategy_jobs``: the evaluation plan's (modality, strategy) jobs), for the "gan vs none" effect."""
        if any(s == "gan" and m in self.gan_modalities for m, s in strategy_jobs):
            return {"strategies": paths.EVAL_STRATEGIES.csv}
        return {}

    def targets(self) -> list[str]:
        """Final outputs of the augmentation stage."""
        out = [paths.augment_demo_figure(s, m) for s, m in self.datasets]
        out += [paths.AUGMENT_SUMMARY.md, paths.AUGMENT_CONSTRAINTS.md]
        out += [paths.AUGMENT_POLICY.md] if self.policy_modalities else []
        out += [paths.gan_figure(m) for m in self.gan_modalities]
        out += [paths.AUGMENT_GAN.md] if self.gan_modalities else []
        return out

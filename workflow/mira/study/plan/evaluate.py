"""Evaluation stage plan: restoration tables and grids, the task study, the strategy study, findings.

Every figure a job draws from existing tables and result folders (no computing) is listed by
:meth:`EvaluatePlan.figures`, the ``figures`` target; those rules carry ``group: "figures"``.
"""
from __future__ import annotations

from typing import Any

from ..settings import Settings
from . import paths
from .augment import AugmentPlan
from .data import SYNTHETIC_2D, DataPlan
from .degrade import SR_DEGRADATION, DegradePlan
from .restore import SPLIT, RestorePlan

#: The network of the task study (one segmentation U-Net per modality).
UNET = "unet"
#: The strategy every other strategy is compared with (always run).
BASELINE_STRATEGY = "none"


class EvaluatePlan:
    """The evaluation stage's jobs, built on the other stages' plans.

    Parameters
    ----------
    settings : Settings
        The study settings.
    data, augment, degrade, restore : DataPlan, AugmentPlan, DegradePlan, RestorePlan
        The other stages' plans.
    """

    def __init__(self, settings: Settings, data: DataPlan, augment: AugmentPlan, degrade: DegradePlan,
                 restore: RestorePlan) -> None:
        self.cfg = settings.evaluate
        self.data, self.augment, self.degrade, self.restore = data, augment, degrade, restore
        self.strategy_modalities = [m for m in self.cfg.strategies.modalities if m in settings.modalities]
        #: The task study's network and the source it trains on (the labelled 2D phantoms).
        self.unet, self.task_source = UNET, SYNTHETIC_2D
        #: Threads and minutes (the time budget plus slack) of one U-Net job; threads of a strategy job.
        self.unet_threads = int(self.cfg.segmentation.threads)
        self.unet_runtime = 10 + int(self.cfg.segmentation.time_budget_s // 60)
        self.strategy_threads = int(self.cfg.strategies.threads)

    # ---- restoration -----------------------------------------------------------------------------

    def has_restoration(self) -> bool:
        return bool(self.restore.restored_folders())

    def datasets(self) -> list[tuple[str, str]]:
        """(source, modality) pairs with restored test folders."""
        return [(s, m) for s, m in self.restore.datasets if self.restore.restored_folders(s, m)]

    def level(self, kind: str) -> str:
        """The level drawn in grids and box plots: kind ``noise`` (restored level) or ``sr`` (``x<scale>``)."""
        if kind == "sr":
            lv = self.cfg.figures.sr_level
            scales = [f"x{s}" for s in self.restore.scales]
            return lv if lv in scales else (scales[0] if scales else lv)
        lv = self.cfg.figures.level
        levels = self.restore.levels
        return lv if lv in levels else (levels[len(levels) // 2] if levels else lv)

    def grid_rows(self, source: str, modality: str) -> list[tuple[str, str, list[str]]]:
        """(degradation, level, methods) of the comparison grids of one (source, modality)."""
        rows = []
        if self.restore.levels:
            lv = self.level("noise")
            methods = self.restore.classical_methods + self.restore.denoise_deep
            rows += [(d, lv, methods) for d in self.restore.degradations(modality)]
        if self.restore.scales:
            rows.append((SR_DEGRADATION, self.level("sr"), self.restore.sr_methods_for(modality)))
        return rows

    def grid_inputs(self, source: str, modality: str, degradation: str) -> dict[str, Any]:
        """Paired folder and restored folders of one comparison grid."""
        for d, lv, methods in self.grid_rows(source, modality):
            if d == degradation:
                return {"paired": self.restore.paired(source, modality, SPLIT, d, lv),
                        "restored": [paths.restored(source, modality, SPLIT, d, lv, m) for m in methods]}
        raise ValueError(f"no comparison grid for {source} {modality} {degradation}")

    # ---- task study ------------------------------------------------------------------------------

    def task_datasets(self) -> list[tuple[str, str]]:
        """(source, modality) of the task study: the labelled 2D phantoms that were restored."""
        mods = self.cfg.segmentation.modalities
        return [(s, m) for s, m in self.datasets() if s == self.task_source and m in mods]

    def task_inputs(self, source: str, modality: str) -> dict[str, Any]:
        """U-Net checkpoint, clean test split and every restored folder of one (source, modality)."""
        return {
            "model": paths.network_model(self.unet, modality),
            "sidecar": paths.network_sidecar(self.unet, modality),
            "clean": paths.dataset(source, modality, SPLIT),
            "restored": [r.path for r in self.restore.restored_folders(source, modality)],
        }

    def task_parts(self) -> list[str]:
        return [paths.task_dice(s, m) for s, m in self.task_datasets()]

    def task_classification_datasets(self) -> list[tuple[str, str]]:
        """(source, modality) of the task study's classification branch (``evaluate.task.classification``)."""
        mods = self.cfg.task.classification.modalities
        return [(s, m) for s, m in self.task_datasets() if m in mods]

    def task_classification_inputs(self, source: str, modality: str) -> dict[str, Any]:
        """Clean training split (the classifier's patches), clean test split and every restored folder."""
        return {"train": paths.dataset(source, modality, "train"), "clean": paths.dataset(source, modality, SPLIT),
                "restored": [r.path for r in self.restore.restored_folders(source, modality)]}

    def task_classification_parts(self) -> list[str]:
        return [paths.task_classification(s, m) for s, m in self.task_classification_datasets()]

    # ---- strategy study --------------------------------------------------------------------------

    def strategy_jobs(self) -> list[tuple[str, str]]:
        """(modality, strategy) of the strategy study; policy/gan only where the augment stage made them."""
        wanted = [BASELINE_STRATEGY] + [s for s in self.cfg.strategies.strategies if s != BASELINE_STRATEGY]
        jobs = []
        for m in self.strategy_modalities:
            for s in wanted:
                if (s == "policy" and m not in self.augment.policy_modalities) or (
                        s == "gan" and m not in self.augment.gan_modalities):
                    continue
                jobs.append((m, s))
        return jobs

    @property
    def strategies_regex(self) -> str:
        """Wildcard constraint of a strategy job (never matches when the study runs none)."""
        return "|".join(dict.fromkeys(s for _, s in self.strategy_jobs())) or "(?!)"

    @staticmethod
    def strategy_inputs(modality: str, strategy: str) -> dict[str, str]:
        """Cohort, plus the searched policy or the GAN samples when the strategy needs them."""
        out = {"cohort": paths.strategy_cohort(modality)}
        if strategy == "policy":
            out["policy"] = paths.augment_policy(modality)
        if strategy == "gan":
            out["gan"] = paths.gan_samples(modality)
        return out

    def strategy_runs(self) -> list[str]:
        return [paths.strategy_runs(m, s) for m, s in self.strategy_jobs()]

    def strategy_histories(self) -> list[str]:
        return [paths.strategy_history(m, s) for m, s in self.strategy_jobs()]

    def strategy_runtime(self, strategy: str) -> int:
        """Minutes of one strategy job: a rough 10 s per run, plus slack."""
        st = self.cfg.strategies
        runs = len(st.sizes) * st.seeds * (2 if strategy == "gan" else 1)
        return 10 + int(runs * st.training.steps / 500 * 10 / 60)

    # ---- collected tables, findings, figures -----------------------------------------------------

    def training_histories(self) -> dict[str, list[str]]:
        """Histories of every network: restoration models and the task study's U-Nets."""
        return {"restore": [self.restore.history(a, t) for a, t in self.restore.models()],
                "unet": [paths.network_history(self.unet, m) for _, m in self.task_datasets()]}

    def collect_inputs(self) -> dict[str, str]:
        """The earlier stages' Markdown tables collected into one document, by name, in document order."""
        out = {"degrade_grading": paths.DEGRADE_GRADING.md} if self.degrade.all_folders() else {}
        out.update(augment_constraints=paths.AUGMENT_CONSTRAINTS.md, augment_summary=paths.AUGMENT_SUMMARY.md)
        if self.augment.policy_modalities:
            out["augment_policy"] = paths.AUGMENT_POLICY.md
        if self.augment.gan_modalities:
            out["augment_gan"] = paths.AUGMENT_GAN.md
        if self.has_restoration():
            out.update(restore_targets=paths.RESTORE_TARGETS.md, restore_models=paths.RESTORE_MODELS.md)
        return out

    def findings_inputs(self) -> dict[str, str]:
        """The tables the findings are drawn from (only those of the studies that ran)."""
        out = {"restoration": paths.EVAL_RESTORATION.csv} if self.has_restoration() else {}
        if self.task_datasets():
            out.update(task=paths.EVAL_TASK.csv, change=paths.EVAL_TASK_DICE_CHANGE)
        if self.task_classification_datasets():
            out["classification"] = paths.EVAL_TASK_CLASSIFICATION.csv
        if self.strategy_jobs():
            out["claims"] = paths.EVAL_STRATEGY_CLAIMS
        return out

    def training_figure_inputs(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.training_histories())
        if self.strategy_jobs():
            out["strategy"] = paths.EVAL_STRATEGY_HISTORY
        return out

    def figures(self) -> list[str]:
        """Every figure the ``figures`` target redraws (this stage's and the earlier stages' standalone ones)."""
        out = list(self.data.overview_figures()) + self.degrade.figures()
        if self.restore.models():
            out.append(paths.RESTORE_TRAINING_FIGURE)
        for s, m in self.datasets():
            out += [paths.grid_figure(s, m, d) for d, _, _ in self.grid_rows(s, m)]
            out += [paths.severity_figure(s, m), paths.box_figure(s, m)]
        out.append(paths.EVAL_TRAINING_FIGURE)
        if self.strategy_jobs():
            out.append(paths.EVAL_STRATEGIES_FIGURE)
        if self.task_datasets():
            out.append(paths.EVAL_DICE_FIGURE)
        return out

    def targets(self) -> list[str]:
        """Final outputs of the evaluation stage."""
        out = [paths.EVAL_FINDINGS, paths.EVAL_EARLIER_STAGES]
        if self.has_restoration():
            out += [paths.EVAL_RESTORATION.md, paths.EVAL_RESTORATION_VERDICTS.md, paths.EVAL_SR_STUDY]
        if self.task_datasets():
            out.append(paths.EVAL_TASK.md)
        if self.task_classification_datasets():
            out.append(paths.EVAL_TASK_CLASSIFICATION.md)
        if self.strategy_jobs():
            out.append(paths.EVAL_STRATEGIES.md)
        return out + self.figures()

"""Jobs of the evaluation stage: restoration tables, the task study, the strategy study, the findings and
every figure of the report drawn from them.

Numeric and plotting modules are imported inside each job (the dispatcher imports every stage's job
module to find one rule's function). Settings-derived values come from the study's
:class:`~mira.study.settings.Settings`: the levels drawn in box plots through the plan
(:meth:`mira.study.plan.evaluate.EvaluatePlan.level`), the U-Net's training settings from
:func:`segmentation_settings`, the strategy study's from
:meth:`mira.evaluate.strategy_study.StrategyDesign.from_settings`.
"""
from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ..settings import Settings
from . import Job, job

#: Heading of each collected table of the earlier stages, by the rule's input name (in input order).
COLLECTED_HEADINGS = {
    "degrade_grading": "Degradation severity grading",
    "augment_constraints": "Augmentation constraint checks",
    "augment_summary": "Augmentation summary",
    "augment_policy": "Augmentation policy search",
    "augment_gan": "GAN synthesis",
    "restore_targets": "Restoration targets",
    "restore_models": "Restoration models",
}

#: Keys of ``evaluate.segmentation`` that are not U-Net training settings (job list and rule threads).
_SEGMENTATION_JOB_KEYS = ("modalities", "threads")


def _evaluate_plan(settings: Settings) -> Any:
    """The evaluation stage's plan of the settings (levels drawn in the figures)."""
    from ..plan import StudyPlan

    return StudyPlan.from_settings(settings).evaluate


def segmentation_settings(settings: Settings) -> dict[str, Any]:
    """The task study's U-Net training settings: ``evaluate.segmentation`` without its job-list keys."""
    seg = settings.evaluate.segmentation.to_dict()
    return {k: v for k, v in seg.items() if k not in _SEGMENTATION_JOB_KEYS}


def _named(j: Job, name: str) -> Any:
    """The named input ``name`` of the job, or None where the rule declares none."""
    get = getattr(j.input, "get", None)
    return get(name) if callable(get) else getattr(j.input, name, None)


# ---- tables -----------------------------------------------------------------------------------------


@job("evaluate_restoration_tables")
def evaluate_restoration_tables(j: Job) -> None:
    """Restoration table with best-method marks and the super-resolution case study."""
    from ..report.restoration_tables import write_restoration_tables

    o = j.output
    info = write_restoration_tables(j.input[0], o.csv, o.md, o.sr_cases, o.sr_summary, o.sr_md, o.verdicts,
                                    o.verdicts_md)
    j.log.info("restoration tables: %s", info)


@job("evaluate_collect_tables")
def evaluate_collect_tables(j: Job) -> None:
    """The earlier stages' Markdown tables gathered into one document (one section per named input)."""
    from ...atomic import write_text
    from ..report.restoration_tables import collect_markdown

    unknown = [name for name, _ in j.input.items() if name not in COLLECTED_HEADINGS]
    if unknown:
        raise ConfigError(f"rule {j.rule}: no heading for the collected table(s) {unknown}")
    parts = [(COLLECTED_HEADINGS[name], path) for name, path in j.input.items()]
    write_text(j.output[0], collect_markdown(parts, "Tables of the earlier stages"))
    j.log.info("collected %d tables", len(parts))


# ---- task study ---------------------------------------------------------------------------------------


@job("evaluate_train_unet")
def evaluate_train_unet(j: Job) -> None:
    """The task study's U-Net on the clean training phantoms of one modality."""
    from ...evaluate.segmentation import train_segmentation

    modality = j.wildcards.modality
    info = train_segmentation(j.input.train, j.input.val, profile=j.settings.profile(modality), seed=j.settings.seed,
                              out_model=j.output.model, out_sidecar=j.output.sidecar, out_history=j.output.history,
                              settings=segmentation_settings(j.settings))
    j.log.info("U-Net %s: %s", modality, info)


@job("evaluate_task")
def evaluate_task(j: Job) -> None:
    """Dice of the U-Net on clean, degraded and restored test images of one (source, modality)."""
    from ...evaluate.task_study import run_task_study

    wc = j.wildcards
    df = run_task_study(j.input.model, j.input.clean, list(j.input.restored), j.output[0],
                        j.settings.profile(wc.modality), source=wc.source)
    j.log.info("%d Dice rows", len(df))


@job("evaluate_task_tables")
def evaluate_task_tables(j: Job) -> None:
    """Dice summary, change per method and per-label tables of the task study."""
    from ...evaluate.task_study import write_task_tables

    o, task = j.output, j.settings.evaluate.task
    info = write_task_tables(list(j.input.dice), j.input.metrics, o.csv, o.change, o.labels, o.md,
                             n_boot=int(task.bootstrap), level=float(task.confidence), seed=j.settings.seed)
    j.log.info("task tables: %s", info)


@job("evaluate_task_classification")
def evaluate_task_classification(j: Job) -> None:
    """Accuracy/AUC of the lesion classifier on clean, degraded and restored test patches of one (source, modality)."""
    from ...evaluate.classifier import ClassifierSettings
    from ...evaluate.cohort import PatchSpec
    from ...evaluate.task_study import run_task_classification

    wc, st, task = j.wildcards, j.settings.evaluate.strategies, j.settings.evaluate.task
    df = run_task_classification(j.input.train, j.input.clean, list(j.input.restored), j.output[0],
                                 j.settings.profile(wc.modality), source=wc.source,
                                 spec=PatchSpec(int(st.patch_size), float(st.patch_context)),
                                 settings=ClassifierSettings.from_mapping(st.training.to_dict()),
                                 per_image=int(task.classification.patches_per_image), input_size=st.input_size,
                                 n_boot=int(task.bootstrap), level=float(task.confidence), seed=j.settings.seed)
    j.log.info("%d classification rows", len(df))


@job("evaluate_task_classification_table")
def evaluate_task_classification_table(j: Job) -> None:
    """The classification branch's per-modality tables combined into one CSV and Markdown table."""
    from ...evaluate.task_study import write_task_classification_tables

    info = write_task_classification_tables(list(j.input), j.output.csv, j.output.md,
                                            level=float(j.settings.evaluate.task.confidence))
    j.log.info("classification table: %s", info)


# ---- strategy study -------------------------------------------------------------------------------------


@job("evaluate_strategy_cohort")
def evaluate_strategy_cohort(j: Job) -> None:
    """Synthesise the strategy study's lesion / no-lesion patch cohort of one modality."""
    from ...evaluate.cohort import CohortDesign, make_cohort

    modality = j.wildcards.modality
    design = CohortDesign.from_settings(j.settings.evaluate.strategies)
    info = make_cohort(j.output[0], j.settings.profile(modality), design, seed=j.settings.seed)
    j.log.info("cohort %s: %s", modality, info)


@job("evaluate_strategy")
def evaluate_strategy(j: Job) -> None:
    """One augmentation strategy of one modality at every training size and seed."""
    from ...evaluate.strategy_study import StrategyDesign, run_strategy_job

    wc = j.wildcards
    design = StrategyDesign.from_settings(j.settings.evaluate.strategies)
    info = run_strategy_job(j.input.cohort, j.settings.profile(wc.modality), wc.strategy, design, seed=j.settings.seed,
                            out_runs=j.output.runs, out_history=j.output.history, policy_json=_named(j, "policy"),
                            gan_dir=_named(j, "gan"))
    j.log.info("%s %s: %s", wc.modality, wc.strategy, info)


@job("evaluate_strategy_tables")
def evaluate_strategy_tables(j: Job) -> None:
    """Strategy study summary, data-efficiency factors and the claims verdict."""
    from ..report.strategy_tables import write_strategy_tables

    o = j.output
    info = write_strategy_tables(list(j.input.runs), list(j.input.history), out_runs=o.runs, out_history=o.history,
                                 out_summary=o.summary, out_claims=o.claims, out_md=o.md,
                                 confidence=j.settings.evaluate.strategies.confidence)
    j.log.info("strategy tables: %s", info)


@job("evaluate_findings")
def evaluate_findings(j: Job) -> None:
    """The study's answers in plain words, from the tables."""
    from ..report.findings import write_findings

    text = write_findings(_named(j, "restoration"), _named(j, "task"), _named(j, "change"), _named(j, "claims"),
                          j.output[0], classification_csv=_named(j, "classification"))
    j.log.info("findings:\n%s", text)


# ---- figures ----------------------------------------------------------------------------------------------


@job("evaluate_figure_grid")
def evaluate_figure_grid(j: Job) -> None:
    """Clean, degraded and restored images of one paired folder with zoomed insets and difference maps."""
    from ..report.grids import comparison_grid

    fig = j.settings.evaluate.figures
    profile = j.settings.profile(j.wildcards.modality)
    case = comparison_grid(j.input.paired, list(j.input.restored), j.output[0], profile, case_id=fig.case,
                           zoom_fraction=fig.zoom, diff_fraction=fig.diff)
    j.log.info("drew case %s", case)


@job("evaluate_figure_severity")
def evaluate_figure_severity(j: Job) -> None:
    """PSNR/SSIM against severity level per method of one (source, modality)."""
    from ..report.evaluation_figures import severity_curves

    n = severity_curves(j.input[0], j.output[0], j.wildcards.source, j.wildcards.modality)
    j.log.info("%d degradations drawn", n)


@job("evaluate_figure_box")
def evaluate_figure_box(j: Job) -> None:
    """Per-case PSNR per method (box plots) at the figures' noise level and scale."""
    from ..report.evaluation_figures import box_plots

    plan = _evaluate_plan(j.settings)
    n = box_plots(j.input[0], j.output[0], j.wildcards.source, j.wildcards.modality, level=plan.level("noise"),
                  sr_level=plan.level("sr"))
    j.log.info("%d panels drawn", n)


@job("evaluate_figure_training")
def evaluate_figure_training(j: Job) -> None:
    """Training curves of every network of the study."""
    from ..report.training_curves import training_curves

    n = training_curves(j.output[0], restore_histories=list(_named(j, "restore") or []),
                        unet_histories=list(_named(j, "unet") or []), strategy_history=_named(j, "strategy"))
    j.log.info("%d panels drawn", n)


@job("evaluate_figure_strategies")
def evaluate_figure_strategies(j: Job) -> None:
    """Accuracy/AUC against training-set size per strategy, and learning curves."""
    from ..report.evaluation_figures import strategy_figure

    n = strategy_figure(j.input.summary, j.input.history, j.output[0])
    j.log.info("%d modalities drawn", n)


@job("evaluate_figure_dice")
def evaluate_figure_dice(j: Job) -> None:
    """Dice change per restoration method and PSNR gain against Dice change."""
    from ..report.evaluation_figures import dice_change_figure

    n = dice_change_figure(j.input[0], j.output[0])
    j.log.info("%d modalities drawn", n)


__all__ = ["COLLECTED_HEADINGS", "segmentation_settings"]

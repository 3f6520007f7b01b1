"""Evaluation: what users read -- which restoration for which modality and degradation, whether it
helps a downstream task, and what augmentation buys under data scarcity.

The three studies, for any model and data (from a notebook; the pipeline calls the same code):

``compare_augmentation_strategies(train_fn, dataset, strategies, sizes, seeds)``
    strategies x training sizes x seeds, paired; t-intervals over seeds, paired gain over ``none``,
    data-efficiency factors, the chapter's claims (:mod:`.strategy_compare`)
``task_change(model, pairs, task="segmentation" | "classification")``
    a model on clean, degraded and restored images: Dice or accuracy/AUC and the paired change with
    bootstrap intervals (:mod:`.task_change`)
``sr_case_study(images, upscalers, profile=..., scale=...)``
    low-resolution inputs from mira's downsample degradation, any upscalers, per-image PSNR/SSIM and
    gains over bicubic (:mod:`.sr_study`)

Modules
-------
``strategy_compare`` the strategy comparison for any model; the per-run core of the pipeline's study
``strategy_summary`` t-intervals, paired gains, data-efficiency factors, the claims
``strategy_study``   the pipeline's strategy study: mira's lesion cohort and classifier
``strategies``       augmentation strategies built from :mod:`mira.augment`
``task_change``      the task-oriented evaluation for any model (segmentation and classification)
``task_study``       the pipeline's task study: Dice of a U-Net on clean, degraded and restored folders
``sr_study``         the super-resolution case study and its tables
``models``           a user's model (torch module, predict_proba / segment, callable) as classifier or segmenter
``tables``           mean, sd, n per group and metric; best-method marks
``segmentation``     small U-Net, training on clean phantoms, Dice
``classifier``       small CNN lesion classifier, training loop, AUC (Mann-Whitney), bootstrap CIs
``cohort``           lesion / no-lesion patches for the classifier
``scorer``           the classifier as a policy-search scorer (``SCORERS``: ``augment.policy.scorer: classifier``)

Tables and figures of the pipeline live in :mod:`mira.study.report` (``restoration_tables``,
``strategy_tables``, ``grids``, ``evaluation_figures``, ``training_curves``, ``findings``).
"""
from .classifier import auc_score, bootstrap_ci
from .segmentation import dice_per_label
from .sr_study import SRCaseStudy, sr_case_study, sr_case_table, sr_summary
from .strategy_compare import StrategyComparison, compare_augmentation_strategies
from .strategy_summary import data_factor, equivalent_size, summarize_runs
from .tables import mark_best, summarize
from .task_change import TaskChange, task_change

__all__ = ["compare_augmentation_strategies", "StrategyComparison", "task_change", "TaskChange", "sr_case_study",
           "SRCaseStudy", "summarize", "mark_best", "sr_case_table", "sr_summary", "auc_score", "bootstrap_ci",
           "dice_per_label", "equivalent_size", "data_factor", "summarize_runs"]

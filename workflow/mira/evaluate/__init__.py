"""Evaluation: what users read -- which restoration for which modality and degradation, whether it
helps a downstream task, and what augmentation buys under data scarcity.

Modules
-------
``segmentation``    small U-Net, training on clean phantoms, Dice
``task_study``      Dice on clean, degraded and restored test images; change per method
``classifier``      small CNN lesion classifier, training loop, AUC (Mann-Whitney), bootstrap CIs
``cohort``          lesion / no-lesion patches for the classifier
``strategies``      augmentation strategies built from :mod:`mira.augment`
``strategy_study``  strategies x training sizes x seeds; CIs; data-efficiency factor; the claims of the textbook chapter
``scorer``          the classifier as a policy-search scorer (``SCORERS``: ``augment.policy.scorer: classifier``)

Tables and figures of this stage live in :mod:`mira.study.report` (``restoration_tables``,
``grids``, ``evaluation_figures``, ``training_curves``, ``findings``).
"""
from ..study.report.restoration_tables import mark_best, restoration_table, sr_case_table, sr_summary, summarize
from .classifier import auc_score, bootstrap_ci
from .segmentation import dice_per_label
from .strategy_study import data_factor, equivalent_size, summarize_runs

__all__ = ["summarize", "mark_best", "restoration_table", "sr_case_table", "sr_summary", "auc_score", "bootstrap_ci",
           "dice_per_label", "equivalent_size", "data_factor", "summarize_runs"]

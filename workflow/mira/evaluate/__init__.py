"""Evaluation: what users read -- which restoration for which modality and degradation, whether it
helps a downstream task, and what augmentation buys under data scarcity.

Modules
-------
``aggregate``       tidy per-case tables -> mean, sd, n, best-method marks (CSV + Markdown); SR case study
``segmentation``    small U-Net, training on clean phantoms, Dice
``task_study``      Dice on clean, degraded and restored test images; change per method
``classifier``      small CNN lesion classifier, training loop, AUC (Mann-Whitney), bootstrap CIs
``cohort``          lesion / no-lesion patches for the classifier
``strategies``      augmentation strategies built from :mod:`mira.augment`
``strategy_study``  strategies x training sizes x seeds; CIs; data-efficiency factor; the textbook claims
``scorer``          the classifier as a policy-search scorer (``augment.policy.scorer: classifier``)
``figures``         comparison grids, severity curves, box plots, training curves, strategy and Dice figures
``findings``        the answers in plain words

Importing :mod:`mira.evaluate.scorer` (done here) registers the ``classifier`` policy scorer.
"""
from . import scorer  # noqa: F401  (registers the "classifier" policy scorer)
from .aggregate import mark_best, restoration_table, sr_case_table, sr_summary, summarize
from .classifier import auc_score, bootstrap_ci
from .segmentation import dice_per_label
from .strategy_study import data_factor, equivalent_size, summarize_runs

__all__ = ["summarize", "mark_best", "restoration_table", "sr_case_table", "sr_summary", "auc_score", "bootstrap_ci",
           "dice_per_label", "equivalent_size", "data_factor", "summarize_runs"]

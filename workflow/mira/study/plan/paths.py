"""Every path under ``results/``: the one place the results layout is written down.

Each function returns one path from its parts; called with wildcard patterns (``"{source}"``) it
returns the pattern a rule declares, called with values it returns the file a job reads or writes,
so a rule's output and every consumer's input come from the same line. Nothing else in the package,
the rules or the scripts writes a ``results/`` path (``tests/test_study_plan.py`` checks).

Layout (``<stem>`` of a log or benchmark is the rule's wildcards joined by ``_``, or the rule name)::

    results/data/<source>/<modality>/<split>/          dataset folders (manifest.csv, images/, labels/)
    results/augment/, results/degraded/, results/restored/, results/evaluate/   stage work folders
    results/models/<network>/<target>/                 trained networks (model.pt, model.json, history.csv)
    results/tables/, results/figures/                  what the report shows
    results/logs/<rule>/<stem>.log, results/benchmarks/<rule>/<stem>.tsv
"""
from __future__ import annotations

from dataclasses import dataclass

#: The results folder, relative to the working directory.
RESULTS = "results"
_TABLES = f"{RESULTS}/tables"
_FIGURES = f"{RESULTS}/figures"
_MODELS = f"{RESULTS}/models"
_EVALUATION = f"{_TABLES}/evaluation"
_EVALUATE_WORK = f"{RESULTS}/evaluate"


@dataclass(frozen=True)
class Table:
    """A table written twice: machine-readable ``<stem>.csv`` and human-readable ``<stem>.md``."""

    stem: str

    @property
    def csv(self) -> str:
        return f"{self.stem}.csv"

    @property
    def md(self) -> str:
        return f"{self.stem}.md"


def _stem(rule: str, wildcards: tuple[str, ...]) -> str:
    return "_".join(f"{{{w}}}" for w in wildcards) if wildcards else rule


def log(rule: str, *wildcards: str) -> str:
    """Log file of a rule's job, e.g. ``log("degrade", "source", "modality")``."""
    return f"{RESULTS}/logs/{rule}/{_stem(rule, wildcards)}.log"


def benchmark(rule: str, *wildcards: str) -> str:
    """Benchmark (timing) file of a rule's job; same naming as :func:`log`."""
    return f"{RESULTS}/benchmarks/{rule}/{_stem(rule, wildcards)}.tsv"


# ---- data ------------------------------------------------------------------------------------------


def dataset(source: str, modality: str, split: str) -> str:
    """Folder of one dataset (manifest.csv, legend.json, images/, labels/)."""
    return f"{RESULTS}/data/{source}/{modality}/{split}"


def ingest_report(source: str, modality: str) -> str:
    """One row per file the ingestion of a real-image source considered."""
    return f"{RESULTS}/data/{source}/{modality}/ingest_report.csv"


def dataset_stats(source: str, modality: str) -> str:
    return f"{_TABLES}/datasets/{source}_{modality}.csv"


def overview_figure(source: str, modality: str) -> str:
    return f"{_FIGURES}/overview/{source}_{modality}.png"


DATASETS = Table(f"{_TABLES}/datasets")
INGEST = Table(f"{_TABLES}/ingest")


# ---- augmentation ----------------------------------------------------------------------------------


def augment_demo_figure(source: str, modality: str) -> str:
    return f"{_FIGURES}/augment/{source}_{modality}_demo.png"


def augment_summary_part(source: str, modality: str) -> Table:
    return Table(f"{_TABLES}/augment/summary/{source}_{modality}")


def augment_constraints_part(source: str, modality: str) -> Table:
    return Table(f"{_TABLES}/augment/constraints/{source}_{modality}")


def augment_constraints_draws(source: str, modality: str) -> str:
    return f"{_TABLES}/augment/constraints/{source}_{modality}_draws.csv"


def augment_policy(modality: str) -> str:
    """The searched augmentation policy of a modality (JSON)."""
    return f"{RESULTS}/augment/policy/{modality}.json"


def augment_policy_part(modality: str) -> str:
    return f"{_TABLES}/augment/policy/{modality}.csv"


def gan_model(modality: str) -> str:
    return f"{_MODELS}/gan/{modality}/generator.pt"


def gan_sidecar(modality: str) -> str:
    return f"{_MODELS}/gan/{modality}/generator.json"


def gan_samples(modality: str) -> str:
    """Folder of the GAN's synthetic samples (a mira dataset)."""
    return f"{RESULTS}/augment/gan/{modality}/samples"


def gan_figure(modality: str) -> str:
    return f"{_FIGURES}/augment/gan_{modality}.png"


AUGMENT_SUMMARY = Table(f"{_TABLES}/augment_summary")
AUGMENT_CONSTRAINTS = Table(f"{_TABLES}/augment_constraints")
AUGMENT_POLICY = Table(f"{_TABLES}/augment_policy")
AUGMENT_GAN = Table(f"{_TABLES}/augment_gan")


# ---- degradation -----------------------------------------------------------------------------------


def degraded(source: str, modality: str, split: str, degradation: str, level: str) -> str:
    """Paired clean/degraded folder of one degradation job (contract: :mod:`mira.degrade.pairs`)."""
    return f"{RESULTS}/degraded/{source}/{modality}/{split}/{degradation}/{level}"


def degrade_figure(source: str, modality: str) -> str:
    return f"{_FIGURES}/degrade/{source}_{modality}.png"


DEGRADE_GRADING = Table(f"{_TABLES}/degrade_grading")
DEGRADE_GRADING_SUMMARY = f"{_TABLES}/degrade_grading_summary.csv"


# ---- restoration -----------------------------------------------------------------------------------


def restored(source: str, modality: str, split: str, degradation: str, level: str, method: str) -> str:
    """Folder of one method's restored images and per-case metrics (contract: :mod:`mira.study.restore_stage`)."""
    return f"{RESULTS}/restored/{source}/{modality}/{split}/{degradation}/{level}/{method}"


def network_model(arch: str, target: str) -> str:
    """Checkpoint of a trained network; ``target`` is its modality or ``x<scale>`` (SR networks)."""
    return f"{_MODELS}/{arch}/{target}/model.pt"


def network_sidecar(arch: str, target: str) -> str:
    """JSON sidecar of a checkpoint (architecture, settings, training summary)."""
    return f"{_MODELS}/{arch}/{target}/model.json"


def network_history(arch: str, target: str) -> str:
    """Training history of a network (one row per epoch)."""
    return f"{_MODELS}/{arch}/{target}/history.csv"


RESTORE_METRICS = f"{_TABLES}/restore_metrics.csv"
RESTORE_TARGETS = Table(f"{_TABLES}/restore_targets")
RESTORE_MODELS = Table(f"{_TABLES}/restore_models")
RESTORE_TRAINING_FIGURE = f"{_FIGURES}/restore/training.png"


# ---- evaluation ------------------------------------------------------------------------------------


EVAL_RESTORATION = Table(f"{_EVALUATION}/restoration")
EVAL_RESTORATION_VERDICTS = Table(f"{_EVALUATION}/restoration_verdicts")
EVAL_SR_CASES = f"{_EVALUATION}/sr_cases.csv"
EVAL_SR_SUMMARY = f"{_EVALUATION}/sr_summary.csv"
EVAL_SR_STUDY = f"{_EVALUATION}/sr_study.md"
EVAL_EARLIER_STAGES = f"{_EVALUATION}/earlier_stages.md"
EVAL_TASK = Table(f"{_EVALUATION}/task")
EVAL_TASK_DICE_CHANGE = f"{_EVALUATION}/task_dice_change.csv"
EVAL_TASK_LABELS = f"{_EVALUATION}/task_labels.csv"
EVAL_TASK_CLASSIFICATION = Table(f"{_EVALUATION}/task_classification")
EVAL_STRATEGY_RUNS = f"{_EVALUATION}/strategy_runs.csv"
EVAL_STRATEGY_HISTORY = f"{_EVALUATION}/strategy_history.csv"
EVAL_STRATEGIES = Table(f"{_EVALUATION}/strategies")
EVAL_STRATEGY_CLAIMS = f"{_EVALUATION}/strategy_claims.csv"
EVAL_FINDINGS = f"{_EVALUATION}/findings.md"

EVAL_TRAINING_FIGURE = f"{_FIGURES}/evaluate/training.png"
EVAL_STRATEGIES_FIGURE = f"{_FIGURES}/evaluate/strategies.png"
EVAL_DICE_FIGURE = f"{_FIGURES}/evaluate/dice_change.png"


def grid_figure(source: str, modality: str, degradation: str) -> str:
    """Comparison grid (clean, degraded, every method) of one degradation of a (source, modality)."""
    return f"{_FIGURES}/evaluate/{source}_{modality}/grid_{degradation}.png"


def severity_figure(source: str, modality: str) -> str:
    """PSNR/SSIM against severity of one (source, modality)."""
    return f"{_FIGURES}/evaluate/{source}_{modality}/severity.png"


def box_figure(source: str, modality: str) -> str:
    """Per-case PSNR box plots of one (source, modality)."""
    return f"{_FIGURES}/evaluate/{source}_{modality}/box.png"


def task_dice(source: str, modality: str) -> str:
    """Per-case Dice of the segmentation U-Net on clean and restored images of one (source, modality)."""
    return f"{_EVALUATE_WORK}/task/{source}_{modality}.csv"


def task_classification(source: str, modality: str) -> str:
    """Accuracy/AUC of the lesion classifier on clean, degraded and restored patches of one (source, modality)."""
    return f"{_EVALUATE_WORK}/task_classification/{source}_{modality}.csv"


def strategy_cohort(modality: str) -> str:
    return f"{_EVALUATE_WORK}/strategy/{modality}/cohort.npz"


def strategy_runs(modality: str, strategy: str) -> str:
    """One row per training run (size x seed) of one augmentation strategy."""
    return f"{_EVALUATE_WORK}/strategy/{modality}/{strategy}_runs.csv"


def strategy_history(modality: str, strategy: str) -> str:
    """Training curves of one augmentation strategy's runs."""
    return f"{_EVALUATE_WORK}/strategy/{modality}/{strategy}_history.csv"

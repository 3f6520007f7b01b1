"""Jobs of the restoration stage: classical and interpolation methods, network training and inference,
the restoration tables and the training curves.

Numeric modules are imported inside each job (the dispatcher imports every stage's job module to
find one rule's function). Settings-derived values come from the study's
:class:`~mira.study.settings.Settings` through the plan (method lists, a network's architecture and
training settings: :class:`mira.study.plan.restore.RestorePlan`), :func:`target_scale` and
:meth:`mira.study.restore_stage.DenoiseOptions.from_settings`; no job copies config keys one by one.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ConfigError
from ..settings import Settings
from . import Job, job


def target_scale(target: str) -> int:
    """Scale of a network's training target: ``x<scale>`` (SRCNN, EDSR) -> scale, a modality (DnCNN) -> 1."""
    return int(target[1:]) if target.startswith("x") and target[1:].isdigit() else 1


def _restore_plan(settings: Settings) -> Any:
    """The restoration stage's plan (method lists and network settings) of the settings."""
    from ..plan import StudyPlan

    return StudyPlan.from_settings(settings).restore


def _methods_and_outputs(j: Job, methods: Sequence[str]) -> list[tuple[str, str]]:
    """(method, restored folder) pairs of a grouped job: the rule's outputs in the plan's method order."""
    outs = list(j.output)
    if len(outs) != len(methods):
        raise ConfigError(f"rule {j.rule}: {len(outs)} outputs for {len(methods)} methods {list(methods)}")
    return list(zip(methods, outs))


def _log_means(j: Job, method: str, table: Any) -> None:
    means = table.groupby("metric")["value"].mean()
    j.log.info("%s: PSNR %.2f dB, SSIM %.4f, %.3f s CPU per image", method, means["psnr"], means["ssim"],
               means["cpu_s"])


@job("restore_classical")
def restore_classical(j: Job) -> None:
    """The unrestored ``input`` and every classical denoiser on one paired noise folder."""
    from ..restore_stage import DenoiseOptions, restore_folder

    profile = j.settings.profile(j.wildcards.modality)
    options = DenoiseOptions.from_settings(j.settings.restore)
    for method, out in _methods_and_outputs(j, _restore_plan(j.settings).classical_methods):
        _log_means(j, method, restore_folder(j.input[0], out, method, profile, options=options))


@job("restore_interpolation")
def restore_interpolation(j: Job) -> None:
    """Every interpolation kernel on one ``downsample/x<scale>`` folder."""
    from ..restore_stage import restore_folder

    profile = j.settings.profile(j.wildcards.modality)
    for method, out in _methods_and_outputs(j, _restore_plan(j.settings).interpolation_methods):
        _log_means(j, method, restore_folder(j.input[0], out, method, profile))


@job("restore_deep")
def restore_deep(j: Job) -> None:
    """One trained network (DnCNN, SRCNN, EDSR) on one paired folder."""
    from ..restore_stage import DenoiseOptions, restore_folder

    method = j.wildcards.method
    table = restore_folder(j.input.pairs, j.output[0], method, j.settings.profile(j.wildcards.modality),
                           model=j.input.model, options=DenoiseOptions.from_settings(j.settings.restore))
    _log_means(j, method, table)


@job("train_restorer")
def train_restorer(j: Job) -> None:
    """Train one network (DnCNN per modality, SRCNN/EDSR per scale) within its budget."""
    from ...restore.training import train_restorer as train

    arch, target = j.wildcards.model, j.wildcards.target
    plan = _restore_plan(j.settings)
    arch_params, training = plan.training(arch)
    training = {**training, "threads": j.threads}
    train_dirs, val_dirs = _with_cases(j, j.input.train, "train"), _with_cases(j, j.input.val, "val")
    select = plan.selection_source(arch, target)
    if select is not None and not any(_source_of(d) == select for d in val_dirs):
        j.log.warning("restore.validate_on: %s has no validation images for %s %s; every validation image "
                      "chooses the kept weights", select, arch, target)
        select = None
    weights = plan.source_weights(arch, target)
    if weights is not None:  # sources left without training cases are left out of the mix
        kept = {_source_of(d) for d in train_dirs}
        weights = {s: w for s, w in weights.items() if s in kept}
        weights = weights if len(weights) > 1 else None
    meta = train(arch, train_dirs, val_dirs, j.output.model, seed=j.settings.seed,
                 profiles=j.settings.profiles, scale=target_scale(target), arch_params=arch_params, settings=training,
                 train_noise=j.settings.restore.train_noise.to_dict(), history_csv=j.output.history, logger=j.log,
                 source_weights=weights, select_source=select,
                 appearance=j.settings.restore.appearance.to_dict())
    j.log.info("best val PSNR %.2f dB after %d epochs (%s)", meta["best_val_psnr_db"], meta["epochs"],
               meta["stopped_by"])


def _source_of(folder: str) -> str:
    """The source of a dataset folder ``results/data/<source>/<modality>/<split>``."""
    from ...dataset import Dataset

    records = Dataset(folder).records
    return records[0].source if records else ""


def _with_cases(j: Job, folders: Sequence[str], split: str) -> list[str]:
    """The dataset folders that hold cases (a small real source may leave a split empty), logged.

    Raises
    ------
    ConfigError
        Every folder of the split is empty.
    """
    from ...dataset import Dataset

    kept = [f for f in folders if Dataset(f).records]
    for f in sorted(set(folders) - set(kept)):
        j.log.warning("%s: no %s cases; the network trains without this source's %s split", f, split, split)
    if not kept:
        raise ConfigError(f"config key restore.train_source: no {split} cases in {list(folders)} "
                          f"(give the source a split with a {split} fraction)")
    return kept


@job("restore_tables")
def restore_tables(j: Job) -> None:
    """The tidy per-case metrics of every restored folder, the targets and the trained-networks tables."""
    from ..report import restoration_targets as rt
    from ..report.restoration import write_models_table

    o = j.output
    df = rt.read_metrics(list(j.input.restored))
    rt.write_csv(df, o.metrics)
    targets = rt.write_targets(df, o.targets, o.targets_md, level=j.settings.restore.benchmark_level)
    models = write_models_table(list(j.input.sidecars), o.models, o.models_md)
    j.log.info("%d metric rows, %d targets, %d models", len(df), len(targets), len(models))


@job("restore_training_figure")
def restore_training_figure(j: Job) -> None:
    """Validation PSNR and loss curves of every trained restoration network."""
    from ..report.training_curves import training_figure

    j.log.info("%d training curves", training_figure(list(j.input), j.output[0]))


__all__ = [
    "restore_classical",
    "restore_deep",
    "restore_interpolation",
    "restore_tables",
    "restore_training_figure",
    "target_scale",
    "train_restorer",
]

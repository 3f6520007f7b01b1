"""Restoration stage plan: which restoration and training jobs the config asks for.

Jobs
    * classical denoising: one job per paired noise folder runs ``input`` (the unrestored baseline)
      and every configured classical denoiser; interpolation SR: one job per ``downsample/x<s>``
      folder runs every configured kernel;
    * deep: one job per (paired folder, network), after training;
    * training: DnCNN per modality, SRCNN and EDSR per scale (the modalities of
      ``restore.sr.train_modalities``, pooled), on the train/val splits of every source of
      ``restore.train_source`` that has those modalities (phantoms, real scans, or both mixed by weight).

The networks are the keys of ``restore.models`` (their architecture settings); a network's task is
the method list it is configured in (``restore.denoise.methods`` or ``restore.sr.methods``).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ...errors import ConfigError
from ...modalities import MODALITIES
from ...sources import SYNTHETIC_SOURCES, training_sources
from ..settings import Settings
from . import paths
from .degrade import SR_DEGRADATION, DegradePlan, check_degradation, check_sources

#: The split restored (the networks train on train/val of ``restore.train_source``).
SPLIT = "test"


class Restored(NamedTuple):
    """One restored folder: the paired folder it restores and the method."""

    source: str
    modality: str
    split: str
    degradation: str
    level: str
    method: str

    @property
    def path(self) -> str:
        return paths.restored(*self)


class RestorePlan:
    """The restoration stage's jobs.

    Parameters
    ----------
    settings : Settings
        The study settings.
    degrade : DegradePlan
        The degradation stage's plan (paired folders).
    datasets : list of (source, modality)
        Every dataset of the study.

    Raises
    ------
    ConfigError
        An unknown source, a degradation that is not one of the modality's, or no modality left to
        train the super-resolution networks on (the message names the key).
    """

    def __init__(self, settings: Settings, degrade: DegradePlan, datasets: list[tuple[str, str]]) -> None:
        cfg = self.cfg = settings.restore
        self.degrade = degrade
        known = [s for s, _ in datasets]
        check_sources("restore", cfg.sources, known)
        #: ``(source, weight)`` of every training source (``restore.train_source``), in config order.
        self.train_sources: list[tuple[str, float]] = training_sources(cfg.train_source)
        for source, _ in self.train_sources:
            if source not in known:
                raise ConfigError(f"config key restore.train_source: unknown source {source!r} "
                                  f"(known: {sorted(set(known))})")
        if cfg.validate_on and cfg.validate_on not in dict(self.train_sources):
            raise ConfigError(f"config key restore.validate_on: {cfg.validate_on!r} is not a training source "
                              f"(restore.train_source: {[s for s, _ in self.train_sources]})")
        self.validate_on: str = cfg.validate_on
        self.sr_degradation = SR_DEGRADATION
        self.all_datasets = [(s, m) for s, m in datasets if m in settings.modalities]
        self.datasets = [(s, m) for s, m in self.all_datasets if s in cfg.sources]
        self.levels: list[str] = list(cfg.levels)
        self.scales: list[int] = [int(s) for s in cfg.sr.scales]
        self.networks: list[str] = list(cfg.models)
        self.denoise_methods: list[str] = list(cfg.denoise.methods)
        self.sr_methods: list[str] = list(cfg.sr.methods)
        self.sr_train_modalities = [m for m in cfg.sr.train_modalities if m in settings.modalities]
        if self.sr_deep and self.scales and not self.sr_train_modalities:
            raise ConfigError("config key restore.sr.train_modalities: no modality of the study left to train "
                              "SRCNN/EDSR on")
        self._names = {m: self._check_names(m) for m in dict.fromkeys(m for _, m in self.datasets)}
        self._check_as_acquired()
        for arch, target in self.models():  # every network has training data of its modality
            self.training_datasets(arch, target)

    def _check_as_acquired(self) -> None:
        """Self-supervised modes train denoisers only; ``noisy_input: as_acquired`` trains on the images as
        they are: only on real (noisy) scans."""
        for arch in self.cfg.models:
            settings = self.training(arch)[1]
            if arch in self.sr_deep and self.scales and settings.get("mode", "supervised") != "supervised":
                raise ConfigError(f"config key restore.training.mode: {settings['mode']!r} is for the denoiser "
                                  f"(set it under restore.models.dncnn); {arch} is a super-resolution network")
            synthetic = [s for s, _ in self.train_sources if s in SYNTHETIC_SOURCES]
            if settings.get("noisy_input") == "as_acquired" and synthetic:
                raise ConfigError(f"config key restore.models.{arch}.noisy_input: 'as_acquired' trains on the "
                                  f"images as they are, but the training sources include the clean phantoms "
                                  f"{synthetic} (restore.train_source: list only your noisy scans, or use "
                                  "noisy_input: degrade)")

    def _check_names(self, modality: str) -> list[str]:
        names = list(self.cfg.denoise.degradations.get(modality, ()))
        for name in names:
            check_degradation(name, modality, f"restore.denoise.degradations.{modality}")
        return names

    # ---- methods ---------------------------------------------------------------------------------

    @property
    def classical_methods(self) -> list[str]:
        """Methods of the grouped classical job: ``input`` (always: the targets' baseline), then the others."""
        return ["input"] + [m for m in self.denoise_methods if m not in self.networks and m != "input"]

    @property
    def interpolation_methods(self) -> list[str]:
        """Methods of the grouped interpolation job: ``bicubic`` (always: the SR baseline), then the others."""
        return ["bicubic"] + [m for m in self.sr_methods if m not in self.networks and m != "bicubic"]

    @property
    def denoise_deep(self) -> list[str]:
        return [m for m in self.denoise_methods if m in self.networks]

    @property
    def sr_deep(self) -> list[str]:
        return [m for m in self.sr_methods if m in self.networks]

    def sr_methods_for(self, modality: str) -> list[str]:
        """Super-resolution methods run on ``modality``: every kernel; the networks if trained on it."""
        return self.interpolation_methods + (self.sr_deep if modality in self.sr_train_modalities else [])

    def degradations(self, modality: str) -> list[str]:
        """Noise degradations restored for ``modality``."""
        if modality not in self._names:
            self._names[modality] = self._check_names(modality)
        return self._names[modality]

    # ---- networks --------------------------------------------------------------------------------

    @property
    def networks_regex(self) -> str:
        """Wildcard constraint of a network name."""
        return "|".join(self.networks)

    @property
    def targets_regex(self) -> str:
        """Wildcard constraint of a network's target: a modality (denoisers) or ``x<scale>`` (SR)."""
        return "|".join(MODALITIES) + "|x[0-9]+"

    def dncnn_modalities(self) -> list[str]:
        return sorted({m for _, m in self.datasets if self.degradations(m)})

    def models(self) -> list[tuple[str, str]]:
        """Every (network, target) trained: target = modality (denoisers) or ``x<scale>`` (SR)."""
        out = [(a, m) for a in self.denoise_deep for m in self.dncnn_modalities()]
        return out + [(a, f"x{s}") for a in self.sr_deep for s in self.scales]

    def training(self, arch: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(architecture parameters, training settings) of a network: ``restore.models.<arch>`` split into
        its own keys and the ``restore.training`` keys it overrides (``budget_s`` is a training key)."""
        section = self.cfg.models[arch].to_dict()
        shared = self.cfg.training.to_dict()
        keys = set(shared) | {"budget_s"}
        arch_params = {k: v for k, v in section.items() if k not in keys}
        return arch_params, {**shared, **{k: v for k, v in section.items() if k in keys}}

    def threads(self, arch: str) -> int:
        """Threads of a network's training job."""
        return int(self.training(arch)[1]["threads"])

    def runtime(self, arch: str) -> int:
        """Minutes of a network's training job: its budget plus data preparation and slack."""
        return int(float(self.training(arch)[1].get("budget_s") or 0) // 60) + 20

    model = staticmethod(paths.network_model)
    sidecar = staticmethod(paths.network_sidecar)
    history = staticmethod(paths.network_history)

    def model_for(self, method: str, modality: str, level: str) -> str:
        """The checkpoint a network uses on a folder of ``modality`` at ``level`` (``x<scale>`` for SR)."""
        return self.model(method, modality if method in self.denoise_deep else level)

    def training_datasets(self, arch: str, target: str) -> list[tuple[str, str, float]]:
        """``(source, modality, weight)`` of every dataset a network trains on: each training source that
        has the network's modality (DnCNN) or one of ``restore.sr.train_modalities`` (SRCNN, EDSR).

        Raises
        ------
        ConfigError
            No training source has a modality the network needs.
        """
        modalities = [target] if arch in self.denoise_deep else self.sr_train_modalities
        out = [(s, m, w) for s, w in self.train_sources for m in modalities if (s, m) in self.all_datasets]
        if not out:
            raise ConfigError(f"config key restore.train_source: no training source "
                              f"{[s for s, _ in self.train_sources]} has {modalities} images for {arch}")
        return out

    def training_inputs(self, arch: str, target: str) -> dict[str, list[str]]:
        """Dataset folders a network trains and validates on (training split only; val for validation)."""
        data = self.training_datasets(arch, target)
        return {split: [paths.dataset(s, m, split) for s, m, _ in data] for split in ("train", "val")}

    def source_weights(self, arch: str, target: str) -> dict[str, float] | None:
        """Mixing weight of each training source of a network; None when it trains on one source."""
        weights = {s: w for s, _, w in self.training_datasets(arch, target)}
        return weights if len(weights) > 1 else None

    def selection_source(self, arch: str, target: str) -> str | None:
        """Source whose validation images choose a network's kept weights: ``restore.validate_on``, else
        the first real training source (None: every validation image; see :meth:`training_datasets`)."""
        sources = list(dict.fromkeys(s for s, _, _ in self.training_datasets(arch, target)))
        if self.validate_on:
            return self.validate_on if self.validate_on in sources else None
        real = [s for s in sources if s not in SYNTHETIC_SOURCES]
        return real[0] if real and len(sources) > 1 else None

    # ---- jobs ------------------------------------------------------------------------------------

    def paired(self, source: str, modality: str, split: str, degradation: str, level: str) -> str:
        return self.degrade.folder(source, modality, split, degradation, level)

    def rows(self, modality: str) -> list[tuple[str, str, list[str]]]:
        """(degradation, level, methods) restored for one modality: noise folders, then SR scales."""
        noise = self.classical_methods + self.denoise_deep
        out = [(d, lv, noise) for d in self.degradations(modality) for lv in self.levels]
        return out + [(SR_DEGRADATION, f"x{s}", self.sr_methods_for(modality)) for s in self.scales]

    def restored_folders(self, source: str | None = None, modality: str | None = None) -> list[Restored]:
        """Every restored folder, optionally of one source and modality only."""
        return [Restored(s, m, SPLIT, d, lv, meth)
                for s, m in self.datasets if source in (None, s) and modality in (None, m)
                for d, lv, methods in self.rows(m) for meth in methods]

    def all_restored(self) -> list[str]:
        return [r.path for r in self.restored_folders()]

    def targets(self) -> list[str]:
        """Final outputs of the stage (the evaluation stage draws its figures and summary tables)."""
        if not self.restored_folders():
            return []
        out = [paths.RESTORE_TARGETS.md, paths.RESTORE_MODELS.md, paths.RESTORE_METRICS]
        return out + ([paths.RESTORE_TRAINING_FIGURE] if self.models() else [])

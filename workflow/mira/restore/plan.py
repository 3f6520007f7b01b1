"""Which restoration and training jobs the configuration asks for, and where their outputs live.

Used by ``workflow/rules/restore_common.smk`` (kept in the package so it is tested like the rest)::

    plan = RestorePlan(config, DEGRADE, datasets(), "results")
    plan.restored("phantom", "ct", "test", "low_dose", "moderate", "bm3d")
    # -> results/restored/phantom/ct/test/low_dose/moderate/bm3d
    plan.model("dncnn", "ct")      # -> results/models/dncnn/ct/model.pt
    plan.model("edsr", "x2")       # -> results/models/edsr/x2/model.pt

Jobs
    * classical denoising: one job per paired noise folder runs ``input`` (the unrestored baseline)
      and every configured classical denoiser; interpolation SR: one job per ``downsample/x<s>``
      folder runs every configured kernel;
    * deep: one job per (paired folder, network), after training;
    * training: DnCNN per modality (on that modality's training phantoms), SRCNN and EDSR per scale
      (on the training phantoms of ``restore.sr.train_modalities``, pooled).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from . import METHODS, get_method
from .settings import TrainSettings, noise_specs_for, split_model_config

SR_DEGRADATION = "downsample"

#: Noise degradations restored per modality when ``restore.denoise.degradations`` does not list it.
DEFAULT_DENOISE_DEGRADATIONS: dict[str, list[str]] = {
    "ct": ["low_dose", "gaussian_noise"],
    "mri": ["rician_noise"],
    "xray": ["quantum_noise"],
    "us": ["speckle"],
}


class RestorePlan:
    """The restoration stage's jobs for a validated config (``config["restore"]`` filled with defaults).

    Parameters
    ----------
    config : mapping
        The validated configuration.
    degrade : DegradePlan
        The degradation stage's plan (paired folder paths).
    datasets : iterable of (source, modality)
        Every dataset of the study.
    results : str
        The results folder.

    Raises
    ------
    ConfigError
        Unknown source, method, degradation or model setting (the message names the key).
    """

    def __init__(self, config: Mapping, degrade: Any, datasets: Iterable[tuple[str, str]], results: str = "results"):
        self.cfg = config["restore"]
        self.seed = int(config["seed"])
        self.degrade = degrade
        self.results = results
        pairs = list(datasets)
        known = sorted({s for s, _ in pairs})
        unknown = sorted(set(self.cfg["sources"]) - set(known))
        if unknown:
            raise ConfigError(f"config key restore.sources: unknown source(s) {unknown} (known: {known})")
        study = set(config["modalities"])
        self.datasets = [(s, m) for s, m in pairs if s in self.cfg["sources"] and m in study]
        self.split = "test"
        self.levels = list(self.cfg["levels"])
        self.train_source = self.cfg["train_source"]
        if self.train_source not in known:
            raise ConfigError(f"config key restore.train_source: unknown source {self.train_source!r} (known: {known})")
        self._check_methods()
        self.scales = [int(s) for s in self.cfg["sr"]["scales"]]
        self.sr_train_modalities = [m for m in self.cfg["sr"]["train_modalities"] if m in study]
        if self.sr_deep and self.scales and not self.sr_train_modalities:
            raise ConfigError("config key restore.sr.train_modalities: no modality of the study left to train "
                              "SRCNN/EDSR on")
        self._names = {m: self._degradations(m) for _, m in self.datasets}
        for arch in self.models_used():
            self.arch_settings(arch)
        if "dncnn" in self.denoise_methods:
            for m in self.dncnn_modalities():
                noise_specs_for(m, self.cfg["train_noise"])

    # ---- configuration --------------------------------------------------------------------------------

    def _check_methods(self) -> None:
        for key, task in (("denoise", "denoise"), ("sr", "sr")):
            for name in self.cfg[key]["methods"]:
                if name not in METHODS:
                    raise ConfigError(f"config key restore.{key}.methods: unknown method {name!r} "
                                      f"(known: {', '.join(n for n, m in METHODS.items() if m.task == task)})")
                if METHODS[name].task != task:
                    raise ConfigError(f"config key restore.{key}.methods: {name!r} is a "
                                      f"{'super-resolution' if task == 'denoise' else 'denoising'} method")

    def _degradations(self, modality: str) -> list[str]:
        from ..degrade import get_model

        chosen = self.cfg["denoise"]["degradations"].get(modality)
        names = list(DEFAULT_DENOISE_DEGRADATIONS.get(modality, [])) if chosen is None else list(chosen)
        for name in names:
            if name == SR_DEGRADATION:
                raise ConfigError(f"config key restore.denoise.degradations.{modality}: '{SR_DEGRADATION}' is "
                                  "restored through restore.sr.scales")
            try:
                get_model(name, modality)
            except ConfigError as exc:
                raise ConfigError(f"config key restore.denoise.degradations.{modality}: {exc}") from None
        return names

    @property
    def denoise_methods(self) -> list[str]:
        return list(self.cfg["denoise"]["methods"])

    @property
    def sr_methods(self) -> list[str]:
        return list(self.cfg["sr"]["methods"])

    @property
    def classical_methods(self) -> list[str]:
        """Methods of the grouped classical job: ``input`` (always: the targets' baseline), then the others."""
        return ["input"] + [m for m in self.denoise_methods if not get_method(m).deep and m != "input"]

    @property
    def interpolation_methods(self) -> list[str]:
        """Methods of the grouped interpolation job: ``bicubic`` (always: the SR baseline), then the others."""
        return ["bicubic"] + [m for m in self.sr_methods if not get_method(m).deep and m != "bicubic"]

    @property
    def denoise_deep(self) -> list[str]:
        return [m for m in self.denoise_methods if get_method(m).deep]

    @property
    def sr_deep(self) -> list[str]:
        return [m for m in self.sr_methods if get_method(m).deep]

    def sr_methods_for(self, modality: str) -> list[str]:
        """Super-resolution methods run on ``modality``: every kernel; the networks if trained on it."""
        deep = self.sr_deep if modality in self.sr_train_modalities else []
        return self.interpolation_methods + deep

    def degradations(self, modality: str) -> list[str]:
        """Noise degradations restored for ``modality``."""
        return self._names.get(modality) or self._degradations(modality)

    def dncnn_modalities(self) -> list[str]:
        return sorted({m for _, m in self.datasets if self.degradations(m)})

    def models_used(self) -> list[str]:
        used = [m for m in ("dncnn",) if m in self.denoise_methods and self.dncnn_modalities()]
        return used + ([m for m in self.sr_deep] if self.scales else [])

    def arch_settings(self, arch: str) -> tuple[dict, dict]:
        """(architecture parameters, training settings as a dict) of one network, from the config."""
        section = dict(self.cfg["models"].get(arch, {}))
        params, overrides = split_model_config(arch, section)
        merged = {**self.cfg["training"], **overrides}
        try:
            TrainSettings(**merged).check()
        except TypeError as exc:
            raise ConfigError(f"config key restore.models.{arch}: {exc}") from None
        except Exception as exc:  # ParameterError from check()
            raise ConfigError(f"config key restore.models.{arch} / restore.training: {exc}") from None
        return params, merged

    # ---- paths ----------------------------------------------------------------------------------------------

    def restored(self, source: str, modality: str, split: str, degradation: str, level: str, method: str) -> str:
        """Folder of one method's restored images (contract: :mod:`mira.restore.evaluate`)."""
        return f"{self.results}/restored/{source}/{modality}/{split}/{degradation}/{level}/{method}"

    def paired(self, source: str, modality: str, split: str, degradation: str, level: str) -> str:
        return self.degrade.folder(source, modality, split, degradation, level)

    def model(self, arch: str, target: str) -> str:
        """Checkpoint of a network: target is the modality (DnCNN) or ``x<scale>`` (SRCNN, EDSR)."""
        return f"{self.results}/models/{arch}/{target}/model.pt"

    def sidecar(self, arch: str, target: str) -> str:
        return f"{self.results}/models/{arch}/{target}/model.json"

    def history(self, arch: str, target: str) -> str:
        return f"{self.results}/models/{arch}/{target}/history.csv"

    def model_for(self, method: str, modality: str, level: str) -> str:
        """The checkpoint a deep method uses on a folder of ``modality`` at ``level``."""
        return self.model(method, modality if get_method(method).task == "denoise" else level)

    def training_inputs(self, arch: str, target: str) -> dict[str, list[str]]:
        """Dataset folders a network trains and validates on (training split only; val for validation)."""
        if get_method(arch).task == "denoise":
            modalities = [target]
        else:
            modalities = self.sr_train_modalities
        base = f"{self.results}/data/{self.train_source}"
        return {"train": [f"{base}/{m}/train" for m in modalities], "val": [f"{base}/{m}/val" for m in modalities]}

    def models(self) -> list[tuple[str, str]]:
        """Every (architecture, target) trained."""
        out = [("dncnn", m) for m in self.dncnn_modalities()] if "dncnn" in self.models_used() else []
        out += [(a, f"x{s}") for a in self.sr_deep for s in self.scales]
        return out

    # ---- jobs -------------------------------------------------------------------------------------------------

    def denoise_folders(self, source: str, modality: str) -> list[tuple[str, str]]:
        return [(d, lv) for d in self.degradations(modality) for lv in self.levels]

    def sr_folders(self) -> list[tuple[str, str]]:
        return [(SR_DEGRADATION, f"x{s}") for s in self.scales]

    def all_restored(self) -> list[str]:
        out = []
        for s, m in self.datasets:
            for d, lv in self.denoise_folders(s, m):
                out += [self.restored(s, m, self.split, d, lv, meth) for meth in self.classical_methods + self.denoise_deep]
            for d, lv in self.sr_folders():
                out += [self.restored(s, m, self.split, d, lv, meth) for meth in self.sr_methods_for(m)]
        return out

    def figure(self, source: str, modality: str) -> str:
        return f"{self.results}/figures/restore/{source}_{modality}.png"

    def figure_inputs(self, source: str, modality: str) -> dict[str, list[str]]:
        """Restored and paired folders drawn in the (source, modality) figure: benchmark level and SR scales."""
        level = self.cfg["benchmark_level"]
        lv = level if level in self.levels else (self.levels[len(self.levels) // 2] if self.levels else level)
        rows = [(d, lv) for d in self.degradations(modality)] if self.levels else []
        rows += self.sr_folders()
        restored, paired = [], []
        for d, l_ in rows:
            meths = (self.sr_methods_for(modality) if d == SR_DEGRADATION
                     else self.classical_methods + self.denoise_deep)
            restored += [self.restored(source, modality, self.split, d, l_, meth) for meth in meths]
            paired.append(self.paired(source, modality, self.split, d, l_))
        return {"restored": restored, "paired": paired}

    def training_figure(self) -> str:
        return f"{self.results}/figures/restore/training.png"

    def tables(self) -> dict[str, str]:
        base = f"{self.results}/tables/restore"
        return {"metrics": f"{base}_metrics.csv", "summary": f"{base}_summary.csv", "summary_md": f"{base}_summary.md",
                "targets": f"{base}_targets.csv", "targets_md": f"{base}_targets.md",
                "models": f"{base}_models.csv", "models_md": f"{base}_models.md"}

    def targets(self) -> list[str]:
        """Final outputs of the stage (for the all-rule)."""
        if not self.all_restored():
            return []
        t = self.tables()
        out = [t["summary_md"], t["targets_md"], t["models_md"], t["metrics"]]
        out += [self.figure(s, m) for s, m in self.datasets if self.figure_inputs(s, m)["restored"]]
        if self.models():
            out.append(self.training_figure())
        return out

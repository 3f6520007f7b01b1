"""Training settings and DnCNN noise ranges, without torch: the Snakefile's job plan reads them at
parse time (on a cluster every job parses the workflow again, so this module must import fast).
:mod:`.training` uses them to train.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError, ParameterError
from ..modalities import get_profile

#: Noise models DnCNN is trained on per modality when the config gives none: the degradation and
#: the parameter varied. Without a ``range`` the parameter is drawn log-uniformly between the
#: degradation stage's calibrated mild and severe values widened by :data:`RANGE_MARGIN` on each side
#: (so the range follows :mod:`mira.degrade.levels`).
DEFAULT_TRAIN_NOISE: dict[str, list[dict[str, Any]]] = {
    "ct": [{"degradation": "low_dose", "parameter": "incident_photons"}],
    "mri": [{"degradation": "rician_noise", "parameter": "sigma"}],
    "xray": [{"degradation": "quantum_noise", "parameter": "photons_per_pixel"}],
    "us": [{"degradation": "speckle", "parameter": "looks"}],
}
RANGE_MARGIN = 1.5
HISTORY_COLUMNS = ("epoch", "steps", "lr", "train_loss", "val_psnr_db", "elapsed_s", "planned_epochs")
VAL_LEVELS = ("mild", "moderate", "severe")


@dataclass
class TrainSettings:
    """Training hyper-parameters (config ``restore.training`` merged with ``restore.models.<arch>``).

    Attributes
    ----------
    budget_s : float
        Wall-time budget of the loop (steps + validation), seconds; 0 = none (``epochs`` decides).
    epochs : int
        Maximal number of epochs.
    steps_per_epoch : int
        Optimiser steps between two validations.
    patch_size : int
        Patch side on the target (high-resolution) grid, pixels; rounded down to a multiple of the scale.
    batch_size : int
        Patches per step.
    lr : float
        Adam learning rate at the start.
    min_lr_factor : float
        Final learning rate of the cosine schedule as a fraction of ``lr``.
    patience : int
        Early stopping: epochs without a better validation PSNR before stopping.
    loss : str
        ``"mse"``, ``"l1"`` or ``"nmse"``: the MSE of each training image divided by its noise variance
        (denoising; 1 for super-resolution), so every noise level weighs the same, as in the mean
        PSNR gain, instead of the strongest noise dominating the loss.
    copies : int
        Denoising: noisy versions of each training image (each at its own random level).
    val_cases : int
        Validation images per modality (the first ones of the val split).
    threads : int
        torch CPU threads.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
    budget_clock : str
        ``"wall"`` (default): ``budget_s`` is wall-clock time; ``"cpu"``: process CPU time (all threads),
        which gives a network the same compute on a loaded machine as on an idle one (on an idle
        machine with 1 thread the two are the same).
    bn_batches : int
        Batches used to recompute batch-norm statistics before every validation (0: keep the running
        averages); see :func:`recalibrate_batch_norm`.
    """

    budget_s: float = 120.0
    epochs: int = 100
    steps_per_epoch: int = 40
    patch_size: int = 48
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_factor: float = 0.05
    patience: int = 10
    loss: str = "mse"
    copies: int = 4
    val_cases: int = 4
    threads: int = 1
    device: str = "cpu"
    bn_batches: int = 8
    budget_clock: str = "wall"

    def check(self) -> "TrainSettings":
        if self.budget_s < 0 or self.epochs < 1 or self.steps_per_epoch < 1 or self.batch_size < 1:
            raise ParameterError(f"training needs budget_s >= 0 and epochs, steps_per_epoch, batch_size >= 1: {self}")
        if self.patch_size < 8 or self.lr <= 0 or not 0 < self.min_lr_factor <= 1 or self.patience < 1:
            raise ParameterError(f"training needs patch_size >= 8, lr > 0, 0 < min_lr_factor <= 1, patience >= 1: {self}")
        if self.loss not in ("mse", "nmse", "l1"):
            raise ParameterError(f"training loss must be 'mse', 'nmse' or 'l1', got {self.loss!r}")
        if self.budget_clock not in ("wall", "cpu"):
            raise ParameterError(f"budget_clock must be 'wall' or 'cpu', got {self.budget_clock!r}")
        if self.copies < 1 or self.val_cases < 1 or self.threads < 1 or self.bn_batches < 0:
            raise ParameterError(f"training needs copies, val_cases, threads >= 1: {self}")
        return self


_SETTING_KEYS = {f for f in TrainSettings.__dataclass_fields__}


def split_model_config(architecture: str, section: Mapping[str, Any]) -> tuple[dict, dict]:
    """Split a ``restore.models.<arch>`` mapping into (architecture parameters, training overrides)."""
    arch_params = {k: v for k, v in section.items() if k not in _SETTING_KEYS}
    train = {k: v for k, v in section.items() if k in _SETTING_KEYS}
    return arch_params, train


def noise_specs_for(modality: str, specs: Mapping[str, Any] | None = None) -> list[dict]:
    """The DnCNN training noise specs of ``modality``: from ``specs`` (config) or :data:`DEFAULT_TRAIN_NOISE`."""
    from ..degrade import get_model

    mod = get_profile(modality).name
    chosen = (specs or {}).get(mod)
    chosen = DEFAULT_TRAIN_NOISE.get(mod, []) if chosen is None else chosen
    if not chosen:
        raise ConfigError(f"config key restore.train_noise.{mod}: no noise model to train a denoiser on")
    out = []
    for i, spec in enumerate(chosen):
        where = f"config key restore.train_noise.{mod}[{i}]"
        for key in ("degradation", "parameter"):
            if key not in spec:
                raise ConfigError(f"{where}: missing {key!r}")
        try:
            model = get_model(spec["degradation"], mod)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if spec["parameter"] not in model.defaults:
            raise ConfigError(f"{where}: {spec['degradation']} has no parameter {spec['parameter']!r} "
                              f"(known: {sorted(model.defaults)})")
        rng_ = spec.get("range") or _level_range(spec["degradation"], spec["parameter"], mod, where)
        lo, hi = (float(v) for v in rng_)
        if not 0 < lo <= hi:
            raise ConfigError(f"{where}: range must be [low, high] with 0 < low <= high, got {spec['range']}")
        out.append({"degradation": spec["degradation"], "parameter": spec["parameter"], "range": [lo, hi]})
    return out


def _level_range(degradation: str, parameter: str, modality: str, where: str) -> list[float]:
    """Mild..severe values of a calibrated parameter, widened by RANGE_MARGIN (looks: at least 1)."""
    from ..degrade import LEVEL_NAMES, level_params

    values = [level_params(degradation, modality, lv).get(parameter) for lv in LEVEL_NAMES]
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0 for v in values):
        raise ConfigError(f"{where}: {degradation}.{parameter} has no positive calibrated levels; give a range")
    lo, hi = min(values) / RANGE_MARGIN, max(values) * RANGE_MARGIN
    if isinstance(values[0], int):
        lo = max(1.0, lo)
    return [float(lo), float(hi)]

"""Training settings and DnCNN noise ranges, without torch: the Snakefile's job plan reads them at
parse time (on a cluster every job parses the workflow again, so this module must import fast).
:mod:`.training` uses them to train.

A ``restore.training`` mapping splits into the loop (:class:`mira.nn.TrainSettings`, the one
training-settings type of mira) and :class:`PatchSettings` (patches, loss, copies, validation
cases, batch-norm recalibration): :func:`restore_training`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError, ParameterError
from ..modalities import ModalityProfile, as_profile
from ..nn.settings import TrainSettings

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


#: Keys of ``restore.training`` (and of the training overrides in ``restore.models.<arch>``), in the
#: order the checkpoint sidecar records them (``model.json`` -> ``training``).
TRAINING_KEYS: tuple[str, ...] = ("budget_s", "epochs", "steps_per_epoch", "patch_size", "batch_size", "lr",
                                  "min_lr_factor", "patience", "loss", "copies", "val_cases", "threads", "device",
                                  "bn_batches", "budget_clock", "mode", "noisy_input", "n2n_gamma")
#: The keys that set the loop (:class:`mira.nn.TrainSettings`); the others set the data and the loss.
LOOP_KEYS: tuple[str, ...] = ("budget_s", "epochs", "steps_per_epoch", "batch_size", "lr", "min_lr_factor", "patience",
                              "threads", "device", "budget_clock")
#: Values of keys a library caller leaves out (the workflow fills every key from the schema).
LIBRARY_DEFAULTS: dict[str, Any] = {"budget_s": 120.0, "epochs": 100, "steps_per_epoch": 40, "patch_size": 48,
                                    "batch_size": 16, "lr": 1e-3, "min_lr_factor": 0.05, "patience": 10, "loss": "mse",
                                    "copies": 4, "val_cases": 4, "threads": 1, "device": "cpu", "bn_batches": 8,
                                    "budget_clock": "wall", "mode": "supervised", "noisy_input": "degrade",
                                    "n2n_gamma": 2.0}
#: Training modes (:mod:`mira.restore.self_supervised`) and the noisy images of the self-supervised ones.
MODES: tuple[str, ...] = ("supervised", "neighbor2neighbor", "noise2self")
NOISY_INPUTS: tuple[str, ...] = ("degrade", "as_acquired")


@dataclass(frozen=True)
class PatchSettings:
    """How the restoration networks' batches and loss are made (the loop is a :class:`mira.nn.TrainSettings`).

    Attributes
    ----------
    patch_size : int
        Patch side on the target (high-resolution) grid, pixels; rounded down to a multiple of the scale.
    loss : str
        ``"mse"``, ``"l1"`` or ``"nmse"``: the MSE of each training image divided by its noise variance
        (denoising; 1 for super-resolution), so every noise level weighs the same, as in the mean
        PSNR gain, instead of the strongest noise dominating the loss.
    copies : int
        Denoising: noisy versions of each training image (each at its own random level).
    val_cases : int
        Validation images per modality (the first ones of the val split).
    bn_batches : int
        Batches used to recompute batch-norm statistics before every validation (0: keep the running
        averages); see :func:`mira.restore.training.recalibrate_batch_norm`.
    mode : str
        ``"supervised"`` (pairs of degraded input and clean target), or, for denoisers only,
        ``"neighbor2neighbor"`` or ``"noise2self"``: self-supervised, trained and selected on noisy
        images only (:mod:`mira.restore.self_supervised`).
    noisy_input : str
        Self-supervised modes: ``"degrade"`` (each training/validation image is degraded with the
        training noise specs and its clean version dropped: a user with noisy scans only, simulated)
        or ``"as_acquired"`` (the images are used as they are: clinical scans, already noisy).
        Supervised training needs ``"degrade"``.
    n2n_gamma : float
        Neighbor2Neighbor regularisation weight (>= 0; paper 2).
    """

    patch_size: int = 48
    loss: str = "mse"
    copies: int = 4
    val_cases: int = 4
    bn_batches: int = 8
    mode: str = "supervised"
    noisy_input: str = "degrade"
    n2n_gamma: float = 2.0

    @property
    def self_supervised(self) -> bool:
        """True for the modes that never use a clean image."""
        return self.mode != "supervised"

    def __post_init__(self) -> None:
        if self.patch_size < 8 or self.copies < 1 or self.val_cases < 1 or self.bn_batches < 0:
            raise ParameterError(f"training needs patch_size >= 8, copies, val_cases >= 1, bn_batches >= 0: {self}")
        if self.loss not in ("mse", "nmse", "l1"):
            raise ParameterError(f"training loss must be 'mse', 'nmse' or 'l1', got {self.loss!r}")
        self._check_mode()

    def _check_mode(self) -> None:
        if self.mode not in MODES:
            raise ParameterError(f"training key mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.noisy_input not in NOISY_INPUTS:
            raise ParameterError(f"training key noisy_input must be one of {list(NOISY_INPUTS)}, "
                                 f"got {self.noisy_input!r}")
        if not self.self_supervised and self.noisy_input != "degrade":
            raise ParameterError("training key noisy_input 'as_acquired' needs a self-supervised mode "
                                 f"({MODES[1]} or {MODES[2]}): supervised training needs clean images")
        if self.self_supervised and self.loss != "mse":
            raise ParameterError(f"training key loss must be 'mse' in the self-supervised mode {self.mode}, "
                                 f"got {self.loss!r}")
        if self.mode == "neighbor2neighbor" and self.patch_size % 2:
            raise ParameterError(f"training key patch_size must be even for neighbor2neighbor, got {self.patch_size}")
        if not float(self.n2n_gamma) >= 0:
            raise ParameterError(f"training key n2n_gamma must be >= 0, got {self.n2n_gamma!r}")


def restore_training(settings: Mapping[str, Any] | None = None) -> tuple[TrainSettings, PatchSettings, dict]:
    """The loop settings, the patch settings and the full record of a ``restore.training`` mapping.

    ``settings`` holds keys of :data:`TRAINING_KEYS` (``restore.training`` merged with the overrides
    of ``restore.models.<arch>``); missing keys take :data:`LIBRARY_DEFAULTS`. The record (every key,
    in :data:`TRAINING_KEYS` order) is what the checkpoint sidecar stores.

    Raises
    ------
    ParameterError
        Unknown keys or values out of range.
    """
    given = dict(settings or {})
    bad = sorted(set(given) - set(TRAINING_KEYS))
    if bad:
        raise ParameterError(f"unknown training settings {bad} (known: {sorted(TRAINING_KEYS)})")
    record = {k: given.get(k, LIBRARY_DEFAULTS[k]) for k in TRAINING_KEYS}
    if record["epochs"] < 1 or record["steps_per_epoch"] < 1 or record["patience"] < 1:
        raise ParameterError(f"training needs epochs, steps_per_epoch, patience >= 1: {record}")
    loop = TrainSettings(**{k: record[k] for k in LOOP_KEYS}, deterministic=True)
    patch = PatchSettings(**{k: record[k] for k in TRAINING_KEYS if k not in LOOP_KEYS})
    return loop, patch, record


def split_model_config(architecture: str, section: Mapping[str, Any]) -> tuple[dict, dict]:
    """Split a ``restore.models.<arch>`` mapping into (architecture parameters, training overrides)."""
    arch_params = {k: v for k, v in section.items() if k not in TRAINING_KEYS}
    train = {k: v for k, v in section.items() if k in TRAINING_KEYS}
    return arch_params, train


def noise_specs_for(modality: ModalityProfile | str, specs: Mapping[str, Any] | None = None) -> list[dict]:
    """The DnCNN training noise specs of ``modality`` (a profile or its name): from ``specs`` (config) or
    :data:`DEFAULT_TRAIN_NOISE`."""
    from ..degrade import get_model

    mod = as_profile(modality).name
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

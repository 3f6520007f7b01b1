"""The one training-settings type of every network mira trains (no torch: parse-time code reads it).

:class:`TrainSettings` describes the *loop* of :func:`mira.nn.fit.fit`: how many epochs and steps,
the optimiser (Adam) and its learning-rate schedule, early stopping, the time budget, threads,
device, seed. What a network is (widths, levels) and how its batches are made (patch size, flips,
copies) belongs to the network's own module; the restoration networks, the U-Net, the lesion
classifier, the policy scorers and the DCGAN all train through :func:`~mira.nn.fit.fit` with one of
these.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ParameterError

BUDGET_CLOCKS = ("wall", "cpu")
BUDGET_CHECKS = ("step", "epoch")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainSettings:
    """Settings of one training run of :func:`mira.nn.fit.fit`.

    Attributes
    ----------
    epochs : int
        Largest number of epochs. An epoch is ``steps_per_epoch`` optimiser steps (or every batch
        the epoch's batch source yields) followed by the validation, if there is one.
    steps_per_epoch : int
        Optimiser steps per epoch; 0 = as many as the epoch's batches.
    batch_size : int
        Samples per optimiser step (used by the batch source of the caller).
    lr : float
        Adam learning rate at the start.
    weight_decay : float
        Adam L2 weight decay.
    betas : (float, float)
        Adam coefficients of the running averages (Adam's default 0.9, 0.999; DCGAN 0.5, 0.999).
    min_lr_factor : float
        Final learning rate of a cosine schedule as a fraction of ``lr``; 1 = constant rate. The
        cosine runs over the time budget (its position is the elapsed fraction of ``budget_s``) or,
        without a budget, over ``epochs * steps_per_epoch`` steps.
    patience : int
        Early stopping after this many epochs without a better validation score; 0 = never.
    budget_s : float
        Time budget of the loop (steps + validation), seconds; 0 = none (the epochs decide).
    budget_clock : str
        ``"wall"``: ``budget_s`` is wall-clock time; ``"cpu"``: process CPU time (all threads),
        which gives a network the same compute on a loaded machine as on an idle one.
    budget_check : str
        ``"step"``: the budget is checked after every step (the epoch is cut short, then
        validated); ``"epoch"``: after every epoch's validation (epochs are always whole).
    threads : int or None
        torch CPU threads (None: leave torch's setting).
    device : str
        ``"auto"`` (CUDA when ``torch.cuda.is_available()``, else the CPU), ``"cpu"`` or ``"cuda"``.
    seed : int or None
        With a network *factory*, the factory runs and the network trains under
        ``torch.manual_seed(seed)`` inside a forked RNG (the global stream is left untouched);
        None: no seeding (the caller built the network).
    deterministic : bool
        Train under :class:`mira.seeding.deterministic_torch` (deterministic algorithms,
        denormals flushed): bit-reproducible on the CPU for a given seed and thread count.
    """

    epochs: int = 1
    steps_per_epoch: int = 0
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    min_lr_factor: float = 1.0
    patience: int = 0
    budget_s: float = 0.0
    budget_clock: str = "wall"
    budget_check: str = "step"
    threads: int | None = None
    device: str = "auto"
    seed: int | None = None
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.steps_per_epoch < 0 or self.batch_size < 1:
            raise ParameterError(f"training needs epochs >= 1, steps_per_epoch >= 0 and batch_size >= 1: {self}")
        if not self.lr > 0 or self.weight_decay < 0 or not 0 < self.min_lr_factor <= 1:
            raise ParameterError(f"training needs lr > 0, weight_decay >= 0 and 0 < min_lr_factor <= 1: {self}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ParameterError(f"Adam betas must be two numbers in [0, 1), got {self.betas}")
        if self.patience < 0 or self.budget_s < 0:
            raise ParameterError(f"training needs patience >= 0 and budget_s >= 0: {self}")
        if self.min_lr_factor < 1 and not self.budget_s and not self.steps_per_epoch:
            raise ParameterError("a cosine schedule (min_lr_factor < 1) needs a budget_s or steps_per_epoch")
        for key, allowed in (("budget_clock", BUDGET_CLOCKS), ("budget_check", BUDGET_CHECKS)):
            if getattr(self, key) not in allowed:
                raise ParameterError(f"{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if str(self.device).split(":")[0] not in DEVICES:
            raise ParameterError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.threads is not None and self.threads < 1:
            raise ParameterError(f"threads must be >= 1, got {self.threads}")

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None, where: str = "training") -> "TrainSettings":
        """Settings from a mapping of field names (unknown keys raise ParameterError naming ``where``)."""
        m = dict(m or {})
        bad = sorted(set(m) - set(FIELDS))
        if bad:
            raise ParameterError(f"{where}: unknown training settings {bad} (known: {sorted(FIELDS)})")
        if "betas" in m:
            m["betas"] = tuple(m["betas"])
        return cls(**m)

    def replace(self, **changes: Any) -> "TrainSettings":
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


#: Field names of :class:`TrainSettings`, in order.
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainSettings))

__all__ = ["TrainSettings", "FIELDS", "BUDGET_CLOCKS", "BUDGET_CHECKS", "DEVICES"]

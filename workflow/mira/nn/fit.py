"""The one training loop of mira: :func:`fit`.

Every network mira trains goes through it: the restoration networks (DnCNN, SRCNN, EDSR), the task
study's U-Net, the strategy study's lesion classifier, the policy-search scorers and the DCGAN (whose
two-player step plugs in as ``step=``). The caller supplies the network (or a factory), a batch
source and a loss or a whole step; :class:`~mira.nn.settings.TrainSettings` says how long to train.

Loop
    ``epoch = 1, 2, ...``: the batches of ``batches(epoch)`` (at most ``steps_per_epoch`` of them)
    are moved to the device and each gets one step -- by default ``zero_grad``, ``loss(model,
    batch).backward()``, an Adam step and, with ``min_lr_factor < 1``, a cosine learning-rate
    schedule step; then ``validate(model, epoch)`` (higher is better) if given. The weights of the
    best validation epoch are kept (without validation, or if no epoch ever scores, the last
    weights). Training stops when the time budget is spent (``"budget"``), after ``patience``
    epochs without a better score (``"early_stopping"``) or after ``epochs`` epochs (``"epochs"``),
    in that order of precedence.

Determinism
    Batches are drawn lazily, one per step, so the caller's generators are consumed in the same
    order as in a hand-written loop. With ``settings.seed`` and a network factory, the factory and
    the whole training run under ``torch.manual_seed(seed)`` in a forked RNG; with
    ``settings.deterministic`` under :class:`mira.seeding.deterministic_torch`. Without a time
    budget a CPU run is then bit-identical for a given seed and thread count. GPU runs are not
    bit-reproducible (cuDNN).

Device
    The network and every batch go to :func:`mira.nn.device.resolve_device` (``settings.device``):
    the GPU when torch sees one and the device is ``"auto"``. On the CPU nothing moves.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from ..errors import ParameterError
from ..seeding import deterministic_torch
from .device import resolve_device, to_device
from .settings import TrainSettings

log = logging.getLogger(__name__)

Batches = Callable[[int], Iterable[Any]]
LossFn = Callable[[torch.nn.Module, Any], torch.Tensor]
StepFn = Callable[[torch.nn.Module, Any], float]
Validate = Callable[[torch.nn.Module, int], float]


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained network (best validation weights, eval mode) and its record.

    ``history`` has one row per epoch: ``epoch``, ``steps`` (total so far), ``lr``, ``train_loss``
    (mean of the epoch's step losses), ``score`` (validation, None without), ``elapsed_s`` (wall
    seconds) and ``planned_epochs`` (the running estimate of the epochs that fit the budget).
    """

    model: torch.nn.Module
    device: torch.device
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    epochs: int = 0
    planned_epochs: int = 0
    steps: int = 0
    stopped_by: str = ""
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run the block under ``torch.manual_seed(seed)`` in a forked RNG (the global stream is restored after).

    The CPU generator is forked, and the CUDA generator of ``device`` when it is a GPU.
    """
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


class _Clock:
    """The budget's clock: wall (``perf_counter``) or process CPU time (``process_time``)."""

    def __init__(self, kind: str):
        self.now = time.process_time if kind == "cpu" else time.perf_counter
        self.t0 = self.now()

    def reset(self) -> None:
        self.t0 = self.now()

    def spent(self) -> float:
        return self.now() - self.t0


def _cosine(s: TrainSettings, clock: _Clock) -> Callable[[int], float]:
    """Learning-rate factor: a cosine from 1 to ``min_lr_factor`` over the budget or over the steps."""
    total_steps = s.epochs * s.steps_per_epoch

    def factor(step: int) -> float:
        if s.budget_s:
            t = min(1.0, clock.spent() / s.budget_s)
        else:
            t = min(1.0, step / max(1, total_steps))
        return s.min_lr_factor + (1 - s.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def _adam_step(s: TrainSettings, module: torch.nn.Module, loss: LossFn, clock: _Clock):
    """The default step (Adam, optional cosine schedule) and its optimiser."""
    opt = torch.optim.Adam(module.parameters(), lr=s.lr, betas=tuple(s.betas), weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(s, clock)) if s.min_lr_factor < 1 else None

    def step(model: torch.nn.Module, batch: Any) -> float:
        opt.zero_grad(set_to_none=True)
        value = loss(model, batch)
        value.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return float(value.detach())

    return step, opt


class _Loop:
    """State of one :func:`fit` run (kept apart so each piece of the loop stays short)."""

    def __init__(self, module, batches, s, device, step, opt, validate, on_step, clock, score_name, logger, label):
        self.module, self.batches, self.s, self.device = module, batches, s, device
        self.step, self.opt, self.validate, self.on_step = step, opt, validate, on_step
        self.clock, self.score_name, self.label = clock, score_name, label
        self.logger, self.level = logger or log, logging.INFO if logger is not None else logging.DEBUG
        self.res = FitResult(model=module, device=device, planned_epochs=s.epochs)
        self.best_state: dict | None = None
        self.bad = 0

    def out_of_time(self, check: str) -> bool:
        s = self.s
        return bool(s.budget_s) and s.budget_check == check and self.clock.spent() >= s.budget_s

    def run_epoch(self, epoch: int) -> tuple[list[float], bool]:
        """One epoch's steps; True when the budget ran out during it."""
        batches = self.batches(epoch)
        if self.s.steps_per_epoch:
            batches = islice(batches, self.s.steps_per_epoch)
        losses: list[float] = []
        for batch in batches:
            self.module.train()
            value = self.step(self.module, to_device(batch, self.device))
            self.res.steps += 1
            losses.append(value)
            if self.on_step is not None:
                self.on_step(self.module, self.res.steps, value)
            if self.out_of_time("step"):
                return losses, True
        return losses, False

    def end_epoch(self, epoch: int, losses: list[float], elapsed: float) -> float | None:
        """Validate, record the epoch's row, keep the best weights; returns the score."""
        s, res = self.s, self.res
        score = float(self.validate(self.module, epoch)) if self.validate is not None else None
        spent = self.clock.spent()
        if s.budget_s:  # the epochs that fit the budget at the mean epoch time so far (for the log)
            fit_more = math.floor(max(0.0, s.budget_s - spent) / max(spent / epoch, 1e-9))
            res.planned_epochs = int(max(epoch, min(s.epochs, epoch + fit_more)))
        lr = self.opt.param_groups[0]["lr"] if self.opt is not None else s.lr
        row = {"epoch": epoch, "steps": res.steps, "lr": lr,
               "train_loss": float(np.mean(losses)) if losses else float("nan"), "score": score,
               "elapsed_s": elapsed, "planned_epochs": res.planned_epochs}
        res.history.append(row)
        if score is not None:
            if score > res.best_score:
                res.best_score, res.best_epoch, self.bad = score, epoch, 0
                self.best_state = copy.deepcopy(self.module.state_dict())
            else:
                self.bad += 1
        self.logger.log(self.level, "%sepoch %d/%d: loss %.3g, %s %s (best %.4g @ %d), lr %.2g, %.1f s%s", self.label,
                        epoch, res.planned_epochs, row["train_loss"], self.score_name,
                        "-" if score is None else f"{score:.4g}", res.best_score, res.best_epoch, lr, elapsed,
                        f" ({spent:.1f} of {s.budget_s:g} s {s.budget_clock})" if s.budget_s else "")
        return score

    def run(self) -> FitResult:
        s, res = self.s, self.res
        t0, c0 = time.perf_counter(), time.process_time()
        self.clock.reset()
        epoch = 0
        while not res.stopped_by:
            epoch += 1
            losses, out_of_time = self.run_epoch(epoch)
            self.end_epoch(epoch, losses, time.perf_counter() - t0)
            if out_of_time or self.out_of_time("epoch"):
                res.stopped_by = "budget"
            elif s.patience and self.bad >= s.patience:
                res.stopped_by = "early_stopping"
            elif epoch >= s.epochs:
                res.stopped_by = "epochs"
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        else:
            res.best_epoch = epoch
        self.module.eval()
        res.epochs = epoch
        res.wall_time_s, res.cpu_time_s = time.perf_counter() - t0, time.process_time() - c0
        return res


def fit(model: torch.nn.Module | Callable[[], torch.nn.Module], batches: Batches, settings: TrainSettings, *,
        loss: LossFn | None = None, step: StepFn | None = None, validate: Validate | None = None,
        on_step: Callable[[torch.nn.Module, int, float], None] | None = None, score_name: str = "val score",
        logger: logging.Logger | None = None, label: str = "") -> FitResult:
    """Train a network (module docstring) and return it with its record.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The network, trained in place, or a factory building it (under ``settings.seed``).
    batches : callable
        ``batches(epoch)`` -> iterable of batches (tensors, numpy arrays, or tuples/lists/dicts of
        them), consumed lazily, one per step.
    settings : TrainSettings
        Epochs, steps, optimiser, schedule, early stopping, budget, threads, device, seed.
    loss : callable, optional
        ``loss(model, batch)`` -> scalar tensor, for the default Adam step.
    step : callable, optional
        ``step(model, batch)`` -> float: a whole optimisation step with its own optimisers (e.g. the
        DCGAN's discriminator and generator updates). Give exactly one of ``loss`` and ``step``.
    validate : callable, optional
        ``validate(model, epoch)`` -> score after every epoch, higher is better (best weights kept,
        early stopping).
    on_step : callable, optional
        ``on_step(model, step, loss)`` after every step (e.g. a learning curve every n steps).
    score_name, logger, label
        Per-epoch log lines (INFO on ``logger``; DEBUG on this module's logger without one).

    Returns
    -------
    FitResult
    """
    if (loss is None) == (step is None):
        raise ParameterError("fit needs exactly one of loss= and step=")
    s = settings
    if s.threads:
        torch.set_num_threads(int(s.threads))
    device = resolve_device(s.device)
    seeding = seeded(s.seed, device) if s.seed is not None else contextlib.nullcontext()
    with seeding, (deterministic_torch() if s.deterministic else contextlib.nullcontext()):
        module = model if isinstance(model, torch.nn.Module) else model()
        module.to(device)
        clock = _Clock(s.budget_clock)
        opt = None
        if step is None:
            step, opt = _adam_step(s, module, loss, clock)
        loop = _Loop(module, batches, s, device, step, opt, validate, on_step, clock, score_name, logger, label)
        return loop.run()


__all__ = ["fit", "FitResult", "TrainSettings", "seeded"]

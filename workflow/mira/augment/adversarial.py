"""Adversarial augmentation: a bounded perturbation that increases a task model's loss (FGSM / PGD).

:func:`adversarial_perturbation` runs projected gradient ascent (Madry et al. 2018; one step from a
zero start is FGSM, Goodfellow et al. 2015) on the loss of a differentiable torch model:

    ``delta <- clip_eps(delta + step_size * sign(grad_delta L(model(x + delta), y)))``,
    then ``x + delta`` is projected back into the modality's physical value range,

so ``|delta|_inf <= epsilon`` in the modality's stored units (HU for CT, a fraction of the signal or
intensity for MRI, X-ray and ultrasound) and the perturbed image is still a valid image of the
modality. ``epsilon`` defaults to, and is bounded by, the profile's ``adversarial_epsilon_max``
(CT 20 HU, MRI 0.02, X-ray 0.015, ultrasound 0.03: the upper end of each profile's augmentation
noise). The target is the sample's class label (``meta["class_label"]``, cross-entropy on ``(N, C)``
logits) or its label map (cross-entropy on ``(N, C, *spatial)`` logits); any other loss
``loss(output, target) -> scalar`` can be passed.

Replay: the perturbation is a function of the model, so the history record cannot reproduce it on
its own. The record holds what the call needs and what identifies its result -- ``epsilon``,
``steps``, ``step_size``, ``target``, the random-start ``seed`` (drawn from the caller's generator)
and the perturbation's ``linf``, ``l2`` and ``sha256`` -- not the array.
:meth:`AdversarialPerturbation.replay` recomputes it with the model and checks the checksum (on the
same device and torch build, the same bytes); :func:`mira.augment.replay` and the class method
``apply`` refuse such records with a :class:`~mira.errors.ParameterError` that says so.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .base import Transform, clip_to, symmetric_range, value_range_param
from .sample import Sample, as_sample
from .spatial.sector import sector_mask

if TYPE_CHECKING:
    import torch

TARGETS = ("auto", "class", "label")


@contextmanager
def _evaluating(model: Any) -> Iterator[None]:
    """Run a torch module in ``eval()`` mode (batch-norm statistics untouched), restoring its mode after."""
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def _device_of(model: Any) -> "torch.device":
    import torch

    from ..nn.device import model_device

    return model_device(model) if isinstance(model, torch.nn.Module) else torch.device("cpu")


def _value_bounds(value_range: Any) -> tuple[float, float]:
    lo, hi = (None, None) if value_range is None else value_range
    return (-np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))


def adversarial_perturbation(image: np.ndarray, model: Callable, target: np.ndarray | int, *, epsilon: float,
                             steps: int = 1, step_size: float | None = None,
                             value_range: Any = None, loss: Callable | None = None,
                             start: np.ndarray | None = None,
                             mask: np.ndarray | None = None) -> np.ndarray:
    """L-inf bounded perturbation of ``image`` that increases ``loss(model(image + delta), target)``.

    Parameters
    ----------
    image : ndarray
        2D ``(y, x)`` or 3D ``(z, y, x)`` image in the modality's stored units; the model sees it as
        a float32 tensor of shape ``(1, 1, *image.shape)`` on the model's device.
    model : torch.nn.Module or callable
        Differentiable task model. A module is evaluated in ``eval()`` mode (its mode is restored
        afterwards); its parameters receive no gradients.
    target : int or ndarray
        Class index (for ``(1, C)`` logits) or an integer label map of ``image``'s shape (for
        ``(1, C, *spatial)`` logits).
    epsilon : float
        L-inf bound of the perturbation, stored units (>= 0).
    steps : int
        Gradient-sign steps (>= 1); 1 from a zero start is FGSM.
    step_size : float, optional
        Step length, stored units; default ``epsilon`` for one step, else ``2.5 * epsilon / steps``.
    value_range : (float or None, float or None), optional
        Physical range the perturbed image is projected into.
    loss : callable, optional
        ``loss(output, target_tensor) -> scalar tensor``; default ``torch.nn.functional.cross_entropy``.
    start : ndarray, optional
        Random start inside the epsilon ball (PGD), of ``image``'s shape; default zeros.
    mask : ndarray of bool, optional
        Pixels that may change (ultrasound: the scan sector); default all.

    Returns
    -------
    ndarray of float32
        ``delta`` with ``|delta| <= epsilon`` (up to the float32 rounding of the image values, 6e-5 HU
        at 1000 HU) and ``image + delta`` inside ``value_range``.
    """
    import torch
    import torch.nn.functional as F

    if not np.isfinite(epsilon) or epsilon < 0:
        raise ParameterError(f"epsilon={epsilon} must be >= 0")
    if int(steps) < 1:
        raise ParameterError(f"steps={steps} must be >= 1")
    step = float(step_size) if step_size is not None else (epsilon if steps == 1 else 2.5 * epsilon / steps)
    if not np.isfinite(step) or step < 0:
        raise ParameterError(f"step_size={step_size} must be >= 0")
    loss = loss or F.cross_entropy
    x0_np = np.asarray(image, dtype=np.float32)
    lo, hi = _value_bounds(value_range)
    device = _device_of(model)
    x0 = torch.from_numpy(x0_np).to(device)[None, None]
    y = torch.as_tensor(np.asarray(target, dtype=np.int64)).to(device)
    y = y[None] if y.ndim in (0, x0_np.ndim) else y
    keep = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool)).to(device)[None, None]
    delta = torch.zeros_like(x0) if start is None else torch.from_numpy(np.asarray(start, np.float32)).to(device)
    delta = delta.reshape(x0.shape)

    def project(d):
        d = torch.clamp(d, -epsilon, epsilon)
        d = torch.clamp(x0 + d, lo, hi) - x0
        return d if keep is None else torch.where(keep, d, torch.zeros_like(d))

    with _evaluating(model):
        delta = project(delta)
        for _ in range(int(steps)):
            delta.requires_grad_(True)
            value = loss(model(x0 + delta), y)
            (grad,) = torch.autograd.grad(value, delta)
            delta = project(delta.detach() + step * torch.sign(grad))
    return delta.detach()[0, 0].cpu().numpy().astype(np.float32)


def perturbation_record(delta: np.ndarray) -> dict[str, Any]:
    """``linf``, ``l2`` and ``sha256`` (of the float32 bytes) that identify a perturbation."""
    d = np.ascontiguousarray(delta, dtype=np.float32)
    return {"linf": float(np.abs(d).max(initial=0.0)), "l2": float(np.sqrt(np.sum(d.astype(np.float64) ** 2))),
            "sha256": hashlib.sha256(d.tobytes()).hexdigest()}


class AdversarialPerturbation(Transform):
    """FGSM / PGD perturbation against a task model, bounded in L-inf and by the physical range.

    See the module docstring (replay needs the model).

    Parameters
    ----------
    model : torch.nn.Module or callable
        Differentiable model mapping a ``(N, 1, *spatial)`` float32 tensor of images **in stored
        units** to logits (wrap it with its input normalisation); it runs on its own device (a GPU
        when the model lives there).
    epsilon : float, optional
        L-inf bound in stored units (HU for CT); default/limit ``profile.adversarial_epsilon_max``.
    steps : int
        Gradient-sign steps (1 = FGSM).
    step_size : float, optional
        Step length in stored units; default ``epsilon`` (one step) or ``2.5 * epsilon / steps``.
    random_start : bool
        Start from a uniform draw in the epsilon ball (PGD), drawn from the caller's generator.
    target : {"auto", "class", "label"}
        What the loss compares with: the class label ``sample.meta["class_label"]``, the label map,
        or (``auto``) the label map when the model's output has the image's spatial shape.
    loss : callable, optional
        ``loss(output, target_tensor) -> scalar tensor``; default cross-entropy.
    p : float
        Probability of applying the transform.
    modality : ModalityProfile or str, optional
        The resolved profile (``Settings.profile(m)``).

    Drawn parameters: ``epsilon``, ``steps``, ``step_size``, ``random_start``, ``seed``, ``target``,
    ``value_range``; after the perturbation, ``linf``, ``l2`` and ``sha256``. Only the image changes
    (label map and extra sequences are kept); for ultrasound with a sector geometry, pixels outside the
    sector do not change.
    """

    family = "adversarial"

    def __init__(self, model: Callable, epsilon: float | None = None, *, steps: int = 1,
                 step_size: float | None = None, random_start: bool = False, target: str = "auto",
                 loss: Callable | None = None, p: float = 1.0, modality: str | ModalityProfile | None = None):
        if not callable(model):
            raise ParameterError(f"model must be a callable torch model, got {type(model).__name__}")
        if int(steps) < 1:
            raise ParameterError(f"steps={steps} must be >= 1")
        if target not in TARGETS:
            raise ParameterError(f"target={target!r} must be one of {', '.join(TARGETS)}")
        if step_size is not None and (not np.isfinite(step_size) or step_size <= 0):
            raise ParameterError(f"step_size={step_size} must be > 0")
        self.model, self.epsilon, self.steps, self.step_size = model, epsilon, int(steps), step_size
        self.random_start, self.target, self.loss = bool(random_start), target, loss
        super().__init__(p=p, modality=modality)

    def resolve(self, profile: ModalityProfile) -> float:
        return symmetric_range(self.epsilon, profile.adversarial_epsilon_max, "epsilon", profile,
                               "adversarial_epsilon_max")[1]

    def sample_params(self, sample, rng, ranges, profile):
        eps = float(ranges)
        step = self.step_size if self.step_size is not None else (eps if self.steps == 1 else 2.5 * eps / self.steps)
        return {"epsilon": eps, "steps": self.steps, "step_size": float(step), "random_start": self.random_start,
                "seed": int(rng.integers(0, 2 ** 63 - 1)), "target": self.target,
                "value_range": value_range_param(profile)}

    def perturbation(self, sample: Sample, params: dict[str, Any]) -> np.ndarray:
        """The perturbation of ``sample.image`` a record describes, computed with this transform's model."""
        target_kind = params["target"]
        if target_kind == "auto":
            target_kind = "label" if sample.label is not None and self._dense_output(sample) else "class"
        if target_kind == "label":
            if sample.label is None:
                raise ParameterError("AdversarialPerturbation target='label' needs a sample with a label map")
            target: Any = sample.label
        else:
            cls_label = sample.meta.get("class_label")
            if cls_label is None or int(cls_label) < 0:
                raise ParameterError("AdversarialPerturbation target='class' needs sample.meta['class_label'] >= 0")
            target = int(cls_label)
        eps = float(params["epsilon"])
        start = None
        if params.get("random_start"):
            start = np.random.default_rng(int(params["seed"])).uniform(-eps, eps, sample.shape).astype(np.float32)
        fov = sample.meta.get("sector") if sample.modality == "us" else None
        mask = sector_mask(sample.shape, sample.spacing, fov) if fov is not None else None
        return adversarial_perturbation(sample.image, self.model, target, epsilon=eps, steps=int(params["steps"]),
                                        step_size=float(params["step_size"]), value_range=params.get("value_range"),
                                        loss=self.loss, start=start, mask=mask)

    def _dense_output(self, sample: Sample) -> bool:
        import torch

        with torch.no_grad(), _evaluating(self.model):
            out = self.model(torch.from_numpy(sample.image).to(_device_of(self.model))[None, None])
        return tuple(out.shape[2:]) == sample.shape

    @staticmethod
    def add(sample: Sample, delta: np.ndarray, params: dict[str, Any]) -> Sample:
        """``sample`` with ``delta`` added to its image (clipped to the record's value range)."""
        return sample.replace(image=clip_to(sample.image + np.asarray(delta, np.float32), params.get("value_range")))

    def apply_drawn(self, sample: Sample, params: dict[str, Any]) -> Sample:
        """The perturbation against the model, recorded in ``params`` (norms and hash), added to the image."""
        delta = self.perturbation(sample, params)
        params.update(perturbation_record(delta))
        return self.add(sample, delta, params)

    def replay(self, data: Any, params: dict[str, Any]) -> Any:
        """Apply a recorded perturbation again with this transform's model; raise if the result differs.

        Raises
        ------
        ParameterError
            The recomputed perturbation's checksum differs from the record's (another model, weights,
            device or torch build).
        """
        sample, back = as_sample(data, self.profile.name if self.profile is not None else None)
        delta = self.perturbation(sample, params)
        got = perturbation_record(delta)["sha256"]
        if params.get("sha256") not in (None, got):
            raise ParameterError("AdversarialPerturbation.replay: the perturbation differs from the record "
                                 f"(sha256 {got[:12]} != {str(params['sha256'])[:12]}); another model, device "
                                 "or torch build?")
        out = self.add(sample, delta, params)
        out.history.append({"transform": type(self).__name__, "params": dict(params)})
        return back(out)

    @classmethod
    def apply(cls, sample: Sample, params: dict[str, Any]) -> Sample:
        raise ParameterError("an AdversarialPerturbation record cannot be replayed without its model: use "
                             "AdversarialPerturbation(model, ...).replay(sample, params)")


__all__ = ["adversarial_perturbation", "perturbation_record", "AdversarialPerturbation", "TARGETS"]

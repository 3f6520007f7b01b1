"""Transform base class: explicit generator, recorded parameters, modality limits, replay.

Every transform follows the TorchIO pattern: the constructor takes *ranges* (``None`` means the
modality profile's limit), ``__call__(sample, rng)`` draws concrete parameters from the explicit
:class:`numpy.random.Generator` ``rng`` and then calls the pure class method
``apply(sample, params)``. The drawn parameters are appended to ``sample.history`` as
``{"transform": <class name>, "params": {...}}`` (JSON-serialisable), so a call can be logged and
replayed exactly with :func:`mira.augment.replay.replay` (or ``Transform.apply(sample, params)`` for one record).

Limits come only from the :class:`~mira.modalities.ModalityProfile` given as ``modality=`` (the
caller's resolved profile, ``Settings.profile(m)``): a range wider than the profile's limit
(or, for rotation, than its hard limit) raises :class:`~mira.errors.ParameterError` at
construction (or at the first call, when the modality is only known from the sample).
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile, as_profile
from .sample import Sample, as_sample

TRANSFORMS: dict[str, type["Transform"]] = {}


def resolve_profile(modality: str | ModalityProfile | None) -> ModalityProfile | None:
    """``None``, a modality name (built-in profile) or a profile -> profile (or None)."""
    return None if modality is None else as_profile(modality)


def check_generator(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(
            "augmentations need an explicit numpy Generator, e.g. rng=np.random.default_rng(seed) or "
            f"mira.seeding.rng_for(seed, ...); got {type(rng).__name__}")
    return rng


def check_probability(p: float, name: str = "p") -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ParameterError(f"{name}={p} must lie in [0, 1]")
    return p


def symmetric_range(value: Any, limit: float, name: str, profile: ModalityProfile, limit_name: str,
                    hard_limit: float | None = None) -> tuple[float, float]:
    """``value`` (None, scalar ``v`` meaning ``(-v, v)``, or ``(lo, hi)``) checked against a profile limit."""
    if value is None:
        return (-float(limit), float(limit))
    if np.isscalar(value):
        v = float(value)
        if v < 0 or math.isnan(v):
            raise ParameterError(f"{name}={v} must be >= 0")
        lo, hi = -v, v
    else:
        vals = [float(v) for v in value]
        if len(vals) != 2 or vals[0] > vals[1]:
            raise ParameterError(f"{name}={list(value)} must be a number or a (low, high) pair with low <= high")
        lo, hi = vals
    bound = float(hard_limit if hard_limit is not None else limit)
    if max(abs(lo), abs(hi)) > bound + 1e-12:
        what = "hard limit" if hard_limit is not None else "limit"
        raise ParameterError(
            f"{name}=({lo:g}, {hi:g}) exceeds the {profile.name} profile's {what} {limit_name}={bound:g}"
            + ("" if hard_limit is not None else f"; raise it in config profiles.{profile.name}.{limit_name}"))
    return (lo, hi)


def bounded_range(value: Any, limit: tuple[float, float], name: str, profile: ModalityProfile,
                  limit_name: str) -> tuple[float, float]:
    """``value`` (None or ``(lo, hi)``) that must lie inside the profile range ``limit``."""
    if value is None:
        return (float(limit[0]), float(limit[1]))
    if np.isscalar(value):
        value = (value, value)
    vals = [float(v) for v in value]
    if len(vals) != 2 or vals[0] > vals[1] or any(math.isnan(v) for v in vals):
        raise ParameterError(f"{name}={list(value)} must be a (low, high) pair with low <= high")
    if vals[0] < limit[0] - 1e-12 or vals[1] > limit[1] + 1e-12:
        raise ParameterError(
            f"{name}=({vals[0]:g}, {vals[1]:g}) lies outside the {profile.name} profile's {limit_name}="
            f"({limit[0]:g}, {limit[1]:g}); change config profiles.{profile.name}.{limit_name} to widen it")
    return (vals[0], vals[1])


def value_range_param(profile: ModalityProfile) -> list[float | None]:
    """JSON-friendly value range (``None`` for an infinite bound)."""
    lo, hi = profile.value_range
    return [None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi)]


def clip_to(array: np.ndarray, value_range: Any) -> np.ndarray:
    if value_range is None:
        return array
    lo, hi = value_range
    if lo is None and hi is None:
        return array
    return np.clip(array, -np.inf if lo is None else lo, np.inf if hi is None else hi).astype(np.float32, copy=False)


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays (nested) into plain Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class Transform:
    """Base class of every augmentation (see the module docstring).

    Parameters
    ----------
    p : float
        Probability of applying the transform (a skipped call records nothing).
    modality : ModalityProfile or str, optional
        The resolved profile whose limits bound the ranges (``Settings.profile(m)``). A name, or
        ``None`` (the built-in profile of each sample's ``modality``), ignores the config's
        ``profiles:`` overrides.
    """

    family: ClassVar[str] = ""
    spatial: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            TRANSFORMS[cls.__name__] = cls

    def __init__(self, *, p: float = 1.0, modality: str | ModalityProfile | None = None):
        self.p = check_probability(p)
        self.profile = resolve_profile(modality)
        self._resolved: dict[str, Any] = {}
        if self.profile is not None:
            self._resolved[self.profile.name] = self._checked(self.profile)

    # ---- to implement ------------------------------------------------------------------------
    def resolve(self, profile: ModalityProfile) -> Any:
        """Check this transform's ranges against ``profile`` and return them (cached per modality)."""
        return None

    def sample_params(self, sample: Sample, rng: np.random.Generator, ranges: Any,
                      profile: ModalityProfile) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def apply(cls, sample: Sample, params: dict[str, Any]) -> Sample:
        """Apply the transform with concrete ``params`` (pure: ``sample`` is not modified)."""
        raise NotImplementedError

    # ---- machinery ---------------------------------------------------------------------------
    def _checked(self, profile: ModalityProfile) -> Any:
        if self.family and self.family not in profile.allowed_augmentations:
            raise ParameterError(
                f"{type(self).__name__} ({self.family}) is not allowed for {profile.name} "
                f"(allowed: {', '.join(profile.allowed_augmentations)})")
        return self.resolve(profile)

    def profile_for(self, sample: Sample) -> tuple[ModalityProfile, Any]:
        """The profile that bounds this call and the checked ranges."""
        if self.profile is not None:
            if sample.modality is not None and sample.modality != self.profile.name:
                raise ParameterError(
                    f"{type(self).__name__} was built for {self.profile.name} but the sample is {sample.modality}")
            return self.profile, self._resolved[self.profile.name]
        if sample.modality is None:
            raise ParameterError(
                f"{type(self).__name__} needs a modality: pass modality= to the transform or set Sample.modality")
        if sample.modality not in self._resolved:
            self._resolved[sample.modality] = self._checked(as_profile(sample.modality))
        return as_profile(sample.modality), self._resolved[sample.modality]

    def draw(self, sample: Sample, rng: np.random.Generator) -> dict[str, Any] | None:
        """Decide (probability ``p``) and draw the parameters; ``None`` when skipped."""
        profile, ranges = self.profile_for(sample)
        if sample.ndim not in profile.ndims:
            raise ParameterError(f"{profile.name} images are {' or '.join(f'{d}D' for d in profile.ndims)}; "
                                 f"got a {sample.ndim}D sample")
        if self.p < 1.0 and rng.random() >= self.p:
            return None
        return to_jsonable(self.sample_params(sample, rng, ranges, profile))

    def __call__(self, data: Any, rng: np.random.Generator) -> Any:
        sample, back = as_sample(data, self.profile.name if self.profile is not None else None)
        check_generator(rng)
        params = self.draw(sample, rng)
        if params is None:
            return back(sample)
        out = self.apply_drawn(sample, params)
        out.history.append({"transform": type(self).__name__, "params": params})
        return back(out)

    def apply_drawn(self, sample: Sample, params: dict[str, Any]) -> Sample:
        """Apply the call's drawn ``params`` (:meth:`apply`); a transform whose result needs more than its
        parameters (an adversarial perturbation needs its model) overrides this and may add to ``params``."""
        return type(self).apply(sample, params)

    def __repr__(self) -> str:
        mod = self.profile.name if self.profile is not None else None
        return f"{type(self).__name__}(p={self.p}, modality={mod!r})"

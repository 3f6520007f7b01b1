"""Config values only the library can judge: degradation parameter overrides and DnCNN training noise.

The schema checks types and ranges and :mod:`mira.study.plan` checks names against the study; whether
``degrade.parameters.ct.low_dose.severe: {incident_photons: -5}`` is a possible dose, or whether
``restore.train_noise`` names a parameter of its degradation, only the physics can say. These checks
run the library (numpy), so the Snakefile calls :func:`check_library_overrides` only when the config
sets one of those keys: a config without overrides plans without importing numerics, and a bad
override still stops the run before any job starts, naming the key.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..degrade import apply, level_params
from ..errors import ConfigError, ParameterError
from ..modalities import ModalityProfile
from ..restore.settings import noise_specs_for
from .plan import StudyPlan


def check_library_overrides(plan: StudyPlan) -> None:
    """Check ``degrade.parameters`` (known parameters, a trial run) and ``restore.train_noise``.

    Parameters
    ----------
    plan : StudyPlan
        The study plan (its settings hold the validated config and the resolved profiles).

    Raises
    ------
    ConfigError
        An unknown parameter, a value the physics refuses or that leaves the image unchanged, or a
        training noise spec that names no parameter of its degradation (the message names the key).
    """
    settings = plan.settings
    overrides = settings.degrade.parameters.to_dict()
    for modality, per_name in overrides.items():
        for name, per_level in (per_name or {}).items():
            for level in per_level or {}:
                where = f"config key degrade.parameters.{modality}.{name}.{level}"
                level_params(name, settings.profile(modality), level, overrides)
                _trial_run(name, settings.profile(modality), level, overrides, where)
    train_noise = settings.restore.train_noise.to_dict()
    if train_noise and plan.restore.denoise_deep:
        for modality in plan.restore.dncnn_modalities():
            noise_specs_for(settings.profile(modality), train_noise)


def _trial_run(name: str, profile: ModalityProfile, level: str, overrides: Mapping, where: str) -> None:
    """Run one overridden level on a small uniform image, so that an impossible value (a negative or
    zero dose, noise level, size...) stops the run before any job starts, naming the config key."""
    lo, hi = profile.value_range
    hi = hi if np.isfinite(hi) else lo + 1.0
    image = np.full((32, 32), lo + 0.25 * (hi - lo), np.float32)
    image[8:24, 8:24] = lo + 0.6 * (hi - lo)  # an edge, so blur-type degradations change something too
    try:
        out = apply(name, image, level, np.random.default_rng(0), profile=profile, overrides=overrides)
    except ParameterError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if out.image.shape == out.reference.shape and np.array_equal(out.image, out.reference):
        raise ConfigError(f"{where}: these parameters leave the image unchanged (a zero noise level, dose "
                          f"or size?): {dict(((overrides.get(profile.name) or {}).get(name) or {}).get(level) or {})}")

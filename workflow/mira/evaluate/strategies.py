"""Augmentation strategies compared by the strategy study, built from :mod:`mira.augment`.

Every strategy stays inside the modality profile's limits (the transforms draw their ranges from
the :class:`~mira.modalities.ModalityProfile` the caller passes: ``Settings.profile(m)``, with the
config's ``profiles:`` overrides):

=============  =================================================================================
strategy       what each training image gets
=============  =================================================================================
``none``       nothing (the baseline)
``basic``      geometric: random affine (rotation, translation, scaling, shear at the profile
               limits) and a left-right flip with probability 0.5
``intensity``  one of contrast / brightness / gamma, Gaussian (Rician for MRI) noise with p = 0.5,
               Gaussian blur with p = 0.3
``advanced``   elastic B-spline deformation (p = 0.7, where the modality allows it), random
               occlusion boxes (p = 0.5) and the modality's own transform (MRI bias field,
               ultrasound speckle; p = 0.5)
``mixup``      batch-level Mixup (Zhang et al. 2018), ``lam ~ Beta(alpha, alpha)``; ``mixup_alpha:
               chapter`` is the textbook chapter's alpha 1.0
``cutmix``     batch-level CutMix (Yun et al. 2019)
``policy``     the AutoAugment-style policy found by the augment stage's search
               (``results/augment/policy/<modality>.json``)
``gan``        synthetic images from the augment stage's DCGAN added to the training pool,
               pseudo-labelled by the ``none`` classifier of the same size and seed (soft labels;
               the GAN is unconditional, so it has no labels of its own)
=============  =================================================================================
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile, as_profile

PathLike = Union[str, os.PathLike]

STRATEGIES: tuple[str, ...] = ("none", "basic", "intensity", "advanced", "mixup", "cutmix", "mixup_cutmix", "policy",
                               "gan")

DESCRIPTIONS = {
    "none": "no augmentation (baseline)",
    "basic": "geometric: affine at the profile limits + left-right flip",
    "intensity": "contrast/brightness/gamma, noise, blur",
    "advanced": "elastic (where allowed), occlusion, modality-specific (bias field / speckle)",
    "mixup": "Mixup (batch level)",
    "cutmix": "CutMix (batch level)",
    "mixup_cutmix": "the chapter's switch: CutMix with probability cutmix_prob, else Mixup (batch level)",
    "policy": "searched AutoAugment-style policy",
    "gan": "DCGAN samples, pseudo-labelled by the baseline",
}


@dataclass
class Strategy:
    """One strategy: a per-sample ``transform(sample, rng)`` and/or a batch-level mix, or GAN data."""

    name: str
    transform: Callable[[Any, np.random.Generator], Any] | None = None
    batch_mix: str | None = None
    mix_alpha: float = 1.0
    uses_gan: bool = False
    detail: str = ""
    cutmix_alpha: float = 1.0
    cutmix_prob: float = 0.5

    @property
    def mixer(self) -> Any:
        """The batch mixer ``mixer(inputs, targets, generator) -> MixedBatch``, or None (no batch mixing).

        ``mixup``: :class:`~mira.augment.Mixup` (``mix_alpha``); ``cutmix``: :class:`~mira.augment.CutMix`
        (``mix_alpha``); ``mixup_cutmix``: :class:`~mira.augment.MixupOrCutMix` (``mix_alpha`` for Mixup,
        ``cutmix_alpha`` and ``cutmix_prob`` for CutMix).
        """
        from ..augment.mixing import CutMix, Mixup, MixupOrCutMix

        if self.batch_mix is None:
            return None
        if self.batch_mix == "mixup":
            return Mixup(self.mix_alpha)
        if self.batch_mix == "cutmix":
            return CutMix(self.mix_alpha)
        return MixupOrCutMix(self.mix_alpha, self.cutmix_alpha, self.cutmix_prob)

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.name, self.name) + (f" ({self.detail})" if self.detail else "")


class _Identity:
    def __call__(self, data, rng):
        return data


def load_policy(path: PathLike, profile: ModalityProfile | str):
    """The best policy of an augment-stage search result JSON (identity if the baseline won).

    Returns ``(policy, name)``.
    """
    from ..augment.policy import policy_from_dict

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no policy search result (run the augment_policy rule for this modality)")
    try:
        best = json.loads(p.read_text(encoding="utf-8")).get("best")
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from None
    if not best or best.get("kind") == "none":
        return _Identity(), "no_augmentation"
    return policy_from_dict(best, modality=as_profile(profile)), str(best.get("name", "policy"))


def _batch_strategy(name: str, mixup_alpha: float | str, cutmix_alpha: float | str, cutmix_prob: float) -> Strategy:
    """The batch-level strategies: ``mixup``, ``cutmix`` and the chapter's switch ``mixup_cutmix``."""
    from ..augment.mixing import MixupOrCutMix, resolve_alpha

    if name == "mixup_cutmix":
        mixer = MixupOrCutMix(mixup_alpha, cutmix_alpha, cutmix_prob)  # checks the alphas and the probability
        return Strategy(name, batch_mix=name, mix_alpha=mixer.mixup_alpha, cutmix_alpha=mixer.cutmix_alpha,
                        cutmix_prob=mixer.cutmix_prob,
                        detail=f"p(CutMix) {mixer.cutmix_prob:g}, alpha {mixer.mixup_alpha:g} / {mixer.cutmix_alpha:g}")
    given = mixup_alpha if name == "mixup" else cutmix_alpha
    alpha = resolve_alpha(given, f"{name}_alpha")
    return Strategy(name, batch_mix=name, mix_alpha=alpha,
                    detail=f"alpha {alpha:g}" + (" (chapter)" if isinstance(given, str) else ""))


def build_strategy(name: str, profile: ModalityProfile | str, *, policy_path: PathLike | None = None,
                   mixup_alpha: float | str = 0.4, cutmix_alpha: float | str = 1.0,
                   cutmix_prob: float = 0.5) -> Strategy:
    """The :class:`Strategy` called ``name`` for the modality of ``profile`` (module docstring).

    ``profile`` is the resolved modality profile whose limits bound every transform; a modality name
    means the built-in profile (no config overrides).

    ``mixup_alpha`` and ``cutmix_alpha`` are Beta parameters > 0 or ``"chapter"`` (1.0,
    :data:`mira.augment.mixing.CHAPTER_MIXUP_ALPHA`). ``mixup_cutmix`` switches per batch between the two
    (CutMix with probability ``cutmix_prob`` in [0, 1]), as the chapter does.

    Raises
    ------
    ParameterError
        Unknown name, or ``policy`` without ``policy_path``.
    """
    from ..augment import (
        Compose,
        ElasticDeformation,
        OneOf,
        RandomAffine,
        RandomBiasField,
        RandomBlur,
        RandomBrightness,
        RandomContrast,
        RandomFlip,
        RandomGamma,
        RandomNoise,
        RandomOcclusion,
        RandomSpeckle,
    )

    prof = as_profile(profile)
    allowed = set(prof.allowed_augmentations)
    if name == "none":
        return Strategy(name)
    if name == "basic":
        return Strategy(name, Compose([RandomAffine(modality=prof),
                                       RandomFlip(axes=(-1,), flip_probability=0.5, modality=prof)]))
    if name == "intensity":
        return Strategy(name, Compose([
            OneOf([RandomContrast(modality=prof), RandomBrightness(modality=prof), RandomGamma(modality=prof)]),
            RandomNoise(modality=prof, p=0.5), RandomBlur(modality=prof, p=0.3)]))
    if name == "advanced":
        steps: list = []
        parts = []
        if "elastic" in allowed and prof.elastic_max_displacement_mm > 0:
            steps.append(ElasticDeformation(modality=prof, p=0.7))
            parts.append("elastic")
        if "occlusion" in allowed:
            steps.append(RandomOcclusion(modality=prof, p=0.5))
            parts.append("occlusion")
        if "bias_field" in allowed and prof.bias_field_max > 0:
            steps.append(RandomBiasField(modality=prof, p=0.5))
            parts.append("bias field")
        if "speckle" in allowed:
            steps.append(RandomSpeckle(modality=prof, p=0.5))
            parts.append("speckle")
        return Strategy(name, Compose(steps) if steps else None, detail=" + ".join(parts))
    if name in ("mixup", "cutmix", "mixup_cutmix"):
        return _batch_strategy(name, mixup_alpha, cutmix_alpha, cutmix_prob)
    if name == "policy":
        if policy_path is None:
            raise ParameterError("the 'policy' strategy needs the policy search result (policy_path)")
        pol, pol_name = load_policy(policy_path, prof)
        return Strategy(name, pol, detail=pol_name)
    if name == "gan":
        return Strategy(name, uses_gan=True)
    raise ParameterError(f"unknown augmentation strategy {name!r} (known: {', '.join(STRATEGIES)})")


__all__ = ["STRATEGIES", "DESCRIPTIONS", "Strategy", "build_strategy", "load_policy"]

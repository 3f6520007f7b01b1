"""Composition: ``Compose`` (in order, consecutive spatial transforms fused into one resampling),
``OneOf`` (one transform chosen at random) and the standard per-modality pipeline.

In a PyTorch ``DataLoader``, :class:`mira.torch_data.MiraDataset` applies a transform to every case
of a dataset folder with a generator derived from ``(seed, epoch, case)``, so the bytes do not
depend on the number of workers; a transform also accepts tensors and ``{"image": ..., "label":
...}`` dicts and returns the same kind (:func:`mira.augment.sample.as_sample`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile, as_profile
from .base import Transform, check_generator, check_probability
from .intensity import RandomBrightness, RandomContrast, RandomGamma, RandomNoise
from .modality_specific import RandomBiasField, RandomSpeckle
from .sample import as_sample
from .spatial import ElasticDeformation, RandomAffine, SpatialTransform, resample_chain


class Compose:
    """Apply transforms in order; runs of spatial transforms are fused into ONE resampling.

    Each member keeps its own probability ``p``; ``p`` here is the probability of running the
    whole composition. Fused records carry ``"fused_with_next": True`` so :func:`replay`
    reproduces the single resampling.
    """

    def __init__(self, transforms: Sequence[Any], p: float = 1.0):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise ParameterError(f"Compose members must be transforms, got {type(t).__name__}")
        self.p = check_probability(p)

    def __call__(self, data: Any, rng: np.random.Generator) -> Any:
        sample, back = as_sample(data)
        check_generator(rng)
        if self.p < 1.0 and rng.random() >= self.p:
            return back(sample)
        i = 0
        ts = self.transforms
        while i < len(ts):
            if isinstance(ts[i], SpatialTransform):
                group = []
                while i < len(ts) and isinstance(ts[i], SpatialTransform):
                    group.append(ts[i])
                    i += 1
                sample = self._fused(sample, group, rng)
            else:
                sample = ts[i](sample, rng)
                i += 1
        return back(sample)

    @staticmethod
    def _fused(sample, group, rng):
        if len(group) == 1:
            return group[0](sample, rng)
        chain = []
        for t in group:
            params = t.draw(sample, rng)
            if params is not None:
                chain.append((type(t), params))
        return apply_records(sample, chain)

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + f"], p={self.p})"


class OneOf:
    """Apply exactly one of ``transforms`` (chosen with ``weights``), with probability ``p``."""

    def __init__(self, transforms: Sequence[Any], weights: Sequence[float] | None = None, p: float = 1.0):
        self.transforms = list(transforms)
        if not self.transforms:
            raise ParameterError("OneOf needs at least one transform")
        w = np.ones(len(self.transforms)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(self.transforms),) or np.any(w < 0) or w.sum() <= 0:
            raise ParameterError(f"OneOf weights {weights} must be {len(self.transforms)} non-negative numbers, "
                                 "not all 0")
        self.weights = w / w.sum()
        self.p = check_probability(p)

    def __call__(self, data: Any, rng: np.random.Generator) -> Any:
        check_generator(rng)
        if self.p < 1.0 and rng.random() >= self.p:
            return data
        k = int(rng.choice(len(self.transforms), p=self.weights))
        return self.transforms[k](data, rng)

    def __repr__(self) -> str:
        return "OneOf([" + ", ".join(repr(t) for t in self.transforms) + "])"


def apply_records(sample, records: Sequence[tuple[type, dict]]):
    """Apply ``(transform class, params)`` records in order, fusing runs of spatial ones into one
    resampling, and append them to the history (as :func:`replay` expects)."""
    i = 0
    records = list(records)
    while i < len(records):
        if records[i][0].spatial:
            chain = []
            while i < len(records) and records[i][0].spatial:
                chain.append(records[i])
                i += 1
            out = resample_chain(sample, chain) if len(chain) > 1 else chain[0][0].apply(sample, chain[0][1])
            for k, (cls, params) in enumerate(chain):
                rec = {"transform": cls.__name__, "params": params}
                if k < len(chain) - 1:
                    rec["fused_with_next"] = True
                out.history.append(rec)
            sample = out
        else:
            cls, params = records[i]
            sample = cls.apply(sample, params)
            sample.history.append({"transform": cls.__name__, "params": params})
            i += 1
    return sample


def standard_pipeline(profile: ModalityProfile | str, *, p_affine: float = 1.0, p_elastic: float = 0.5,
                      p_intensity: float = 0.5, p_noise: float = 0.5, p_modality: float = 0.5,
                      image_order: int = 1) -> Compose:
    """The standard random pipeline of a modality, every range at the limits of ``profile``.

    ``profile`` is the resolved modality profile (``Settings.profile(m)``); a modality name means the
    built-in profile (no config overrides).

    Affine (+ elastic where allowed; one fused resampling), then contrast/brightness/gamma (one of),
    noise, and the modality's own transform: bias field for MRI, speckle for ultrasound.
    """
    prof = as_profile(profile)
    spatial: list[Transform] = [RandomAffine(modality=prof, p=p_affine, image_order=image_order)]
    if "elastic" in prof.allowed_augmentations and prof.elastic_max_displacement_mm > 0:
        spatial.append(ElasticDeformation(modality=prof, p=p_elastic, image_order=image_order))
    steps: list[Any] = [*spatial,
                        OneOf([RandomContrast(modality=prof), RandomBrightness(modality=prof),
                               RandomGamma(modality=prof)],
                              p=p_intensity),
                        RandomNoise(modality=prof, p=p_noise)]
    if "bias_field" in prof.allowed_augmentations and prof.bias_field_max > 0:
        steps.append(RandomBiasField(modality=prof, p=p_modality))
    if "speckle" in prof.allowed_augmentations:
        steps.append(RandomSpeckle(modality=prof, p=p_modality))
    return Compose(steps)


__all__ = ["Compose", "OneOf", "standard_pipeline", "apply_records"]

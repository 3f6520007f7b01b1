"""The catalogue of transforms a modality allows, at the profile's ranges, and dataset loading.

Used by the demonstration figure, the summary table and the constraint checks, so all three
describe exactly the same transforms. :class:`~mira.augment.AdversarialPerturbation` is not in the
catalogue: it needs a trained task model, which the augmentation stage does not have (library use).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .compose import standard_pipeline
from .intensity import RandomBlur, RandomBrightness, RandomContrast, RandomGamma, RandomNoise
from .modality_specific import RandomBiasField, RandomSectorAngle, RandomSpeckle
from .multisequence import MultiSequenceFusion
from .occlusion import RandomOcclusion
from .sample import Sample
from .spatial import (
    ElasticDeformation,
    ProjectionGeometry,
    RandomFlip,
    RandomRotation,
    RandomScaling,
    RandomShear,
    RandomTranslation,
    estimate_sector,
)

PathLike = Union[str, os.PathLike]

#: The textbook elastic setting (Simard et al. 2003; the classic CT demo), pixels.
TEXTBOOK_ALPHA, TEXTBOOK_SIGMA = 800.0, 6.0


@dataclass
class Entry:
    """One catalogue entry: a named transform, its family and the panel row of the demo figure."""

    name: str
    family: str
    row: str
    transform: Any
    within_profile: bool = True


class TextbookElastic(ElasticDeformation):
    """The textbook Simard field (alpha=800, sigma=6 pixels) WITHOUT the profile's displacement limit.

    Only for demonstrations and the constraint table (it shows why the limit exists); use
    :class:`ElasticDeformation` in training.
    """

    def __init__(self, *, modality=None, p: float = 1.0):
        super().__init__(alpha=TEXTBOOK_ALPHA, sigma=TEXTBOOK_SIGMA, modality=modality, p=p)

    def sample_params(self, sample, rng, ranges, profile):
        params = super().sample_params(sample, rng, ranges, profile)
        params["max_displacement_mm"] = None
        return params


def catalogue(profile: ModalityProfile, ndim: int = 2, sector: bool = True, sequences: bool = False) -> list[Entry]:
    """Every transform ``profile`` allows, with ranges at the profile's limits.

    ``sector=False`` leaves out the ultrasound sector-angle change (images without a sector geometry);
    ``sequences=True`` adds the MRI multi-sequence fusion (every sample has two or more sequences).
    """
    allowed = set(profile.allowed_augmentations)
    out: list[Entry] = []

    def add(name, family, row, factory, within=True):
        if family in allowed:
            out.append(Entry(name, family, row, factory(), within))

    add("rotation", "geometric", "basic", lambda: RandomRotation(modality=profile))
    add("translation", "geometric", "basic", lambda: RandomTranslation(modality=profile))
    add("scaling", "geometric", "basic", lambda: RandomScaling(modality=profile))
    if profile.shear_max_deg > 0:
        add("shear", "geometric", "basic", lambda: RandomShear(modality=profile))
    add("flip_lr", "geometric", "basic", lambda: RandomFlip(axes=(-1,), flip_probability=1.0, modality=profile))
    add("contrast", "intensity", "intensity", lambda: RandomContrast(modality=profile))
    add("brightness", "intensity", "intensity", lambda: RandomBrightness(modality=profile))
    add("gamma", "intensity", "intensity", lambda: RandomGamma(modality=profile))
    add("noise", "intensity", "intensity", lambda: RandomNoise(modality=profile))
    add("blur", "intensity", "intensity", lambda: RandomBlur(modality=profile))
    if profile.elastic_max_displacement_mm > 0:
        add("elastic", "elastic", "advanced", lambda: ElasticDeformation(modality=profile))
        add("elastic_textbook", "elastic", "advanced", lambda: TextbookElastic(modality=profile), within=False)
    add("occlusion", "occlusion", "advanced", lambda: RandomOcclusion(modality=profile))
    if profile.bias_field_max > 0:
        add("bias_field", "bias_field", "advanced", lambda: RandomBiasField(modality=profile))
    add("speckle", "speckle", "advanced", lambda: RandomSpeckle(modality=profile))
    if ndim == 2 and sector and profile.sector_angle_max_deg > 0:
        add("sector_angle", "sector", "advanced", lambda: RandomSectorAngle(modality=profile))
    if sequences:
        add("sequence_fusion", "sequence_fusion", "advanced",
            lambda: MultiSequenceFusion(gamma_range=None, modality=profile))
    if ndim == 2 and profile.source_image_distance_mm > 0:
        add("projection_geometry", "projection", "advanced", lambda: ProjectionGeometry(modality=profile))
    out.append(Entry("standard_pipeline", "composed", "advanced", standard_pipeline(profile)))
    return out


def load_samples(folder: PathLike, max_cases: int | None = None, sequences: bool = True,
                 profile: ModalityProfile | None = None) -> list[Sample]:
    """Load a dataset folder (:class:`mira.dataset.Dataset`) as samples, with legend and class labels.

    Ultrasound samples get their sector geometry (``meta["sector"]``) from :func:`estimate_sector`
    (``None`` for linear-array images).
    """
    from ..dataset import Dataset

    ds = Dataset(folder)
    recs = ds.records[: max_cases] if max_cases is not None else ds.records
    return [case_sample(ds, rec, sequences) for rec in recs]


def case_sample(ds, rec, sequences: bool = True) -> Sample:
    """One case of an opened :class:`mira.dataset.Dataset` as a sample (legend, class label; the
    sector geometry of a 2D ultrasound image in ``meta["sector"]``)."""
    case = ds.load(rec, sequences=sequences)
    s = Sample.from_case(case, modality=rec.modality, legend=ds.legend)
    if rec.modality == "us" and s.ndim == 2:
        sector = estimate_sector(s.image, s.spacing)
        if sector is not None:
            s.meta["sector"] = sector
    return s


def catalogue_for(profile: ModalityProfile, samples) -> list[Entry]:
    """The catalogue that applies to ``samples`` (dimension, a sector geometry for every ultrasound case,
    two or more co-registered sequences for every MRI case)."""
    samples = list(samples)
    return catalogue(profile, samples[0].ndim, sector=all(s.meta.get("sector") is not None for s in samples),
                     sequences=all(_fusable(s) for s in samples))


def _fusable(sample: Sample) -> bool:
    """Whether :class:`MultiSequenceFusion` finds two or more channels to combine in ``sample``."""
    try:
        MultiSequenceFusion().source_names(sample)
    except ParameterError:
        return False
    return True


def lesion_labels(legend: dict[int, str]) -> list[int]:
    """Label values whose names denote pathology (lesion, tumour, nodule, metastasis, ...)."""
    words = ("lesion", "tumor", "tumour", "nodule", "metast", "infarct", "haemorrh", "hemorrh")
    return sorted(v for v, n in legend.items() if v != 0 and any(w in n.lower() for w in words))


def organ_labels(legend: dict[int, str], label: np.ndarray | None, min_pixels: int = 30) -> list[int]:
    """Non-background, non-lesion labels with at least ``min_pixels`` pixels in ``label``."""
    if label is None:
        return []
    les = set(lesion_labels(legend))
    vals, counts = np.unique(label, return_counts=True)
    return [int(v) for v, c in zip(vals, counts) if v != 0 and int(v) not in les and c >= min_pixels]


__all__ = ["Entry", "catalogue", "catalogue_for", "load_samples", "case_sample", "lesion_labels", "organ_labels",
           "TextbookElastic", "TEXTBOOK_ALPHA", "TEXTBOOK_SIGMA"]

"""Modality-aware augmentation: geometric, intensity, elastic, occlusion, modality-specific,
Mixup/CutMix, AutoAugment-style policy search and DCGAN synthesis, with constraint checks.

Every transform takes an explicit numpy ``Generator``, draws its parameters within the limits of
the modality profile (:func:`mira.modalities.get_profile`), records them in ``sample.history`` and
can be replayed exactly (:func:`replay`). Images and label maps move together; consecutive spatial
transforms inside :class:`Compose` are resampled once.

Quick start::

    import numpy as np
    from mira.augment import Sample, Compose, RandomAffine, ElasticDeformation, RandomNoise, replay

    rng = np.random.default_rng(0)
    s = Sample(image=ct_hu, label=labels, spacing=(1.0, 1.0), modality="ct")
    aug = Compose([RandomAffine(), ElasticDeformation(p=0.5), RandomNoise()])
    out = aug(s, rng)                       # rotation <= 5 deg, elastic <= 4 mm, noise 10-20 HU
    again = replay(s, out.history)          # the same bytes

Sub-modules: ``policy`` (AutoAugment-style search), ``gan`` (DCGAN synthesis), ``constraints``
(medical-constraint checks), ``demo`` (panels of the demonstration figure, summary of variants). What the
rules run on dataset folders is in :mod:`mira.study.augment_stage`.
"""
from .adversarial import AdversarialPerturbation, adversarial_perturbation
from .base import TRANSFORMS, Transform
from .compose import Compose, OneOf, standard_pipeline
from .intensity import (
                        RandomBlur,
                        RandomBrightness,
                        RandomContrast,
                        RandomGamma,
                        RandomNoise,
                        add_noise,
                        adjust_brightness,
                        adjust_contrast,
                        adjust_gamma,
                        gaussian_blur,
)
from .mixing import CHAPTER_MIXUP_ALPHA, CutMix, MixedBatch, Mixup, MixupOrCutMix, cutmix, mixup
from .modality_specific import (
                        RandomBiasField,
                        RandomSectorAngle,
                        RandomSpeckle,
                        bias_field,
                        speckle_factor,
)
from .multisequence import MultiSequenceFusion, fuse_sequences
from .occlusion import RandomOcclusion
from .policy import (
                        OPS,
                        Policy,
                        RandAugment,
                        policy_from_dict,
                        random_policy,
                        search_policy,
)
from .replay import replay
from .sample import Sample
from .spatial import (
                        ElasticDeformation,
                        ProjectionGeometry,
                        RandomAffine,
                        RandomFlip,
                        RandomRotation,
                        RandomScaling,
                        RandomShear,
                        RandomTranslation,
                        elastic_deform_simard,
                        estimate_sector,
                        paired_labels,
                        projection_homography,
                        resample_chain,
                        sector_mask,
                        simard_displacement,
)
from .tta import inverse, tta_predict

__all__ = [
    "Sample", "Transform", "TRANSFORMS", "replay", "Compose", "OneOf", "standard_pipeline",
    "RandomAffine", "RandomRotation", "RandomTranslation", "RandomScaling", "RandomShear", "RandomFlip",
    "ElasticDeformation", "elastic_deform_simard", "simard_displacement", "resample_chain", "paired_labels",
    "RandomContrast", "RandomBrightness", "RandomGamma", "RandomNoise", "RandomBlur",
    "adjust_contrast", "adjust_brightness", "adjust_gamma", "add_noise", "gaussian_blur",
    "RandomBiasField", "RandomSpeckle", "RandomSectorAngle", "bias_field", "speckle_factor", "estimate_sector",
    "sector_mask", "RandomOcclusion",
    "mixup", "cutmix", "Mixup", "CutMix", "MixedBatch", "MixupOrCutMix", "CHAPTER_MIXUP_ALPHA",
    "inverse", "tta_predict",
    "OPS", "Policy", "RandAugment", "random_policy", "policy_from_dict", "search_policy",
    "MultiSequenceFusion", "fuse_sequences", "ProjectionGeometry", "projection_homography",
    "AdversarialPerturbation", "adversarial_perturbation",
]

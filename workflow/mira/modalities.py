"""Modality profiles: the physical units, value ranges and augmentation limits of each modality.

A :class:`ModalityProfile` is the single place where modality knowledge lives. The synthesiser,
ingestion, augmenter, degrader and evaluator all read it; nothing re-types these numbers.

Stored image conventions (the data contract of every rule):

=========  ===============================  ===================  ===========================
modality   stored quantity                   units                physical range kept
=========  ===============================  ===================  ===========================
``ct``     linear attenuation                Hounsfield units     [-1024, 3071] HU
``mri``    magnitude signal                  arbitrary, >= 0      [0, inf), tissue ~0..1
``xray``   detector intensity I / I0         fraction, 0..1       [0, 1]; brighter = less
                                                                  material on the ray
``us``     log-compressed B-mode echo        fraction, 0..1       [0, 1]
=========  ===============================  ===================  ===========================
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class ModalityProfile:
    """Limits and defaults of one imaging modality.

    Attributes
    ----------
    name : str
        ``"ct"``, ``"mri"``, ``"xray"`` or ``"us"``.
    units : str
        Units of stored pixel values.
    value_range : (float, float)
        Physically meaningful range; images are kept inside it (``inf`` for no upper bound).
    metric_window : (float, float)
        Fixed intensity window used as PSNR/SSIM ``data_range`` (``hi - lo``) and for display. For CT
        this is a fixed HU window, never the image's own min/max and never 255.
    ndims : tuple of int
        Spatial dimensionalities the modality supports (2 for slices/projections, 3 for volumes).
    default_spacing_mm : float
        Isotropic pixel spacing of synthesised images, in mm.
    rotation_deg : float
        Default symmetric rotation range for augmentation, degrees.
    rotation_hard_limit_deg : float
        Rotation beyond this is refused (ParameterError), whatever the configuration says.
    contrast_range : (float, float)
        Multiplicative contrast factor range about the image mean.
    brightness_max : float
        Maximal absolute brightness offset, in stored units (HU for CT).
    noise_sigma_range : (float, float)
        Additive Gaussian noise sigma range for augmentation, in stored units.
    fill_value : float
        Value used where an image must be filled (outside the field of view, occlusions): air for
        CT (-1000 HU), 0 for the others.
    allowed_augmentations : tuple of str
        Families of augmentation allowed for the modality.
    translation_max_mm : float
        Largest translation along any axis, mm (augmentation limit).
    scale_range : (float, float)
        Range of the (isotropic) scale factor.
    shear_max_deg : float
        Largest shear angle, degrees.
    gamma_range : (float, float)
        Range of the gamma exponent (applied on the modality's metric window mapped to 0..1).
    blur_sigma_mm_range : (float, float)
        Range of the Gaussian blur sigma, mm.
    elastic_max_displacement_mm : float
        Largest displacement of the elastic deformation field, mm (0 where elastic is not allowed).
    elastic_control_spacing_mm : float
        Default spacing of the elastic B-spline control points, mm (the field's smoothness).
    bias_field_max : float
        Largest relative gain change of the multiplicative MRI bias field: the field stays within
        ``[1 / (1 + b), 1 + b]``.
    speckle_range : (float, float)
        Range of the ultrasound speckle strength (standard deviation of the unit-mean
        multiplicative speckle factor).
    sector_angle_max_deg : float
        Largest change of the ultrasound sector's opening angle, degrees (apex and depth kept).
    occlusion_fill : float or None
        Value inside occlusion boxes: metal for CT (3071 HU), signal void (0) for MRI, no
        transmission (0) for X-ray, acoustic shadow (0) for ultrasound; ``None`` means ``fill_value``.
    occlusion_max_fraction : float
        Largest side of an occlusion box as a fraction of the image extent along that axis.
    source_image_distance_mm : float
        X-ray: source-to-image (detector) distance, SID, of the stored projections, mm (0 where the
        modality is not a point-source projection). With ``object_image_distance_mm`` it fixes the
        reference magnification ``M0 = SID / (SID - OID)``; stored pixel spacing is at the object plane.
    object_image_distance_mm : float
        X-ray: distance from the object (its mid-plane) to the detector, OID, of the stored projections, mm.
    source_image_distance_range_mm : (float, float)
        X-ray augmentation: range of the new SID, mm (:class:`mira.augment.ProjectionGeometry`).
    object_image_distance_range_mm : (float, float)
        X-ray augmentation: range of the new OID, mm; magnification ``M = SID / (SID - OID)``.
    detector_tilt_max_deg : float
        X-ray augmentation: largest tilt of the detector plane about an in-plane axis, degrees.
    adversarial_epsilon_max : float
        Largest L-inf bound of an adversarial perturbation, in stored units (HU for CT, fraction of
        the signal/intensity for the others; :class:`mira.augment.AdversarialPerturbation`).
    """

    name: str
    units: str
    value_range: tuple[float, float]
    metric_window: tuple[float, float]
    ndims: tuple[int, ...]
    default_spacing_mm: float
    rotation_deg: float
    rotation_hard_limit_deg: float
    contrast_range: tuple[float, float]
    brightness_max: float
    noise_sigma_range: tuple[float, float]
    fill_value: float
    allowed_augmentations: tuple[str, ...] = field(default_factory=tuple)
    # augmentation limits beyond rotation/contrast/brightness/noise (mira.augment reads them)
    translation_max_mm: float = 0.0
    scale_range: tuple[float, float] = (1.0, 1.0)
    shear_max_deg: float = 0.0
    gamma_range: tuple[float, float] = (1.0, 1.0)
    blur_sigma_mm_range: tuple[float, float] = (0.0, 0.0)
    elastic_max_displacement_mm: float = 0.0
    elastic_control_spacing_mm: float = 24.0
    bias_field_max: float = 0.0
    speckle_range: tuple[float, float] = (0.0, 0.0)
    sector_angle_max_deg: float = 0.0
    occlusion_fill: float | None = None
    occlusion_max_fraction: float = 0.15
    # X-ray point-source projection geometry (mira.augment.ProjectionGeometry); 0 = not a projection
    source_image_distance_mm: float = 0.0
    object_image_distance_mm: float = 0.0
    source_image_distance_range_mm: tuple[float, float] = (0.0, 0.0)
    object_image_distance_range_mm: tuple[float, float] = (0.0, 0.0)
    detector_tilt_max_deg: float = 0.0
    adversarial_epsilon_max: float = 0.0

    @property
    def data_range(self) -> float:
        """Width of :attr:`metric_window`, the ``data_range`` of PSNR/SSIM."""
        return float(self.metric_window[1] - self.metric_window[0])

    def clip(self, array):
        """Clip ``array`` to :attr:`value_range` (returns a new array)."""
        import numpy as np

        lo, hi = self.value_range
        return np.clip(array, lo, hi)

    def _check_augmentation_limits(self, where: str) -> None:
        """Reject nonsensical augmentation limits (negative sizes, reversed ranges)."""
        for key in ("translation_max_mm", "shear_max_deg", "elastic_max_displacement_mm", "bias_field_max",
                    "sector_angle_max_deg", "brightness_max", "rotation_deg", "detector_tilt_max_deg",
                    "adversarial_epsilon_max", "source_image_distance_mm", "object_image_distance_mm"):
            if float(getattr(self, key)) < 0:
                raise ConfigError(f"{where}.{self.name}.{key}={getattr(self, key)} must be >= 0")
        for key in ("contrast_range", "scale_range", "gamma_range", "blur_sigma_mm_range", "speckle_range",
                    "noise_sigma_range", "source_image_distance_range_mm", "object_image_distance_range_mm"):
            val = getattr(self, key)
            if len(val) != 2 or float(val[0]) > float(val[1]) or float(val[0]) < 0:
                raise ConfigError(f"{where}.{self.name}.{key}={list(val)} must be [low, high] with 0 <= low <= high")
        for key in ("scale_range", "gamma_range"):
            if float(getattr(self, key)[0]) <= 0:
                raise ConfigError(f"{where}.{self.name}.{key}={list(getattr(self, key))} must be > 0")
        if self.elastic_control_spacing_mm <= 0:
            raise ConfigError(f"{where}.{self.name}.elastic_control_spacing_mm must be > 0")
        if not 0 < self.occlusion_max_fraction <= 1:
            raise ConfigError(f"{where}.{self.name}.occlusion_max_fraction must lie in (0, 1]")
        self._check_projection_geometry(where)

    def _check_projection_geometry(self, where: str) -> None:
        """The object must lie between source and detector, in the reference and in every drawn geometry."""
        sid, oid = float(self.source_image_distance_mm), float(self.object_image_distance_mm)
        if sid > 0 and not oid < sid:
            raise ConfigError(f"{where}.{self.name}.object_image_distance_mm={oid:g} must be < "
                              f"source_image_distance_mm={sid:g}")
        sid_lo = float(self.source_image_distance_range_mm[0])
        oid_hi = float(self.object_image_distance_range_mm[1])
        if sid_lo > 0 and not oid_hi < sid_lo:
            raise ConfigError(f"{where}.{self.name}.object_image_distance_range_mm (up to {oid_hi:g}) must stay below "
                              f"source_image_distance_range_mm (from {sid_lo:g})")
        if not 0 <= float(self.detector_tilt_max_deg) < 45:
            raise ConfigError(f"{where}.{self.name}.detector_tilt_max_deg={self.detector_tilt_max_deg} "
                              "must lie in [0, 45)")

    def with_overrides(self, overrides: Mapping[str, Any] | None, where: str = "modalities") -> "ModalityProfile":
        """Return a copy with fields replaced from a config mapping; unknown keys raise ConfigError."""
        if not overrides:
            return self
        names = {f.name for f in dataclasses.fields(self)}
        clean: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in names or key == "name":
                raise ConfigError(f"{where}.{self.name}.{key}: unknown modality setting "
                                  f"(known: {sorted(names - {'name'})})")
            clean[key] = tuple(value) if isinstance(value, list) else value
        prof = dataclasses.replace(self, **clean)
        prof._check_augmentation_limits(where)
        if prof.rotation_deg > prof.rotation_hard_limit_deg:
            raise ConfigError(
                f"{where}.{self.name}.rotation_deg={prof.rotation_deg} exceeds the hard limit "
                f"{prof.rotation_hard_limit_deg} deg for {self.name}"
            )
        return prof


_INF = float("inf")

PROFILES: dict[str, ModalityProfile] = {
    "ct": ModalityProfile(
        name="ct", units="HU", value_range=(-1024.0, 3071.0), metric_window=(-1000.0, 1000.0),
        ndims=(2, 3), default_spacing_mm=1.0,
        rotation_deg=5.0, rotation_hard_limit_deg=10.0, contrast_range=(0.8, 1.2), brightness_max=30.0,
        noise_sigma_range=(10.0, 20.0), fill_value=-1000.0,
        allowed_augmentations=("geometric", "intensity", "elastic", "occlusion", "mix", "adversarial"),
        translation_max_mm=10.0, scale_range=(0.9, 1.1), shear_max_deg=3.0, gamma_range=(0.9, 1.1),
        blur_sigma_mm_range=(0.25, 1.0), elastic_max_displacement_mm=4.0, elastic_control_spacing_mm=24.0,
        occlusion_fill=3071.0, adversarial_epsilon_max=20.0,
    ),
    "mri": ModalityProfile(
        name="mri", units="a.u.", value_range=(0.0, _INF), metric_window=(0.0, 1.0),
        ndims=(2, 3), default_spacing_mm=1.0,
        rotation_deg=3.0, rotation_hard_limit_deg=10.0, contrast_range=(0.7, 1.0), brightness_max=0.05,
        noise_sigma_range=(0.005, 0.02), fill_value=0.0,
        allowed_augmentations=("geometric", "intensity", "elastic", "occlusion", "bias_field", "mix",
                               "sequence_fusion", "adversarial"),
        translation_max_mm=5.0, scale_range=(0.95, 1.05), shear_max_deg=2.0, gamma_range=(0.8, 1.2),
        blur_sigma_mm_range=(0.25, 1.0), elastic_max_displacement_mm=3.0, elastic_control_spacing_mm=24.0,
        bias_field_max=0.3, occlusion_fill=0.0, adversarial_epsilon_max=0.02,
    ),
    "xray": ModalityProfile(
        name="xray", units="I/I0", value_range=(0.0, 1.0), metric_window=(0.0, 1.0),
        ndims=(2,), default_spacing_mm=1.0,
        rotation_deg=2.0, rotation_hard_limit_deg=5.0, contrast_range=(0.9, 1.1), brightness_max=0.03,
        noise_sigma_range=(0.005, 0.015), fill_value=0.0,
        allowed_augmentations=("geometric", "intensity", "occlusion", "mix", "projection", "adversarial"),
        translation_max_mm=5.0, scale_range=(0.95, 1.05), shear_max_deg=1.0, gamma_range=(0.9, 1.1),
        blur_sigma_mm_range=(0.25, 0.75), occlusion_fill=0.0, adversarial_epsilon_max=0.015,
        # chest PA: detector 1800 mm from the focal spot, thorax mid-plane 150 mm in front of it (M0 = 1.09)
        source_image_distance_mm=1800.0, object_image_distance_mm=150.0,
        source_image_distance_range_mm=(1500.0, 1800.0), object_image_distance_range_mm=(100.0, 200.0),
        detector_tilt_max_deg=3.0,
    ),
    "us": ModalityProfile(
        name="us", units="B-mode (0..1)", value_range=(0.0, 1.0), metric_window=(0.0, 1.0),
        ndims=(2,), default_spacing_mm=0.3,
        rotation_deg=3.0, rotation_hard_limit_deg=5.0, contrast_range=(0.8, 1.1), brightness_max=0.05,
        noise_sigma_range=(0.01, 0.03), fill_value=0.0,
        allowed_augmentations=("geometric", "intensity", "speckle", "sector", "occlusion", "mix", "adversarial"),
        translation_max_mm=2.0, scale_range=(0.95, 1.05), shear_max_deg=0.0, gamma_range=(0.8, 1.25),
        blur_sigma_mm_range=(0.1, 0.5), speckle_range=(0.05, 0.2), sector_angle_max_deg=5.0,
        occlusion_fill=0.0, adversarial_epsilon_max=0.03,
    ),
}

MODALITIES: tuple[str, ...] = tuple(PROFILES)


def get_profile(name: str, overrides: Mapping[str, Any] | None = None) -> ModalityProfile:
    """Return the profile of modality ``name``, with optional config overrides.

    Raises
    ------
    ConfigError
        If ``name`` is not a known modality or an override key is unknown.
    """
    key = str(name).lower()
    if key not in PROFILES:
        raise ConfigError(f"unknown modality {name!r} (known: {', '.join(MODALITIES)})")
    return PROFILES[key].with_overrides(overrides)


def as_profile(profile: ModalityProfile | str) -> ModalityProfile:
    """``profile`` itself if it is a :class:`ModalityProfile`, else the built-in profile of that name.

    Transitional helper for library functions that still accept a modality string: a string gets the
    built-in defaults, *without* the config's ``profiles:`` overrides. Callers that have a config
    should pass ``Settings.profile(modality)`` (:mod:`mira.study.settings`) instead.
    """
    if isinstance(profile, ModalityProfile):
        return profile
    return get_profile(profile)


def require_profile(profile: Any, where: str) -> ModalityProfile:
    """Return ``profile`` if it is a :class:`ModalityProfile`; raise TypeError otherwise.

    Used by the functions that take only a resolved profile (metrics, noise models), so a stale call
    with a modality string fails loudly instead of silently ignoring the config's overrides.
    """
    if not isinstance(profile, ModalityProfile):
        raise TypeError(f"{where}: expected a ModalityProfile (mira.modalities.get_profile(name, overrides) or "
                        f"Settings.profile(name)), got {type(profile).__name__} {profile!r}")
    return profile

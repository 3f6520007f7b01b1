"""Validation of one ``inputs:`` entry of ``config.yaml`` into an :class:`IngestSpec`.

Every problem is a :class:`mira.errors.ConfigError` naming the offending key as
``inputs.<name>.<key>``. Pure configuration parsing (no numerics): :func:`mira.config.validate_config`
checks ``inputs:`` with :func:`parse_spec` while Snakemake parses the Snakefile, and the ingest job
(:func:`mira.ingest.ingest_source`) reads its source with the same function, so both give the same
messages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError
from .modalities import MODALITIES, ModalityProfile, get_profile

#: Split names, in the order their fractions are stacked on [0, 1).
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Number of frames kept from one multi-frame 2D file (cine loop) when ``max_frames`` is not given.
DEFAULT_MAX_FRAMES = 4

KNOWN_KEYS: tuple[str, ...] = ("modality", "path", "include", "split", "recursive", "max_frames", "spacing_mm",
                               "on_unreadable", "on_modality_mismatch", "ct_rescale")

#: Values of ``on_unreadable``: stop the run (default) or leave the file out and list it in the report.
ON_UNREADABLE: tuple[str, ...] = ("error", "skip")
#: Values of ``on_modality_mismatch``: stop the run (default) or ingest with a warning in the report.
ON_MODALITY_MISMATCH: tuple[str, ...] = ("error", "warn")


@dataclass(frozen=True)
class IngestSpec:
    """A validated input source.

    Attributes
    ----------
    name : str
        Source name (the key under ``inputs:``).
    modality : str
        ``"ct"``, ``"mri"``, ``"xray"`` or ``"us"``.
    path : str
        Folder or single file, or ``"pydicom:"`` for pydicom's bundled test files.
    include : tuple of str or None
        Glob patterns relative to ``path``; ``None`` means every file.
    split : dict
        Fractions of cases per split (keys ``train``, ``val``, ``test``), summing to 1.
    recursive : bool
        Whether sub-folders are searched.
    max_frames : int or None
        Frames kept (evenly spaced) from one multi-frame 2D file; ``None`` keeps all.
    spacing_mm : (float, float), (float, float, float) or None
        ``(dy, dx)`` or ``(dz, dy, dx)`` spacing in mm used where a file carries none (PNG/TIFF/JPEG,
        DICOM without spacing tags, a NIfTI pixdim of 0); ``None`` falls back to 1.0 mm with a warning
        in the log for rasters and DICOM, and refuses an invalid NIfTI pixdim.
    on_unreadable : str
        ``"error"`` (default): a file that belongs to the source but cannot be read whole (zero
        bytes, truncated, unreadable, an image object without pixel data) stops the run naming it;
        ``"skip"``: it is left out and listed in the source's ingest report.
    on_modality_mismatch : str
        ``"error"`` (default): a DICOM whose ``Modality`` tag contradicts ``modality`` stops the run;
        ``"warn"``: it is ingested and the mismatch is listed in the ingest report.
    ct_rescale : (float, float) or None
        ``(slope, intercept)``: HU = slope x stored value + intercept for CT files without rescale
        tags (uncalibrated DICOM, 8-bit/16-bit rasters or NIfTI marked uncalibrated); ``None`` refuses
        such files.
    """

    name: str
    modality: str
    path: str
    include: tuple[str, ...] | None = None
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.0, "val": 0.0, "test": 1.0})
    recursive: bool = True
    max_frames: int | None = DEFAULT_MAX_FRAMES
    spacing_mm: tuple[float, ...] | None = None
    on_unreadable: str = "error"
    on_modality_mismatch: str = "error"
    ct_rescale: tuple[float, float] | None = None
    resolved_profile: ModalityProfile | None = field(default=None, repr=False, compare=False)

    @property
    def profile(self) -> ModalityProfile:
        """The modality profile of this source: the resolved one given to :func:`parse_spec`
        (``Settings.profile(m)``, with the config's ``profiles:`` overrides), else the built-in one."""
        return self.resolved_profile if self.resolved_profile is not None else get_profile(self.modality)

    @property
    def inplane_spacing(self) -> tuple[float, float] | None:
        """``(dy, dx)`` of ``spacing_mm`` (its last two values), or ``None``."""
        return None if self.spacing_mm is None else (self.spacing_mm[-2], self.spacing_mm[-1])


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def parse_spec(name: str, spec: Mapping[str, Any], profile: ModalityProfile | None = None) -> IngestSpec:
    """Validate the config entry ``inputs.<name>`` and return an :class:`IngestSpec`.

    Parameters
    ----------
    name : str
        Source name.
    spec : mapping
        The entry as read from ``config.yaml`` (see :func:`mira.ingest.ingest_source`).
    profile : ModalityProfile, optional
        The resolved profile of the source's modality (``Settings.profile(m)``), kept as
        :attr:`IngestSpec.profile`; its name must be the entry's modality.

    Raises
    ------
    ConfigError
        For an unknown key, a missing or unknown modality, a missing path, or a value of the wrong
        type or range; the message names ``inputs.<name>.<key>``.
    """
    where = f"inputs.{name}"
    _check_keys(spec, where)
    modality = _modality(spec, where)
    path = _path(spec, where)
    include = _include(spec, where)
    split = _split(spec, where)
    recursive = spec.get("recursive", True)
    if not isinstance(recursive, bool):
        raise ConfigError(f"{where}.recursive: expected true or false, got {recursive!r}")
    max_frames = spec.get("max_frames", DEFAULT_MAX_FRAMES)
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ConfigError(f"{where}.max_frames: expected a positive integer or null (all frames), got {max_frames!r}")
    spacing = _spacing(spec, where)
    chosen = _choices(spec, where)
    rescale = _ct_rescale(spec, where, modality)
    if profile is not None and profile.name != modality.lower():
        raise ConfigError(f"{where}.modality: {modality!r} does not match the profile given ({profile.name!r})")
    return IngestSpec(name=name, modality=modality.lower(), path=path, include=include, split=split,
                      recursive=recursive, max_frames=max_frames, spacing_mm=spacing, ct_rescale=rescale,
                      resolved_profile=profile, **chosen)


def _check_keys(spec: Any, where: str) -> None:
    """The entry is a mapping of known keys only."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with keys {list(KNOWN_KEYS)}, got {type(spec).__name__}")
    for key in spec:
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(KNOWN_KEYS)})")


def _modality(spec: Mapping[str, Any], where: str) -> str:
    """The ``modality`` as written (any case; checked against :data:`mira.modalities.MODALITIES`)."""
    modality = spec.get("modality")
    if modality is None:
        raise ConfigError(f"{where}.modality: required (one of {', '.join(MODALITIES)})")
    if not isinstance(modality, str) or modality.lower() not in MODALITIES:
        raise ConfigError(f"{where}.modality: unknown modality {modality!r} (known: {', '.join(MODALITIES)})")
    return modality


def _path(spec: Mapping[str, Any], where: str) -> str:
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{where}.path: required, a folder or file path (or 'pydicom:'), got {path!r}")
    return path


def _include(spec: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
    """Glob patterns relative to the path (a single string is one pattern), or ``None``."""
    include = spec.get("include")
    if include is None:
        return None
    if isinstance(include, str):
        include = [include]
    if not isinstance(include, (list, tuple)) or not include or not all(isinstance(p, str) and p for p in include):
        raise ConfigError(f"{where}.include: expected a non-empty list of glob patterns, got {include!r}")
    for pattern in include:
        if pattern.startswith(("/", "\\")) or ".." in pattern.replace("\\", "/").split("/"):
            raise ConfigError(f"{where}.include: pattern {pattern!r} must be relative to path and stay inside it")
    return tuple(include)


def _split(spec: Mapping[str, Any], where: str) -> dict[str, float]:
    """Split fractions (missing splits 0), summing to 1; default everything in ``test``."""
    split = {"train": 0.0, "val": 0.0, "test": 1.0}
    if spec.get("split") is None:
        return split
    raw = spec["split"]
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}.split: expected a mapping like {{train: 0.7, val: 0.1, test: 0.2}}, got {raw!r}")
    split = {s: 0.0 for s in SPLITS}
    for key, value in raw.items():
        if key not in SPLITS:
            raise ConfigError(f"{where}.split.{key}: unknown split (known: {', '.join(SPLITS)})")
        frac = _number(value, f"{where}.split.{key}")
        if not 0.0 <= frac <= 1.0:
            raise ConfigError(f"{where}.split.{key}: fraction {frac} outside [0, 1]")
        split[key] = frac
    total = sum(split.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"{where}.split: fractions sum to {total:g}, expected 1")
    return split


def _spacing(spec: Mapping[str, Any], where: str) -> tuple[float, ...] | None:
    """``spacing_mm``: a number (both in-plane axes), ``[dy, dx]`` or ``[dz, dy, dx]``, positive."""
    spacing = spec.get("spacing_mm")
    if spacing is None:
        return None
    values = [spacing, spacing] if not isinstance(spacing, (list, tuple)) else list(spacing)
    if len(values) not in (2, 3):
        raise ConfigError(f"{where}.spacing_mm: expected a number, [dy, dx] or [dz, dy, dx] in mm, got {spacing!r}")
    values = [_number(v, f"{where}.spacing_mm") for v in values]
    if min(values) <= 0:
        raise ConfigError(f"{where}.spacing_mm: spacing must be positive, got {spacing!r}")
    return tuple(values)


def _choices(spec: Mapping[str, Any], where: str) -> dict[str, str]:
    """``on_unreadable`` and ``on_modality_mismatch`` (default: the first allowed value)."""
    choices = {"on_unreadable": ON_UNREADABLE, "on_modality_mismatch": ON_MODALITY_MISMATCH}
    chosen = {}
    for key, allowed in choices.items():
        value = spec.get(key, allowed[0])
        if value not in allowed:
            raise ConfigError(f"{where}.{key}: expected one of {', '.join(allowed)}, got {value!r}")
        chosen[key] = value
    return chosen


def _ct_rescale(spec: Mapping[str, Any], where: str, modality: str) -> tuple[float, float] | None:
    """``(slope, intercept)`` for uncalibrated CT files, or ``None``."""
    rescale = spec.get("ct_rescale")
    if rescale is None:
        return None
    if not isinstance(rescale, (list, tuple)) or len(rescale) != 2:
        raise ConfigError(f"{where}.ct_rescale: expected [slope, intercept] (HU = slope x stored + intercept), "
                          f"got {rescale!r}")
    rescale = (_number(rescale[0], f"{where}.ct_rescale"), _number(rescale[1], f"{where}.ct_rescale"))
    if rescale[0] == 0:
        raise ConfigError(f"{where}.ct_rescale: slope must not be 0")
    if modality.lower() != "ct":
        raise ConfigError(f"{where}.ct_rescale: only for CT sources (this one is {modality!r})")
    return rescale

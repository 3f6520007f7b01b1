"""The data stage's folder-level work: synthetic phantom datasets written as mira dataset folders.

:func:`write_synthetic_dataset` fills one dataset folder (one source, modality and split; the
layout is :mod:`mira.dataset`'s) from :func:`mira.synthesis.synthesize_case`. What to synthesise is
a :class:`SyntheticSpec`, built from the ``synthesis:`` settings by :meth:`SyntheticSpec.from_settings`.
Real images are read by :func:`mira.ingest.ingest_source`.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from ..atomic import atomic_dir, write_text
from ..dataset import DatasetWriter
from ..errors import ParameterError
from ..seeding import rng_for

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


def plain(value: Any) -> Any:
    """A settings value as plain dicts/lists (a :class:`~mira.study.settings.Section` -> dict)."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class SyntheticSpec:
    """What one synthetic dataset folder holds.

    Attributes
    ----------
    source, modality, split : str
        Names written into the manifest and used to derive every case's random stream.
    n_cases : int
        Number of cases.
    ndim : {2, 3}
        2D images or 3D volumes.
    size : int
        In-plane size in pixels.
    slices : int or None
        Slices of a volume (``None`` in 2D).
    lesion_fraction : float
        Fraction of the cases carrying lesions, 0..1.
    tissues : mapping
        Tissue value overrides of the modality (:func:`mira.synthesis.synthesize_case`).
    mri_contrast : str
        Primary MRI contrast.
    """

    source: str
    modality: str
    split: str
    n_cases: int
    ndim: int = 2
    size: int = 128
    slices: int | None = None
    lesion_fraction: float = 0.5
    tissues: Mapping[str, Any] = field(default_factory=dict)
    mri_contrast: str = "T1"

    @classmethod
    def from_settings(cls, synthesis: Any, source: str, modality: str, split: str, *,
                      volume: bool) -> SyntheticSpec:
        """The spec of one job from the ``synthesis`` settings section.

        ``volume`` selects the 3D phantoms (``synthesis.volumes``: size, slices, cases) instead of the
        2D ones (``synthesis.size``, ``synthesis.cases``).
        """
        shape = synthesis.volumes if volume else synthesis
        return cls(source=source, modality=modality, split=split, n_cases=int(shape.cases[split]),
                   ndim=3 if volume else 2, size=int(shape.size), slices=int(shape.slices) if volume else None,
                   lesion_fraction=float(synthesis.lesion_fraction),
                   tissues=plain(synthesis.tissues.get(modality, {})), mri_contrast=str(synthesis.mri_contrast))


def lesion_plan(n_cases: int, lesion_fraction: float, seed: int, *keys: str) -> list[bool]:
    """Which of ``n_cases`` cases carry lesions: exactly ``round(n * fraction)``, chosen by a seeded permutation."""
    if not 0.0 <= lesion_fraction <= 1.0:
        raise ParameterError(f"lesion_fraction must lie in [0, 1], got {lesion_fraction}")
    n_lesion = int(round(n_cases * lesion_fraction))
    order = rng_for(seed, "lesion-plan", *keys).permutation(n_cases)
    with_lesion = set(order[:n_lesion].tolist())
    return [i in with_lesion for i in range(n_cases)]


def write_synthetic_dataset(out_dir: PathLike, spec: SyntheticSpec, seed: int) -> int:
    """Synthesise the phantoms of ``spec`` into the dataset folder ``out_dir`` (written atomically).

    Each case's generator is derived from ``(seed, "synthesis", source, modality, case_id)``, so a
    case is identical whatever else the run contains. Case ids are ``<modality>_<split>_<NNNN>``.
    ``meta.json`` in the folder records every case's drawn anatomy (lesion count, sizes, contrasts).

    Parameters
    ----------
    out_dir : path
        The dataset folder to write.
    spec : SyntheticSpec
        What to synthesise.
    seed : int
        The study seed (``config.seed``).

    Returns
    -------
    int
        The number of cases written.
    """
    from ..synthesis import LEGENDS, synthesize_case

    source, modality, split = spec.source, spec.modality, spec.split
    plan = lesion_plan(spec.n_cases, spec.lesion_fraction, seed, source, modality, split)
    meta: dict[str, Any] = {}
    with atomic_dir(out_dir) as tmp:
        writer: DatasetWriter | None = None
        for i, lesion in enumerate(plan):
            case_id = f"{modality}_{split}_{i:04d}"
            rng = rng_for(seed, "synthesis", source, modality, case_id)
            case = synthesize_case(modality, rng, ndim=spec.ndim, size=spec.size, slices=spec.slices, lesion=lesion,
                                   tissues=spec.tissues, mri_contrast=spec.mri_contrast)
            if writer is None:
                writer = DatasetWriter(tmp, source, modality, split, case.legend)
            writer.add(case_id, case.image, case.spacing, label=case.label, sequences=dict(case.sequences),
                       class_label=case.class_label)
            meta[case_id] = case.meta
            log.info("%s: shape %s, class %d", case_id, case.image.shape, case.class_label)
        if writer is None:  # zero cases: still a valid, empty dataset
            writer = DatasetWriter(tmp, source, modality, split, LEGENDS[modality])
        writer.close()
        write_text(tmp / "meta.json", json.dumps(meta, indent=1, sort_keys=True, default=float) + "\n")
    return spec.n_cases


__all__ = ["SyntheticSpec", "lesion_plan", "plain", "write_synthetic_dataset"]

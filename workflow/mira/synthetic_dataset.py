"""Write a synthetic dataset (one source, modality and split) from the phantom generators."""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping, Union

from .atomic import atomic_dir, write_text
from .dataset import DatasetWriter
from .errors import ParameterError
from .seeding import rng_for

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


def lesion_plan(n_cases: int, lesion_fraction: float, seed: int, *keys: str) -> list[bool]:
    """Which of ``n_cases`` cases carry lesions: exactly ``round(n * fraction)``, chosen by a seeded permutation."""
    if not 0.0 <= lesion_fraction <= 1.0:
        raise ParameterError(f"lesion_fraction must lie in [0, 1], got {lesion_fraction}")
    n_lesion = int(round(n_cases * lesion_fraction))
    order = rng_for(seed, "lesion-plan", *keys).permutation(n_cases)
    with_lesion = set(order[:n_lesion].tolist())
    return [i in with_lesion for i in range(n_cases)]


def write_synthetic_dataset(out_dir: PathLike, *, source: str, modality: str, split: str, n_cases: int,
                            seed: int, ndim: int = 2, size: int = 128, slices: int | None = None,
                            lesion_fraction: float = 0.5, tissues: Mapping[str, Any] | None = None,
                            mri_contrast: str = "T1") -> int:
    """Synthesise ``n_cases`` phantoms into the dataset folder ``out_dir`` (written atomically).

    Each case's generator is derived from ``(seed, "synthesis", source, modality, case_id)``, so a
    case is identical whatever else the run contains. Case ids are ``<modality>_<split>_<NNNN>``.
    ``meta.json`` in the folder records every case's drawn anatomy (lesion count, sizes, contrasts).

    Returns the number of cases written.
    """
    from .synthesis import synthesize_case

    plan = lesion_plan(n_cases, lesion_fraction, seed, source, modality, split)
    meta: dict[str, Any] = {}
    with atomic_dir(out_dir) as tmp:
        writer: DatasetWriter | None = None
        for i, lesion in enumerate(plan):
            case_id = f"{modality}_{split}_{i:04d}"
            rng = rng_for(seed, "synthesis", source, modality, case_id)
            case = synthesize_case(modality, rng, ndim=ndim, size=size, slices=slices, lesion=lesion,
                                   tissues=tissues, mri_contrast=mri_contrast)
            if writer is None:
                writer = DatasetWriter(tmp, source, modality, split, case.legend)
            extra = {k: v for k, v in case.sequences.items()}
            writer.add(case_id, case.image, case.spacing, label=case.label, sequences=extra,
                       class_label=case.class_label)
            meta[case_id] = case.meta
            log.info("%s: shape %s, class %d", case_id, case.image.shape, case.class_label)
        if writer is None:  # zero cases: still a valid, empty dataset
            from .synthesis import LEGENDS

            writer = DatasetWriter(tmp, source, modality, split, LEGENDS[modality])
        writer.close()
        write_text(tmp / "meta.json", json.dumps(meta, indent=1, sort_keys=True, default=float) + "\n")
    return n_cases

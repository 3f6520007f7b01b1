"""The degradation stage's folder-level work: a clean dataset folder -> one paired clean/degraded folder.

:func:`degrade_dataset` degrades every case of a mira dataset folder with one physics model at one
level and writes the paired folder of :mod:`mira.degrade.pairs` atomically, with every case's
measured grading. Case ``c`` draws from ``rng_for(seed, "degrade", source, modality, degradation,
level, c)``, so any job, and any case, is reproducible alone.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Union

import pandas as pd

from ..atomic import atomic_dir
from ..dataset import Dataset
from ..degrade.grading import grade_case
from ..degrade.pairs import GRADING_COLUMNS, PairWriter
from ..degrade.registry import SR_NAME, apply, get_model, level_params
from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile, as_profile
from ..seeding import rng_for

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


def _short(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _dataset_profile(ds: Dataset, profile: ModalityProfile | None, where: PathLike) -> ModalityProfile:
    """``profile`` checked against the dataset's modality (the built-in profile when none is given)."""
    if profile is None:
        return as_profile(ds.modality)
    if profile.name != ds.modality:
        raise ParameterError(f"{where}: a {ds.modality} dataset cannot be degraded with the {profile.name} profile")
    return profile


def _degrade_cases(ds: Dataset, writer: PairWriter, *, degradation: str, level: str, seed: int, source: str,
                   split: str, profile: ModalityProfile, overrides: Mapping | None) -> list[dict]:
    """Degrade, write and grade every case of ``ds``; the grading rows."""
    modality = profile.name
    rows = []
    for rec in ds.records:
        case = ds.load(rec)
        rng = rng_for(seed, "degrade", source, modality, degradation, level, rec.case_id)
        out = apply(degradation, case.image, level, rng, profile=profile, spacing=case.spacing, overrides=overrides)
        writer.add(rec.case_id, out, case.label, case.geometry, class_label=rec.class_label)
        grade = grade_case(out, case.image, case.label, ds.legend)
        rows.append({"source": source, "modality": modality, "split": split, "degradation": degradation,
                     "level": level, "case_id": rec.case_id, "class_label": rec.class_label, **grade})
        log.info("%s %s/%s %s: %s=%s -> %s (intended %s)", modality, degradation, level, rec.case_id,
                 grade["measure"], _short(grade[grade["measure"]]), grade["grade"], grade["intended"] or "-")
    return rows


def degrade_dataset(clean_dir: PathLike, out_dir: PathLike, *, degradation: str, level: str, seed: int,
                    source: str | None = None, split: str | None = None, overrides: Mapping | None = None,
                    profile: ModalityProfile | None = None) -> pd.DataFrame:
    """Degrade every case of the dataset ``clean_dir`` and write the paired folder ``out_dir`` atomically.

    Parameters
    ----------
    clean_dir : path
        A mira dataset folder (``manifest.csv``...), e.g. the test split of the CT phantoms.
    out_dir : path
        The paired folder to write (:mod:`mira.degrade.pairs`).
    degradation, level : str
        Registry name and level (``mild``/``moderate``/``severe``, or ``x<scale>`` for ``downsample``).
    seed : int
        The study seed (``config.seed``).
    source, split : str, optional
        Names for the manifest and the random streams (default: those recorded in the clean manifest).
    overrides : mapping, optional
        ``degrade.parameters`` of the config (``{modality: {name: {level: {param: value}}}}``).
    profile : ModalityProfile, optional
        Resolved profile of the dataset's modality (``Settings.profile(m)``); default: the built-in one.

    Returns
    -------
    pandas.DataFrame
        The grading rows (also written to ``grading.csv``).

    Raises
    ------
    ConfigError
        If ``degradation`` does not apply to the dataset's modality.
    InputError
        If the dataset has no cases.
    """
    ds = Dataset(clean_dir)
    if not ds.records:
        raise InputError(f"{clean_dir}: dataset has no cases to degrade")
    prof = _dataset_profile(ds, profile, clean_dir)
    model = get_model(degradation, prof)  # fails early with a clear message
    params = level_params(degradation, prof, level, overrides)
    source = source or ds.records[0].source
    split = split or ds.records[0].split
    with atomic_dir(out_dir) as tmp:
        writer = PairWriter(tmp, source, prof.name, split, ds.legend, sr=degradation == SR_NAME)
        rows = _degrade_cases(ds, writer, degradation=degradation, level=level, seed=seed, source=source, split=split,
                              profile=prof, overrides=overrides)
        table = pd.DataFrame(rows, columns=GRADING_COLUMNS)
        info = {"degradation": degradation, "modality": prof.name, "level": level, "measure": model.measure,
                "summary": model.summary, "parameters": params, "seed": int(seed), "source": source, "split": split,
                "input": str(clean_dir), "cases": len(ds.records)}
        writer.close(table, info)
    return table


__all__ = ["degrade_dataset"]

"""Dataset statistics: cases, sizes, spacing and per-label intensity (mean, sd) in native units."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
import pandas as pd

from ...atomic import atomic_path, write_text
from ...dataset import Dataset
from ...modalities import ModalityProfile

PathLike = Union[str, os.PathLike]

STAT_COLUMNS = ["source", "modality", "units", "ndim", "cases", "train", "val", "test", "lesion_cases",
                "shapes", "spacing_mm", "label", "label_name", "pixels", "mean", "sd"]


def dataset_stats(split_dirs: Sequence[PathLike], profile: ModalityProfile) -> pd.DataFrame:
    """One row per label (or one 'all pixels' row for unlabelled data) over every split of a dataset.

    Parameters
    ----------
    split_dirs : sequence of path
        The dataset's split folders (train, val, test).
    profile : ModalityProfile
        The dataset modality's resolved profile (its ``units`` fill the ``units`` column).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STAT_COLUMNS`; ``mean`` and ``sd`` are pooled over all pixels of that label in
        all cases, in the modality's native units (HU for CT).
    """
    sets = [Dataset(d) for d in split_dirs]
    records = [r for ds in sets for r in ds.records]
    legend: dict[int, str] = {}
    for ds in sets:
        legend.update(ds.legend)
    source = records[0].source if records else Path(split_dirs[0]).parts[-3]
    modality = records[0].modality if records else Path(split_dirs[0]).parts[-2]
    sums: dict[int, list[float]] = {}
    for ds in sets:
        for rec in ds.records:
            case = ds.load(rec)
            labels = case.label if case.label is not None else np.full(case.image.shape, -1, dtype=np.int32)
            img = case.image.astype(np.float64)
            for lab in np.unique(labels):
                vals = img[labels == lab]
                acc = sums.setdefault(int(lab), [0.0, 0.0, 0.0])
                acc[0] += vals.size
                acc[1] += float(vals.sum())
                acc[2] += float(np.square(vals).sum())
    shapes = sorted({"x".join(map(str, r.shape)) for r in records})
    spacings = sorted({"x".join(f"{s:.3g}" for s in r.spacing_mm) for r in records})
    base = {
        "source": source, "modality": modality, "units": profile.units,
        "ndim": records[0].ndim if records else 0, "cases": len(records),
        **{s: sum(r.split == s for r in records) for s in ("train", "val", "test")},
        "lesion_cases": sum(r.class_label == 1 for r in records),
        "shapes": ";".join(shapes[:4]) + (f";... ({len(shapes)} sizes)" if len(shapes) > 4 else ""),
        "spacing_mm": ";".join(spacings[:4]) + (";..." if len(spacings) > 4 else ""),
    }
    rows = []
    for lab in sorted(sums):
        n, s1, s2 = sums[lab]
        mean = s1 / n
        sd = float(np.sqrt(max(s2 / n - mean * mean, 0.0)))
        name = legend.get(lab, "all pixels" if lab < 0 else str(lab))
        rows.append({**base, "label": lab if lab >= 0 else "", "label_name": name,
                     "pixels": int(n), "mean": round(mean, 4), "sd": round(sd, 4)})
    if not rows:
        rows.append({**base, "label": "", "label_name": "(no cases)", "pixels": 0, "mean": np.nan, "sd": np.nan})
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def write_csv(df: pd.DataFrame, path: PathLike) -> None:
    """Write a table atomically as CSV."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def write_markdown(df: pd.DataFrame, path: PathLike, title: str = "") -> None:
    """Write a table atomically as Markdown (GitHub pipe table)."""
    text = (f"# {title}\n\n" if title else "") + df.to_markdown(index=False) + "\n"
    write_text(path, text)


def combine_tables(paths: Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate per-dataset tables into one."""
    frames = [pd.read_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=STAT_COLUMNS)

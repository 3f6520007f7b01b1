"""Paired clean/degraded datasets on disk: the contract between the degradation and restoration stages.

One folder per (source, modality, split, degradation, level)::

    results/degraded/<source>/<modality>/<split>/<degradation>/<level>/
      manifest.csv, legend.json     a mira dataset (mira.dataset.Dataset) of the DEGRADED images
      images/<case>.nii.gz          degraded image, float32, native units, its own spacing
      labels/<case>.nii.gz          label map on the degraded image's grid (copied from the clean case)
      clean/<case>.nii.gz           the paired reference image (see below)
      clean_labels/<case>.nii.gz    downsample only: the label map on the reference (HR) grid
      pairs.csv                     one row per case, columns PAIR_COLUMNS (paths relative to the folder)
      grading.csv                   one row per case: the measured SNR, CNR, MTF, artifact index, bands
      degradation.json              model name, grading measure, summary, level parameters, seed, input

``<level>`` is ``mild``, ``moderate`` or ``severe``; for ``downsample`` (super-resolution inputs) it
is ``x2``, ``x3``, ``x4``: ``images/`` then holds the low-resolution input (spacing = HR spacing x
scale, shape = HR shape // scale) and ``clean/`` the high-resolution reference, cropped to a
multiple of the scale so that ``reference.shape == scale * degraded.shape`` exactly.

The reference in ``clean/`` is the clean image on which the degradation was simulated; for CT metal
it is the clean image *with the metal object pasted in* (the object is content, its streaks are the
degradation). Everything else about the pair -- ``degraded - reference`` is the pure degradation,
same grid (except SR), same label map -- holds for every degradation. ``params`` in ``pairs.csv`` is
the JSON of the fully resolved parameters (including the drawn noise seed, directions, positions), so
:func:`mira.degrade.apply` replays any case exactly. Only the primary image of multi-sequence MRI is
degraded; extra sequences are not carried over.

Geometry: every file of a pair carries the clean case's placement in the patient (origin and
direction, :mod:`mira.geometry`), so degraded image, reference and labels overlay the clean image in a
viewer. For ``downsample`` the reference is the clean image cropped at its far end (same origin); LR
pixel ``j`` covers HR pixels ``j*s .. (j+1)*s - 1`` (:func:`mira.degrade.resolution.downsample`), so
its first pixel centre lies ``(s - 1) / 2`` HR pixels along every axis of the geometry from the HR
origin (:func:`lr_geometry`). A 2D case keeps its plane (a one-slice volume on disk); the LR plane
keeps the slice thickness.

Writing: :class:`PairWriter` (one pair per :meth:`PairWriter.add`); the study's
:func:`mira.study.degrade_stage.degrade_dataset` fills a folder from a clean dataset, case ``c``
drawing from ``mira.seeding.rng_for(seed, "degrade", source, modality, degradation, level, c)``, so
any job -- and any case -- is reproducible alone. Reading: :class:`PairedDataset`.
"""
from __future__ import annotations

import csv
import io as _io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_text
from ..dataset import Dataset, DatasetWriter, file_geometry
from ..errors import InputError
from ..geometry import IDENTITY, Geometry
from ..io import read_image_with_geometry, read_label, write_image, write_label
from .grading import GRADE_COLUMNS
from .registry import SR_NAME, Degraded
from .resolution import downsample_labels, modcrop

PathLike = Union[str, os.PathLike]

PAIRS = "pairs.csv"
GRADING = "grading.csv"
INFO = "degradation.json"
PAIR_COLUMNS = ("case_id", "modality", "degradation", "level", "degraded", "reference", "label", "reference_label",
                "spacing_mm", "reference_spacing_mm", "class_label", "params")
ID_COLUMNS = ["source", "modality", "split", "degradation", "level", "case_id", "class_label"]
#: Columns of ``grading.csv``.
GRADING_COLUMNS = ID_COLUMNS + list(GRADE_COLUMNS)


def _fmt(values) -> str:
    return "x".join(f"{v:g}" for v in values)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def lr_geometry(geometry: Geometry, hr_spacing, scale: int) -> Geometry:
    """Geometry of the LR image of :func:`mira.degrade.resolution.downsample` from the HR one.

    LR pixel ``j`` covers HR pixels ``j*s .. (j+1)*s - 1`` on every axis, so its centre is at HR
    index ``j*s + (s - 1) / 2``: the origin moves by ``(s - 1) / 2`` HR pixels along each image axis;
    direction and slice thickness (2D) are kept.

    Parameters
    ----------
    geometry : Geometry
        The HR image's geometry.
    hr_spacing : sequence of float
        HR spacing in mm, numpy order (2 or 3 entries, one per downsampled axis).
    scale : int
        Downsampling factor ``s``.
    """
    s = int(scale)
    return geometry.shifted(((s - 1) / 2.0,) * len(hr_spacing), hr_spacing)


def pair_labels(label: np.ndarray | None, out: Degraded) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(label on the degraded grid, label on the reference grid)`` of one case.

    The clean label map for every degradation but ``downsample``, where the degraded grid gets the
    majority label of each ``scale`` block and the reference grid the label cropped like the reference.
    """
    if out.name != SR_NAME or label is None:
        return label, label
    scale = int(out.params["scale"])
    return downsample_labels(label, scale), modcrop(label, scale)


class PairWriter:
    """Write the pairs of one paired folder (module docstring), normally a temporary folder of
    :func:`mira.atomic.atomic_dir`: :meth:`add` per case, then :meth:`close` once.

    Parameters
    ----------
    folder : path
        The (empty) folder to fill.
    source, modality, split : str
        Names written into the manifest of the degraded images.
    legend : mapping of int to str
        Label legend of the clean dataset.
    sr : bool
        Super-resolution inputs (``downsample``): the reference label maps get their own folder.
    """

    def __init__(self, folder: PathLike, source: str, modality: str, split: str, legend: Mapping[int, str],
                 sr: bool = False):
        self.folder = Path(folder)
        self.modality = modality
        self.images = DatasetWriter(self.folder, source, modality, split, legend)
        self.rows: list[dict] = []
        (self.folder / "clean").mkdir()
        if sr:
            (self.folder / "clean_labels").mkdir()

    def add(self, case_id: str, out: Degraded, label: np.ndarray | None, geometry: Geometry,
            class_label: int = -1) -> dict:
        """Write one pair: degraded image and its label map, reference (and its label map for SR).

        ``label`` is the clean case's label map and ``geometry`` its placement (that of the
        reference; the degraded image's is shifted by :func:`lr_geometry` for ``downsample``).
        Returns the ``pairs.csv`` row.
        """
        is_sr = out.name == SR_NAME
        lr_label, hr_label = pair_labels(label, out)
        deg_geo = lr_geometry(geometry, out.reference_spacing, int(out.params["scale"])) if is_sr else geometry
        new = self.images.add(case_id, out.image.astype(np.float32), out.spacing, label=lr_label,
                              class_label=class_label, geometry=deg_geo)
        ref_rel = f"clean/{case_id}.nii.gz"
        write_image(self.folder / ref_rel, out.reference.astype(np.float32), out.reference_spacing,
                    geometry=file_geometry(geometry))
        ref_lab_rel = new.label
        if is_sr and hr_label is not None:
            ref_lab_rel = f"clean_labels/{case_id}.nii.gz"
            write_label(self.folder / ref_lab_rel, hr_label, out.reference_spacing, geometry=file_geometry(geometry))
        row = {
            "case_id": case_id, "modality": self.modality, "degradation": out.name, "level": out.level,
            "degraded": new.image, "reference": ref_rel, "label": new.label, "reference_label": ref_lab_rel,
            "spacing_mm": _fmt(out.spacing), "reference_spacing_mm": _fmt(out.reference_spacing),
            "class_label": class_label, "params": json.dumps(out.params, default=_json_default, sort_keys=True),
        }
        self.rows.append(row)
        return row

    def close(self, grading: pd.DataFrame, info: Mapping) -> None:
        """Write the manifest and legend, ``pairs.csv``, ``grading.csv`` and ``degradation.json``."""
        self.images.close()
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(PAIR_COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        write_text(self.folder / PAIRS, buf.getvalue())
        with atomic_path(self.folder / GRADING) as t:
            grading.to_csv(t, index=False)
        write_text(self.folder / INFO, json.dumps(dict(info), indent=2, default=_json_default) + "\n")


@dataclass
class Pair:
    """One loaded pair: degraded image, clean reference, label maps, spacings, geometries and parameters.

    ``geometry`` is the degraded image's placement (shifted by half an LR pixel block for
    ``downsample``), ``reference_geometry`` the reference's (the clean case's); restored images are
    written with ``reference_geometry``.
    """

    case_id: str
    degraded: np.ndarray
    reference: np.ndarray
    spacing: tuple[float, ...]
    reference_spacing: tuple[float, ...]
    label: np.ndarray | None
    reference_label: np.ndarray | None
    params: dict
    class_label: int
    geometry: Geometry = IDENTITY
    reference_geometry: Geometry = IDENTITY


class PairedDataset:
    """A paired folder opened for reading (module docstring): ``len()``, iteration, :meth:`load`."""

    def __init__(self, folder: PathLike):
        self.folder = Path(folder)
        path = self.folder / PAIRS
        if not path.is_file():
            raise InputError(f"{path}: no pairs.csv (is {self.folder} a degraded dataset folder?)")
        with open(path, newline="", encoding="utf-8") as fh:
            self.rows = list(csv.DictReader(fh))
        missing = [c for c in PAIR_COLUMNS if self.rows and c not in self.rows[0]]
        if missing:
            raise InputError(f"{path}: missing columns {missing}")
        info = self.folder / INFO
        self.info: dict = json.loads(info.read_text(encoding="utf-8")) if info.is_file() else {}
        self.dataset = Dataset(self.folder)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Pair]:
        for row in self.rows:
            yield self.load(row)

    def grading(self) -> pd.DataFrame:
        """The folder's grading table."""
        return pd.read_csv(self.folder / GRADING)

    def load(self, row: Mapping[str, str]) -> Pair:
        """Load one ``pairs.csv`` row; 2D images (``spacing_mm`` with 2 entries) come back as ``(y, x)``."""
        nd = len([v for v in row["spacing_mm"].split("x") if v])
        rnd = len([v for v in row["reference_spacing_mm"].split("x") if v]) or nd
        deg, sp, geo = read_image_with_geometry(self.folder / row["degraded"], ndim=nd)
        ref, rsp, rgeo = read_image_with_geometry(self.folder / row["reference"], ndim=rnd)
        lab = read_label(self.folder / row["label"], ndim=nd)[0] if row["label"] else None
        rlab = read_label(self.folder / row["reference_label"], ndim=rnd)[0] if row["reference_label"] else None
        return Pair(case_id=row["case_id"], degraded=deg, reference=ref, spacing=sp, reference_spacing=rsp,
                    label=lab, reference_label=rlab, params=json.loads(row["params"]),
                    class_label=int(row["class_label"]), geometry=geo, reference_geometry=rgeo)

"""The dataset contract: a folder per (source, modality, split) with a manifest CSV.

Layout of one dataset folder::

    <dataset>/
      manifest.csv          one row per case (columns: MANIFEST_COLUMNS)
      legend.json           {"0": "background", "1": "fat", ...}; {} when there are no labels
      images/<case>.nii.gz  float32, native units (HU for CT), real spacing
      images/<case>_<seq>.nii.gz   extra co-registered sequences (MRI)
      labels/<case>.nii.gz  uint8 label map (absent for unlabelled real images)

Paths in the manifest are relative to the dataset folder, so a folder can be moved or copied.
``class_label`` is 1 when the case has a lesion, 0 when it has none and -1 when unknown (real
images without annotations).

Geometry: arrays are in numpy order (``(z, y, x)`` or ``(y, x)``) with ``spacing_mm`` in the same
order; where the image lies in the patient (origin and direction cosines, LPS, see
:mod:`mira.geometry`) is not in the manifest but in the NIfTI headers of the image, its label map and
its sequences, which all share it. A 2D case with a geometry (a DICOM slice) is a one-slice volume on
disk at its place in the patient; ``ndim`` in the manifest says to read it back as ``(y, x)``.
Phantoms and other images without a placement are written with the identity (2D ones stay 2D files).
"""
from __future__ import annotations

import csv
import io as _io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence, Union

import numpy as np

from .atomic import write_text
from .errors import InputError
from .geometry import IDENTITY, Geometry
from .io import read_image, read_image_with_geometry, read_label, write_image, write_label

PathLike = Union[str, os.PathLike]

MANIFEST = "manifest.csv"
LEGEND = "legend.json"
MANIFEST_COLUMNS = (
    "case_id", "source", "modality", "split", "ndim", "shape", "spacing_mm",
    "image", "label", "sequences", "labels_present", "class_label",
)


def _fmt_tuple(values: Sequence[float]) -> str:
    return "x".join(f"{v:g}" for v in values)


def _parse_tuple(text: str, kind=float) -> tuple:
    return tuple(kind(v) for v in text.split("x")) if text else ()


@dataclass
class CaseRecord:
    """One manifest row. Paths are relative to the dataset folder."""

    case_id: str
    source: str
    modality: str
    split: str
    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    image: str
    label: str = ""
    sequences: dict[str, str] = field(default_factory=dict)
    labels_present: tuple[int, ...] = ()
    class_label: int = -1

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_row(self) -> dict[str, str]:
        return {
            "case_id": self.case_id, "source": self.source, "modality": self.modality, "split": self.split,
            "ndim": str(self.ndim), "shape": _fmt_tuple(self.shape), "spacing_mm": _fmt_tuple(self.spacing_mm),
            "image": self.image, "label": self.label,
            "sequences": ";".join(f"{k}={v}" for k, v in self.sequences.items()),
            "labels_present": ";".join(str(v) for v in self.labels_present),
            "class_label": str(self.class_label),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, str], where: str = "manifest") -> "CaseRecord":
        missing = [c for c in MANIFEST_COLUMNS if c not in row]
        if missing:
            raise InputError(f"{where}: missing manifest columns {missing}")
        seqs = dict(item.split("=", 1) for item in row["sequences"].split(";") if item)
        return cls(
            case_id=row["case_id"], source=row["source"], modality=row["modality"], split=row["split"],
            shape=_parse_tuple(row["shape"], int), spacing_mm=_parse_tuple(row["spacing_mm"], float),
            image=row["image"], label=row["label"], sequences=seqs,
            labels_present=tuple(int(v) for v in row["labels_present"].split(";") if v),
            class_label=int(row["class_label"]),
        )


def file_geometry(geometry: Geometry | None) -> Geometry | None:
    """The geometry to write into a file: ``None`` (ITK defaults) for the plain identity placement.

    An identity geometry without a slice thickness adds nothing to ITK's defaults, so a 2D image
    placed that way (a phantom, a 2D file without a placement) stays a 2D file.
    """
    if geometry is None or (geometry.is_identity() and geometry.thickness is None):
        return None
    return geometry


@dataclass
class Case:
    """A loaded case: image (native units), optional label map, spacing in mm, extra sequences, geometry.

    ``geometry`` is the placement in the patient read from the image file (:mod:`mira.geometry`;
    the identity when the file has none); the label map and sequences share it.
    """

    record: CaseRecord
    image: np.ndarray
    spacing: tuple[float, ...]
    label: np.ndarray | None = None
    sequences: dict[str, np.ndarray] = field(default_factory=dict)
    geometry: Geometry = IDENTITY


class Dataset:
    """A dataset folder opened for reading (see the module docstring for the layout)."""

    def __init__(self, folder: PathLike):
        self.folder = Path(folder)
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise InputError(f"{manifest}: no manifest (is {self.folder} a mira dataset folder?)")
        with open(manifest, newline="", encoding="utf-8") as fh:
            self.records = [CaseRecord.from_row(r, str(manifest)) for r in csv.DictReader(fh)]
        legend_path = self.folder / LEGEND
        raw = json.loads(legend_path.read_text(encoding="utf-8")) if legend_path.is_file() else {}
        self.legend: dict[int, str] = {int(k): v for k, v in raw.items()}

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Case]:
        for rec in self.records:
            yield self.load(rec)

    @property
    def modality(self) -> str:
        return self.records[0].modality if self.records else ""

    def load(self, rec: CaseRecord, sequences: bool = False) -> Case:
        """Load one case's image, label map, (optionally) its extra sequences, and its geometry.

        Every file is read with the manifest's ``ndim``, so a 2D case stored as a one-slice volume
        comes back as ``(y, x)``.
        """
        nd = rec.ndim
        image, spacing, geometry = read_image_with_geometry(self.folder / rec.image, ndim=nd)
        label = read_label(self.folder / rec.label, ndim=nd)[0] if rec.label else None
        seqs = {k: read_image(self.folder / v, ndim=nd)[0] for k, v in rec.sequences.items()} if sequences else {}
        return Case(record=rec, image=image, spacing=spacing, label=label, sequences=seqs, geometry=geometry)


class DatasetWriter:
    """Write cases into a (normally temporary, see :func:`mira.atomic.atomic_dir`) dataset folder."""

    def __init__(self, folder: PathLike, source: str, modality: str, split: str, legend: Mapping[int, str] | None):
        self.folder = Path(folder)
        self.source, self.modality, self.split = source, modality, split
        self.legend = dict(legend or {})
        self.records: list[CaseRecord] = []
        (self.folder / "images").mkdir(parents=True, exist_ok=True)

    def add(self, case_id: str, image: np.ndarray, spacing: Sequence[float], label: np.ndarray | None = None,
            sequences: Mapping[str, np.ndarray] | None = None, class_label: int = -1,
            geometry: Geometry | None = None) -> CaseRecord:
        """Write one case's files and remember its manifest row.

        Parameters
        ----------
        case_id : str
            Unique within the folder.
        image : ndarray
            ``(y, x)`` or ``(z, y, x)``, native units.
        spacing : sequence of float
            mm, numpy order.
        label : ndarray, optional
            Label map of the image's shape.
        sequences : mapping of str to ndarray, optional
            Extra co-registered images of the image's shape.
        class_label : int
            1 lesion, 0 none, -1 unknown.
        geometry : Geometry, optional
            Placement in the patient (:mod:`mira.geometry`), written into the image, label and
            sequence files; ``None`` (or the plain identity) for images without one (phantoms).
        """
        if any(r.case_id == case_id for r in self.records):
            raise InputError(f"duplicate case id {case_id!r} in {self.folder}")
        geo = file_geometry(geometry)
        img_rel = f"images/{case_id}.nii.gz"
        write_image(self.folder / img_rel, image, spacing, geometry=geo)
        lab_rel, present = "", ()
        if label is not None:
            if label.shape != image.shape:
                raise InputError(f"case {case_id}: label shape {label.shape} != image shape {image.shape}")
            lab_rel = f"labels/{case_id}.nii.gz"
            (self.folder / "labels").mkdir(exist_ok=True)
            write_label(self.folder / lab_rel, label, spacing, geometry=geo)
            present = tuple(int(v) for v in np.unique(label))
        seq_rel: dict[str, str] = {}
        for name, arr in (sequences or {}).items():
            rel = f"images/{case_id}_{name}.nii.gz"
            write_image(self.folder / rel, arr, spacing, geometry=geo)
            seq_rel[name] = rel
        rec = CaseRecord(case_id=case_id, source=self.source, modality=self.modality, split=self.split,
                         shape=tuple(int(s) for s in image.shape), spacing_mm=tuple(float(s) for s in spacing),
                         image=img_rel, label=lab_rel, sequences=seq_rel, labels_present=present,
                         class_label=int(class_label))
        self.records.append(rec)
        return rec

    def close(self) -> None:
        """Write ``manifest.csv`` and ``legend.json``."""
        buf = _io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for rec in self.records:
            writer.writerow(rec.to_row())
        write_text(self.folder / MANIFEST, buf.getvalue())
        legend = {str(k): v for k, v in sorted(self.legend.items())}
        write_text(self.folder / LEGEND, json.dumps(legend, indent=2) + "\n")

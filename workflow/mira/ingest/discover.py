"""Discovery: find the files of a source, classify them, and group DICOM slices into series.

Rules:

* ``include`` patterns are globs relative to the source folder; with ``recursive: true`` a pattern
  without ``/`` also matches in sub-folders (``CT_small.dcm`` finds ``*/CT_small.dcm`` too).
  Without ``include`` every file is considered (hidden files and folders are skipped).
* A file is *explicit* when the source path is that file or a pattern without wildcards names it.
  Explicit files must be images: a text file, or a DICOM SR/RTPLAN/DICOMDIR without pixel data,
  raises :class:`~mira.errors.InputError`. Files found by wildcards that are not images are skipped
  (logged), so that a DICOM export with a DICOMDIR, a dose report or a README still ingests.
* A file that *claims* to be an image (suffix ``.dcm``/``.nii.gz``/``.png``..., or a ``DICM``
  preamble) but cannot be read is always an error.
* DICOM files are recognised by suffix, by the ``DICM`` preamble, or (no preamble, unknown suffix)
  when pydicom parses them to a data set with a SOP Class UID and pixel data.
* For CT and MRI, single-frame DICOM files sharing a ``SeriesInstanceUID`` form one series (one
  3D case). Every other file (X-ray, US, multi-frame, NIfTI, raster) is a case of its own.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from .dicom import DICOM_SUFFIXES, has_dicm_preamble, has_pixels, number_of_frames, read_header
from .ids import sanitise, strip_suffix
from .nifti import NIFTI_SUFFIXES
from .raster import RASTER_SUFFIXES
from .samples import resolve_path
from .spec import IngestSpec

log = logging.getLogger("mira.ingest")

_MAGIC = set("*?[")


@dataclass
class Item:
    """One unit of ingestion: a single file, or the files of one DICOM series.

    Attributes
    ----------
    kind : str
        ``"dicom"`` (one file), ``"series"`` (several single-frame DICOM slices), ``"nifti"`` or
        ``"raster"``.
    files : tuple of Path
        The file(s), in discovery order (series are sorted later, by position).
    id_candidate : str
        Sanitised wanted case id (made unique by :func:`.ids.unique_ids`).
    key : str
        Stable distinct key (relative path or series UID) used only to break id collisions.
    where : str
        What error messages name (file, or folder and series UID).
    headers : list
        pydicom data sets (pixel data not loaded) of DICOM items, else empty.
    frames : int
        Number of frames of a DICOM file (1 otherwise; NIfTI/raster frames are known after reading).
    """

    kind: str
    files: tuple[Path, ...]
    id_candidate: str
    key: str
    where: str
    headers: list[Any] = field(default_factory=list)
    frames: int = 1


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_files(root: Path, include: tuple[str, ...] | None, recursive: bool, where: str) -> list[tuple[Path, bool]]:
    """List ``(file, explicit)`` pairs under ``root`` (a folder), sorted by relative path.

    Raises
    ------
    InputError
        When a pattern without wildcards names a file that does not exist.
    """
    found: dict[Path, bool] = {}
    if include is None:
        walker = root.rglob("*") if recursive else root.iterdir()
        for p in walker:
            if p.is_file() and not _is_hidden(p.relative_to(root)):
                found[p] = False
    else:
        for pattern in include:
            literal = not (_MAGIC & set(pattern))
            norm = pattern.replace("\\", "/")
            matches = root.rglob(norm) if recursive and "/" not in norm else root.glob(norm)
            hits = [p for p in matches if p.is_file() and (literal or not _is_hidden(p.relative_to(root)))]
            if literal and not hits:
                raise InputError(f"{root / norm}: no such file ({where}.include names {pattern!r})")
            for p in hits:
                found[p] = found.get(p, False) or literal
    return sorted(found.items(), key=lambda kv: kv[0].relative_to(root).as_posix())


def _lower_name(path: Path) -> str:
    return path.name.lower()


def classify(path: Path, explicit: bool) -> tuple[str, Any] | None:
    """Kind of one file: ``("nifti", None)``, ``("raster", None)``, ``("dicom", dataset)`` or ``None`` (skip).

    Raises
    ------
    InputError
        For a file that claims to be DICOM but cannot be parsed, and for an explicit file that is
        not an image (text, DICOM without pixel data).
    """
    name = _lower_name(path)
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti", None
    if name.endswith(RASTER_SUFFIXES):
        return "raster", None
    claimed = name.endswith(DICOM_SUFFIXES) or has_dicm_preamble(path)
    ds = read_header(path, claimed=claimed)
    if ds is None:
        if explicit:
            raise InputError(f"{path}: not an image file (not DICOM, NIfTI, PNG, TIFF or JPEG)")
        log.info("%s: skipped (not an image file)", path)
        return None
    if not has_pixels(ds):
        what = f"DICOM {ds.get('Modality', '')} object without pixel data".replace("  ", " ")
        if explicit:
            raise InputError(f"{path}: {what} (SOP Class {ds.get('SOPClassUID', '?')}), not an image")
        log.info("%s: skipped (%s)", path, what)
        return None
    return "dicom", ds


def _rel_id(path: Path, base: Path) -> tuple[str, str]:
    rel = path.relative_to(base)
    parts = list(rel.parts[:-1]) + [strip_suffix(rel.parts[-1])]
    return sanitise("_".join(parts)), rel.as_posix()


def discover(spec: IngestSpec) -> list[Item]:
    """Find and classify every image of a source; group CT/MRI DICOM slices into series.

    Only headers are read (pixel data stays on disk), so every unreadable or non-image file is
    reported before anything is written.

    Raises
    ------
    InputError
        Missing path, unreadable files, explicit non-image files, or no image at all.
    ConfigError
        ``include`` given for a single-file ``path``.
    """
    where = f"inputs.{spec.name}"
    root = resolve_path(spec.path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder ({where}.path)")
    if root.is_file():
        if spec.include is not None:
            raise ConfigError(f"{where}.include: only allowed when path is a folder ({root} is a file)")
        entries, base = [(root, True)], root.parent
    else:
        entries, base = find_files(root, spec.include, spec.recursive, where), root

    items: list[Item] = []
    dicoms: list[tuple[Path, Any]] = []
    skipped = 0
    for path, explicit in entries:
        kind = classify(path, explicit)
        if kind is None:
            skipped += 1
            continue
        if kind[0] == "dicom":
            dicoms.append((path, kind[1]))
            continue
        cid, key = _rel_id(path, base)
        items.append(Item(kind[0], (path,), cid, key, str(path)))

    stackable = spec.modality in ("ct", "mri")
    series: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for path, ds in dicoms:
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if stackable and uid and number_of_frames(ds) == 1:
            series[uid].append((path, ds))
        else:
            cid, key = _rel_id(path, base)
            items.append(Item("dicom", (path,), cid, key, str(path), [ds], number_of_frames(ds)))
    for uid, members in series.items():
        if len(members) == 1:
            path, ds = members[0]
            cid, key = _rel_id(path, base)
            items.append(Item("dicom", (path,), cid, key, str(path), [ds], 1))
            continue
        files = tuple(p for p, _ in members)
        folder = Path(os.path.commonpath([str(p.parent) for p in files]))
        rel = folder.relative_to(base)
        cid = sanitise("_".join(rel.parts)) if rel.parts else sanitise(base.name)
        items.append(Item("series", files, cid, f"series:{uid}", f"{folder} (series {uid})",
                          [ds for _, ds in members], 1))

    if not items:
        pattern = list(spec.include) if spec.include is not None else "everything"
        extra = f"; {skipped} non-image file(s) skipped" if skipped else ""
        raise InputError(f"no images found in {root} (include={pattern}{extra})")
    items.sort(key=lambda it: it.key)
    log.info("%s: %d image item(s) in %s (%d non-image file(s) skipped)", where, len(items), root, skipped)
    return items

"""Discovery: find the files of a source, classify them, and group DICOM slices into series.

Rules:

* Files are found by :func:`.walk.find_files` (``include`` globs relative to the source folder,
  symbolic links followed, every folder walked once; see :mod:`.walk`).
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

from ..errors import ConfigError, InputError, UnreadableError
from ..input_spec import IngestSpec
from .dicom import DICOM_SUFFIXES, has_dicm_preamble, number_of_frames, read_header
from .ids import sanitise, strip_suffix
from .nifti import NIFTI_SUFFIXES
from .objects import classify_object, modality_fits, modality_tag, pixel_data_problem
from .raster import RASTER_SUFFIXES
from .samples import resolve_path
from .walk import find_files

log = logging.getLogger("mira.ingest")


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
    notes : list of str
        Warnings for the ingest report (e.g. a Modality tag accepted by ``on_modality_mismatch: warn``).
    """

    kind: str
    files: tuple[Path, ...]
    id_candidate: str
    key: str
    where: str
    headers: list[Any] = field(default_factory=list)
    frames: int = 1
    notes: list[str] = field(default_factory=list)


def _lower_name(path: Path) -> str:
    return path.name.lower()


@dataclass(frozen=True)
class Excluded:
    """A file that discovery considered and did not ingest.

    Attributes
    ----------
    path : Path
        The file.
    outcome : str
        ``"excluded"`` (not an image for this source: its kind or class says so) or ``"skipped"``
        (unreadable, left out because the source says ``on_unreadable: skip``).
    reason : str
        Why, in words (the DICOM class name, "not an image file", the read error).
    """

    path: Path
    outcome: str
    reason: str


@dataclass
class Discovery:
    """What discovery found: the items to ingest and every file it left out, with the reason."""

    items: list[Item]
    excluded: list[Excluded]


def _check_readable(path: Path) -> None:
    """Refuse zero-byte and unreadable files (:class:`~mira.errors.UnreadableError` naming the file)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise UnreadableError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise UnreadableError(f"{path}: empty file (0 bytes)")


def classify(path: Path, explicit: bool, spec: IngestSpec | None = None) -> tuple[str, Any] | Excluded:
    """Kind of one file: ``("nifti", None)``, ``("raster", None)``, ``("dicom", dataset)``, or why it is excluded.

    DICOM objects are judged by SOP class (:mod:`.objects`): image storage classes are images and
    must be whole; every other class is excluded by name; secondary capture is excluded for CT (no
    Hounsfield calibration). A file named explicitly (the source path itself, or a literal
    ``include`` pattern) must be an image: its exclusion is an error instead.

    Raises
    ------
    UnreadableError
        Zero-byte or unreadable file, a file that claims to be DICOM (suffix or ``DICM`` preamble)
        but does not parse, an image object whose pixel data is missing or cut short.
    InputError
        An explicit file that is not an image for this source; a DICOM ``Modality`` tag that
        contradicts the configured modality (unless ``on_modality_mismatch: warn``).
    """
    _check_readable(path)
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
        return Excluded(path, "excluded", "not an image file (not DICOM, NIfTI, PNG, TIFF or JPEG)")
    kind = classify_object(ds)
    tag = modality_tag(ds)
    what = f"{kind.name}" + (f" (Modality {tag})" if tag else "")
    if not kind.is_image:
        if explicit:
            raise InputError(f"{path}: DICOM {what} object, not an image (SOP Class {kind.sop_class or '?'})")
        return Excluded(path, "excluded", f"{what}: not an image storage class")
    modality = spec.modality if spec is not None else None
    if kind.secondary_capture and modality == "ct":
        reason = f"{what}: secondary capture carries no Hounsfield calibration, never ingested as CT"
        if explicit:
            raise InputError(f"{path}: {reason}")
        return Excluded(path, "excluded", reason)
    problem = pixel_data_problem(ds, path)
    if problem is not None:
        raise UnreadableError(f"{path}: {problem}")
    if modality is not None and not modality_fits(ds, modality):
        key = f"inputs.{spec.name}"
        if spec.on_modality_mismatch == "error":
            raise InputError(f"{path}: DICOM Modality {tag} contradicts the configured modality {modality!r} "
                             f"({key}.modality); fix the modality, leave the file out with {key}.include, or set "
                             f"{key}.on_modality_mismatch: warn to ingest it anyway")
        log.warning("%s: DICOM Modality %s ingested as %s (%s.on_modality_mismatch: warn)", path, tag, modality, key)
    return "dicom", ds


def _rel_id(path: Path, base: Path) -> tuple[str, str]:
    rel = path.relative_to(base)
    parts = list(rel.parts[:-1]) + [strip_suffix(rel.parts[-1])]
    return sanitise("_".join(parts)), rel.as_posix()


def discover(spec: IngestSpec) -> Discovery:
    """Find and classify every file of a source; group CT/MRI DICOM slices into series.

    Only headers are read (pixel data stays on disk), so every unreadable or non-image file is
    reported before anything is written. Every file found is either part of an item or listed in
    :attr:`Discovery.excluded` with its reason.

    Raises
    ------
    InputError
        Missing path, unreadable files (unless ``on_unreadable: skip``), explicit non-image files,
        contradicting Modality tags, or no image at all.
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
    items, excluded, dicoms = _classify_entries(entries, base, spec, where)
    items += _dicom_items(dicoms, base, spec)
    if not items:
        _refuse_empty(spec, root, excluded)
    items.sort(key=lambda it: it.key)
    log.info("%s: %d image item(s) in %s (%d file(s) excluded or skipped)", where, len(items), root, len(excluded))
    return Discovery(items, excluded)


def _classify_entries(entries: list[tuple[Path, bool]], base: Path, spec: IngestSpec, where: str
                      ) -> tuple[list[Item], list[Excluded], list[tuple[Path, Any]]]:
    """Classify every file: NIfTI/raster items, excluded or skipped files, and DICOM data sets to group."""
    items: list[Item] = []
    excluded: list[Excluded] = []
    dicoms: list[tuple[Path, Any]] = []
    for path, explicit in entries:
        try:
            kind = classify(path, explicit, spec)
        except UnreadableError as exc:
            if spec.on_unreadable != "skip":
                raise UnreadableError(f"{exc} (set {where}.on_unreadable: skip to leave such files out, "
                                      "listed in the ingest report)") from None
            log.warning("%s (skipped: %s.on_unreadable is skip)", exc, where)
            excluded.append(Excluded(path, "skipped", str(exc).replace(f"{path}: ", "", 1)))
            continue
        if isinstance(kind, Excluded):
            log.info("%s: excluded (%s)", path, kind.reason)
            excluded.append(kind)
            continue
        if kind[0] == "dicom":
            dicoms.append((path, kind[1]))
            continue
        cid, key = _rel_id(path, base)
        items.append(Item(kind[0], (path,), cid, key, str(path)))
    return items, excluded, dicoms


def _dicom_items(dicoms: list[tuple[Path, Any]], base: Path, spec: IngestSpec) -> list[Item]:
    """One item per DICOM file, except CT/MRI single-frame slices sharing a series UID: one item per series."""
    def notes(ds: Any) -> list[str]:
        if modality_fits(ds, spec.modality):
            return []
        return [f"DICOM Modality {modality_tag(ds)} ingested as {spec.modality} (on_modality_mismatch: warn)"]

    items: list[Item] = []
    stackable = spec.modality in ("ct", "mri")
    series: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for path, ds in dicoms:
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if stackable and uid and number_of_frames(ds) == 1:
            series[uid].append((path, ds))
        else:
            cid, key = _rel_id(path, base)
            items.append(Item("dicom", (path,), cid, key, str(path), [ds], number_of_frames(ds), notes(ds)))
    for uid, members in series.items():
        if len(members) == 1:
            path, ds = members[0]
            cid, key = _rel_id(path, base)
            items.append(Item("dicom", (path,), cid, key, str(path), [ds], 1, notes(ds)))
            continue
        files = tuple(p for p, _ in members)
        folder = Path(os.path.commonpath([str(p.parent) for p in files]))
        rel = folder.relative_to(base)
        cid = sanitise("_".join(rel.parts)) if rel.parts else sanitise(base.name)
        seen = sorted({n for _, ds in members for n in notes(ds)})
        items.append(Item("series", files, cid, f"series:{uid}", f"{folder} (series {uid})",
                          [ds for _, ds in members], 1, seen))
    return items


def _refuse_empty(spec: IngestSpec, root: Path, excluded: list[Excluded]) -> None:
    """No image in the source: an error counting and naming (the first few) files left out."""
    pattern = list(spec.include) if spec.include is not None else "everything"
    counts: dict[str, int] = defaultdict(int)
    for e in excluded:
        counts[e.outcome] += 1
    extra = "".join(f"; {n} file(s) {o}" for o, n in sorted(counts.items()))
    shown = "; ".join(f"{e.path.name}: {e.reason}" for e in excluded[:3])
    raise InputError(f"no images found in {root} (include={pattern}{extra}" + (f": {shown}" if shown else "") + ")")

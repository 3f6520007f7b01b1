"""Discovery: find the files of a source, classify them, and group DICOM slices into series.

Rules:

* ``include`` patterns are globs relative to the source folder, matched case-sensitively: ``*``,
  ``?`` and ``[...]`` stay within one folder name, ``**`` as a whole segment matches zero or more
  folders (``**/x/*.dcm``). With ``recursive: true`` a pattern without ``/`` also matches in
  sub-folders (``CT_small.dcm`` finds ``*/CT_small.dcm`` too). Without ``include`` every file is
  considered (only the top folder with ``recursive: false``). Wildcards skip hidden files and
  folders (a name starting with ``.``); a pattern without wildcards may name one. A pattern
  without wildcards that names no file is an error.
* Symbolic links are followed, to files and to folders (a patient folder may be a link to another
  disk). A folder reached twice (a second link to it, or a link back to a parent) is walked once:
  its files are listed under the first path in sorted order (logged), and so is a file reached
  twice. A broken link that a pattern names, and a folder that cannot be read (permissions), are
  errors naming them: nothing is skipped silently.
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

import errno
import logging
import os
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from .dicom import DICOM_SUFFIXES, has_dicm_preamble, number_of_frames, read_header
from .ids import sanitise, strip_suffix
from .nifti import NIFTI_SUFFIXES
from ..errors import UnreadableError
from .objects import classify_object, modality_fits, modality_tag, pixel_data_problem
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


#: ``(st_dev, st_ino)``: what makes two paths the same file or folder.
_Key = tuple[int, int]
#: ``(pattern number, index of the next segment to match)``: one state of the include matcher.
_State = tuple[int, int]
#: errno values of a symbolic link whose target is missing (or a link loop).
_BROKEN_LINK = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}


@dataclass(frozen=True)
class _Pattern:
    """One compiled ``include`` pattern.

    Attributes
    ----------
    text : str
        The pattern as written (error messages quote it).
    norm : str
        ``text`` with ``\\`` turned into ``/``.
    segments : tuple of str
        Path segments, each an :func:`fnmatch.fnmatchcase` pattern matching one name, or ``"**"``
        (zero or more folders; as the last segment, every file below). A pattern without ``/``
        searched recursively starts with ``"**"``.
    literal : bool
        No wildcard characters: it names a file, which may be hidden, and must exist.
    """

    text: str
    norm: str
    segments: tuple[str, ...]
    literal: bool


def _compile_patterns(include: tuple[str, ...] | None, recursive: bool, where: str) -> list[_Pattern]:
    """Compile the ``include`` patterns (``None``: every file) into :class:`_Pattern` objects.

    Raises
    ------
    ConfigError
        For a pattern with ``**`` inside a segment (``a**``), or one naming no file (``.``).
    """
    if include is None:
        return [_Pattern("*", "*", ("**", "*") if recursive else ("*",), False)]
    patterns = []
    for pattern in include:
        norm = pattern.replace("\\", "/")
        segments = tuple(s for s in norm.split("/") if s not in ("", "."))
        if not segments:
            raise ConfigError(f"{where}.include: pattern {pattern!r} names no file")
        for seg in segments:
            if "**" in seg and seg != "**":
                raise ConfigError(f"{where}.include: pattern {pattern!r}: '**' must be a whole path segment "
                                  f"(like '**/x/*.dcm'), not part of {seg!r}")
        if recursive and "/" not in norm:
            segments = ("**",) + segments
        patterns.append(_Pattern(pattern, norm, segments, not (_MAGIC & set(pattern))))
    return patterns


def _close(patterns: list[_Pattern], states: set[_State]) -> frozenset[_State]:
    """Add the states reached by letting each ``**`` match zero folders; drop finished states."""
    todo = list(states)
    while todo:
        p, i = todo.pop()
        segments = patterns[p].segments
        if i < len(segments) and segments[i] == "**" and (p, i + 1) not in states:
            states.add((p, i + 1))
            todo.append((p, i + 1))
    return frozenset((p, i) for p, i in states if i < len(patterns[p].segments))


def _enter(patterns: list[_Pattern], states: frozenset[_State], name: str) -> frozenset[_State]:
    """States after walking into the folder ``name``; empty when no file below it can match.

    Wildcard patterns do not enter hidden folders (their files would be skipped anyway).
    """
    hidden = name.startswith(".")
    after: set[_State] = set()
    for p, i in states:
        pattern = patterns[p]
        if hidden and not pattern.literal:
            continue
        seg = pattern.segments[i]
        if seg == "**":
            after.add((p, i))
        elif i + 1 < len(pattern.segments) and fnmatchcase(name, seg):
            after.add((p, i + 1))
    return _close(patterns, after)


def _file_hits(patterns: list[_Pattern], states: frozenset[_State], name: str) -> set[int]:
    """Numbers of the patterns that match the file ``name`` in a folder walked with ``states``."""
    hidden = name.startswith(".")
    hits = set()
    for p, i in states:
        pattern = patterns[p]
        if i == len(pattern.segments) - 1 and (not hidden or pattern.literal):
            seg = pattern.segments[i]
            if seg == "**" or fnmatchcase(name, seg):
                hits.add(p)
    return hits


def _list_folder(folder: Path, where: str) -> list[os.DirEntry]:
    """Entries of ``folder`` (through ``os.scandir``).

    Raises
    ------
    InputError
        When the folder cannot be read (permissions, I/O error).
    """
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError as exc:
        raise InputError(f"{folder}: cannot read folder ({exc.strerror or exc}) ({where})") from None


def _link_error(path: Path, exc: OSError, where: str) -> InputError:
    """The error for a symbolic link whose target cannot be reached."""
    if exc.errno in _BROKEN_LINK:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return InputError(f"{path}: broken symbolic link (points to {target})")
    return InputError(f"{path}: cannot read ({exc.strerror or exc}) ({where})")


def find_files(root: Path, include: tuple[str, ...] | None, recursive: bool, where: str) -> list[tuple[Path, bool]]:
    """List ``(file, explicit)`` pairs under ``root`` (a folder), sorted by relative path.

    One pass over the folder tree (``os.scandir``, sub-folders in sorted order), entering only the
    folders where some pattern can still match. Symbolic links to files and folders are followed
    (paths go through the link name). A folder reached again (same ``(st_dev, st_ino)``: a second
    link, a link back to a parent) is not walked twice; files matched through it are listed under
    its first path, and a file reached twice is listed once (both logged at INFO).

    Parameters
    ----------
    root : Path
        The source folder.
    include : tuple of str or None
        Glob patterns relative to ``root`` (see the module docstring); ``None``: every non-hidden
        file.
    recursive : bool
        Whether patterns without ``/`` (and ``include=None``) also match in sub-folders.
    where : str
        ``inputs.<name>``, named by error messages.

    Returns
    -------
    list of (Path, bool)
        ``(root / relative path, explicit)``; explicit when a pattern without wildcards named it.

    Raises
    ------
    InputError
        When a pattern without wildcards names no file, a folder to walk cannot be read, or a
        matching entry is a broken symbolic link.
    ConfigError
        For a malformed pattern (``**`` inside a segment).
    """
    patterns = _compile_patterns(include, recursive, where)
    try:
        st = os.stat(root)
    except OSError as exc:
        raise InputError(f"{root}: cannot read folder ({exc.strerror or exc}) ({where})") from None
    found: dict[str, tuple[bool, _Key]] = {}  # relative posix path -> (explicit, file key)
    hit = [False] * len(patterns)
    walked: dict[_Key, tuple[str, set[_State]]] = {}  # folder key -> (first relative path, states used)
    # Depth-first, popping the smallest name first; "name/" ordering makes the walk order that of
    # the sorted relative paths of the files ("a-b/x" < "a/x").
    stack: list[tuple[str, frozenset[_State], _Key]] = [
        ("", _close(patterns, {(p, 0) for p in range(len(patterns))}), (st.st_dev, st.st_ino))]
    while stack:
        rel, states, key = stack.pop()
        first = walked.get(key)
        if first is None:
            walked[key] = (rel, set(states))
        else:
            first_rel, used = first
            new = states - used
            here, there = root / rel, root / first_rel
            if new:
                log.info("%s: same folder as %s (symbolic link), matches are listed under %s", here, there, there)
                used |= new
                rel, states = first_rel, frozenset(new)
            else:
                loop = first_rel == "" or rel.startswith(first_rel + "/")
                log.info("%s: %s %s, not walked again", here,
                         "symbolic link loop back to" if loop else "same folder as", there)
                continue
        subfolders: list[tuple[str, frozenset[_State], _Key]] = []
        for entry in _list_folder(root / rel, where):
            name = entry.name
            sub = f"{rel}/{name}" if rel else name
            target: os.stat_result | None = None
            if entry.is_symlink():
                try:
                    target = os.stat(entry.path)
                except OSError as exc:
                    if _file_hits(patterns, states, name) or _enter(patterns, states, name):
                        raise _link_error(root / sub, exc, where) from None
                    continue
                is_dir, is_file = stat.S_ISDIR(target.st_mode), stat.S_ISREG(target.st_mode)
            else:
                is_dir, is_file = entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
            if is_dir:
                inner = _enter(patterns, states, name)
                if inner:
                    if target is None:
                        target = entry.stat(follow_symlinks=False)
                    subfolders.append((sub, inner, (target.st_dev, target.st_ino)))
            elif is_file:
                hits = _file_hits(patterns, states, name)
                if hits:
                    if target is None:
                        target = entry.stat(follow_symlinks=False)
                    explicit = any(patterns[p].literal for p in hits) or found.get(sub, (False,))[0]
                    found[sub] = (explicit, (target.st_dev, target.st_ino))
                    for p in hits:
                        hit[p] = True
        subfolders.sort(key=lambda s: s[0] + "/", reverse=True)
        stack.extend(subfolders)

    for p, pattern in enumerate(patterns):
        if pattern.literal and not hit[p]:
            raise InputError(f"{root / pattern.norm}: no such file ({where}.include names {pattern.text!r})")
    listed: dict[str, bool] = {}
    first_of: dict[_Key, str] = {}
    for sub in sorted(found):
        explicit, key = found[sub]
        first_sub = first_of.setdefault(key, sub)
        if first_sub != sub:
            log.info("%s: same file as %s, listed once", root / sub, root / first_sub)
        listed[first_sub] = listed.get(first_sub, False) or explicit
    return [(root / sub, explicit) for sub, explicit in listed.items()]


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

    def notes(ds: Any) -> list[str]:
        if modality_fits(ds, spec.modality):
            return []
        return [f"DICOM Modality {modality_tag(ds)} ingested as {spec.modality} (on_modality_mismatch: warn)"]

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

    if not items:
        pattern = list(spec.include) if spec.include is not None else "everything"
        counts: dict[str, int] = defaultdict(int)
        for e in excluded:
            counts[e.outcome] += 1
        extra = "".join(f"; {n} file(s) {o}" for o, n in sorted(counts.items()))
        shown = "; ".join(f"{e.path.name}: {e.reason}" for e in excluded[:3])
        raise InputError(f"no images found in {root} (include={pattern}{extra}" + (f": {shown}" if shown else "") + ")")
    items.sort(key=lambda it: it.key)
    log.info("%s: %d image item(s) in %s (%d file(s) excluded or skipped)", where, len(items), root, len(excluded))
    return Discovery(items, excluded)

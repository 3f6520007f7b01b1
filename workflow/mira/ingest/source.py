"""Ingest one configured input source into train/val/test dataset folders, all or nothing."""
from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..atomic import atomic_dir
from ..dataset import DatasetWriter
from ..errors import ConfigError, InputError, MiraError, UnreadableError
from ..input_spec import DEFAULT_MAX_FRAMES, SPLITS, IngestSpec, parse_spec
from ..modalities import ModalityProfile
from .dicom_decode import decode_file, decode_series
from .discover import Item, discover
from .ids import short_hash, unique_ids
from .memory import check_fits
from .nifti import read_nifti
from .normalise import LoadedCase, frame_indices, to_cases
from .raster import read_raster
from .report import IngestReport
from .samples import resolve_path
from .splits import assign_split

log = logging.getLogger("mira.ingest")


def load_item(item: Item, case_id: str, spec: IngestSpec, profile: ModalityProfile) -> list[LoadedCase]:
    """Read, check and normalise one discovered item into its case(s).

    Multi-frame files of a 2D-only modality (X-ray, US) give one case per kept frame
    (``<case_id>_f000``...); only those frames are decoded.
    """
    try:
        return _load_item(item, case_id, spec, profile)
    except MiraError:
        raise
    except Exception as exc:  # malformed tags surface as ValueError/TypeError deep inside readers
        raise InputError(f"{item.where}: cannot read ({type(exc).__name__}: {exc})") from exc


def _load_item(item: Item, case_id: str, spec: IngestSpec, profile: ModalityProfile) -> list[LoadedCase]:
    path = item.files[0]
    if item.kind == "nifti":
        return to_cases(read_nifti(path, spec.spacing_mm), profile, case_id, max_frames=spec.max_frames)
    inplane = spec.inplane_spacing
    if item.kind == "raster":
        return to_cases(read_raster(path, inplane), profile, case_id, max_frames=spec.max_frames)
    rescale = dict(ct_rescale=spec.ct_rescale, rescale_key=f"inputs.{spec.name}.ct_rescale")
    if item.kind == "series":
        dec = decode_series(item.files, item.headers, profile.name, item.where, inplane, **rescale)
        return to_cases(dec, profile, case_id)
    frames = None
    if item.frames > 1 and 3 not in profile.ndims:
        frames = frame_indices(item.frames, spec.max_frames)
    dec = decode_file(path, profile.name, frames, inplane, **rescale)
    return to_cases(dec, profile, case_id, frames=frames if dec.array.ndim == 3 else None)


def iter_cases(spec: IngestSpec, seed: int | None = None, mem_mb: float | None = None,
               report: IngestReport | None = None) -> Iterator[tuple[str, LoadedCase]]:
    """Yield ``(split, case)`` for every case of a source, in a stable order.

    Parameters
    ----------
    spec : IngestSpec
        Validated source.
    seed : int, optional
        Config seed for the split assignment; ``None`` puts every case in ``"test"``.
    mem_mb : float, optional
        Memory of the job in MB: an item whose decoding would need more is refused before it is
        decoded (:func:`.memory.check_fits`); ``None`` checks nothing.
    report : IngestReport, optional
        Receives one row per file considered (ingested, excluded or skipped, and why).

    Raises
    ------
    InputError
        As :func:`ingest_source`; an unreadable file is skipped instead (and reported) when the
        source says ``on_unreadable: skip``.
    """
    profile = spec.profile
    found = discover(spec)
    items = found.items
    if report is not None:
        for ex in found.excluded:
            report.add(ex.path, ex.outcome, reason=ex.reason)
    ids = unique_ids([it.id_candidate for it in items], [it.key for it in items])
    used: set[str] = set()
    for item in items:
        check_fits(item, mem_mb)
    for item, base_id in zip(items, ids):
        split = assign_split(seed, spec.name, base_id, spec.split) if seed is not None else "test"
        try:
            cases = load_item(item, base_id, spec, profile)
        except UnreadableError as exc:
            if spec.on_unreadable != "skip":
                raise UnreadableError(f"{exc} (set inputs.{spec.name}.on_unreadable: skip to leave it out, listed "
                                      "in the ingest report)") from None
            log.warning("%s (skipped: inputs.%s.on_unreadable is skip)", exc, spec.name)
            if report is not None:
                for f in item.files:
                    report.add(f, "skipped", reason=str(exc))
            continue
        made = []
        for case in cases:
            if case.case_id in used:  # e.g. a file named like another file's frame id
                case.case_id = f"{case.case_id}_{short_hash(item.key + case.case_id)}"
            used.add(case.case_id)
            made.append(case.case_id)
            yield split, case
        if report is not None:
            for f in item.files:
                report.add(f, "ingested", case_ids=made, split=split, note="; ".join(item.notes))


def _new_ancestors(paths: Sequence[Path]) -> list[Path]:
    """Folders that do not exist yet on the way to ``paths`` (deepest first)."""
    missing: set[Path] = set()
    for p in paths:
        for parent in p.resolve().parents:
            if parent.exists():
                break
            missing.add(parent)
    return sorted(missing, key=lambda q: len(q.parts), reverse=True)


def _check_out_dirs(out_dirs: Mapping[str, Any]) -> dict[str, Path]:
    if not isinstance(out_dirs, Mapping) or set(out_dirs) != set(SPLITS):
        keys = sorted(out_dirs) if isinstance(out_dirs, Mapping) else out_dirs
        raise ConfigError(f"out_dirs: expected exactly the keys {list(SPLITS)}, got {keys}")
    dirs = {s: Path(out_dirs[s]) for s in SPLITS}
    if len({d.resolve() for d in dirs.values()}) != len(dirs):
        raise ConfigError(f"out_dirs: the three split folders must differ, got {dirs}")
    return dirs


def ingest_source(name: str, spec: dict, out_dirs: Mapping[str, os.PathLike], seed: int,
                  mem_mb: float | None = None, report_path: os.PathLike | str | None = None) -> dict[str, int]:
    """Read every image of one configured input source and write the dataset folders.

    Parameters
    ----------
    name : str
        Source name (the key under ``inputs:`` in ``config.yaml``).
    spec : dict
        The source's entry: ``modality`` (``"ct"``, ``"mri"``, ``"xray"``, ``"us"``; required),
        ``path`` (folder, file, or ``"pydicom:"`` for pydicom's bundled test files; required),
        ``include`` (glob patterns relative to ``path``), ``split`` (``{train, val, test}``
        fractions summing to 1; default all ``test``), ``recursive`` (default ``true``),
        ``max_frames`` (frames kept per multi-frame X-ray/US file, evenly spaced; default 4;
        ``null`` = all), ``spacing_mm`` (``dy`` or ``[dy, dx]`` in mm for files without spacing).
    out_dirs : mapping
        ``{"train": path, "val": path, "test": path}``; each becomes a dataset folder
        (``manifest.csv``, ``legend.json`` = ``{}``, ``images/<case>.nii.gz``), empty ones included.
    seed : int
        Config seed; a case's split is a pure function of ``(seed, name, case id)``, so it does not
        change when other files are added.
    mem_mb : float, optional
        Memory of the job (the rule's ``resources.mem_mb``): an image that would not fit is refused
        before anything is decoded or written; ``None`` checks nothing.
    report_path : path, optional
        Where to write the ingest report (:mod:`.report`: every file considered, ingested as which
        case or excluded/skipped and why), together with the dataset folders.

    Returns
    -------
    dict
        Number of cases per split, e.g. ``{"train": 28, "val": 4, "test": 8}``.

    Raises
    ------
    ConfigError
        Unknown key or modality, bad values (message names ``inputs.<name>.<key>``), bad ``out_dirs``.
    InputError
        Any unreadable, corrupt, uncalibrated (CT), too small or non-finite input, a DICOM Modality
        tag that contradicts ``modality``, an explicitly named non-image, or no image at all; the
        message names the file. Non-image objects found by a folder scan are excluded by DICOM class
        and unreadable files may be skipped (``on_unreadable: skip``); both are listed in the report.
        Nothing is left behind: cases are written into temporary folders that are renamed only after
        every case succeeded. Input files are only opened for reading.
    """
    t0 = time.perf_counter()
    ispec = parse_spec(name, spec)
    dirs = _check_out_dirs(out_dirs)
    profile = ispec.profile
    # discovery first: header problems surface before any folder is created
    root = resolve_path(ispec.path)
    report = IngestReport(name, profile.name, root if root.is_dir() else root.parent)
    cases = iter_cases(ispec, seed, mem_mb, report)
    first = next(cases, None)
    if first is None:
        raise InputError(f"inputs.{name}: no image could be ingested from {ispec.path} (every image was skipped as "
                         "unreadable; see the messages above)")
    created = _new_ancestors(list(dirs.values()))
    counts = {s: 0 for s in SPLITS}
    try:
        with contextlib.ExitStack() as stack:
            writers = {}
            for split in SPLITS:
                tmp = stack.enter_context(atomic_dir(dirs[split]))
                writers[split] = DatasetWriter(tmp, source=name, modality=profile.name, split=split, legend={})
            for split, case in _chain(first, cases):
                writers[split].add(case.case_id, case.image, case.spacing, class_label=-1, geometry=case.geometry)
                counts[split] += 1
            for writer in writers.values():
                writer.close()
            if report_path is not None:
                report.write(report_path)
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    log.info("inputs.%s: %s cases (train/val/test) from %s in %.1f s", name,
             "/".join(str(counts[s]) for s in SPLITS), ispec.path, time.perf_counter() - t0)
    return counts


def _chain(first: tuple[str, LoadedCase], rest: Iterator[tuple[str, LoadedCase]]) -> Iterator[tuple[str, LoadedCase]]:
    yield first
    yield from rest


def load_series(path: os.PathLike | str, modality: str, *, include: Sequence[str] | None = None,
                recursive: bool = True, max_frames: int | None = DEFAULT_MAX_FRAMES,
                spacing_mm: float | Sequence[float] | None = None, on_unreadable: str = "error",
                on_modality_mismatch: str = "error",
                ct_rescale: Sequence[float] | None = None) -> list[LoadedCase]:
    """Load the image(s) at ``path`` into normalised cases, without writing anything.

    ``path`` may be one file (DICOM, NIfTI, PNG/TIFF/JPEG) or a folder, e.g. one DICOM series of
    slices in any file order, which becomes one ``(z, y, x)`` volume for CT/MRI. The same rules as
    :func:`ingest_source` apply (normalisation, multi-frame handling, errors).

    Parameters
    ----------
    path : path-like
        File or folder (``"pydicom:"`` for pydicom's bundled test files).
    modality : str
        ``"ct"``, ``"mri"``, ``"xray"`` or ``"us"``.
    include, recursive, max_frames, spacing_mm, on_unreadable, on_modality_mismatch, ct_rescale
        As in the ``inputs:`` spec of :func:`ingest_source` (:class:`.spec.IngestSpec`).

    Returns
    -------
    list of LoadedCase
        ``case_id``, float32 ``image`` in stored units, ``spacing`` in mm (numpy order), ``source``.
    """
    raw: dict[str, Any] = {"modality": modality, "path": os.fspath(path), "recursive": recursive,
                           "max_frames": max_frames}
    if include is not None:
        raw["include"] = list(include)
    if spacing_mm is not None:
        raw["spacing_mm"] = spacing_mm if isinstance(spacing_mm, (int, float)) else list(spacing_mm)
    raw.update(on_unreadable=on_unreadable, on_modality_mismatch=on_modality_mismatch)
    if ct_rescale is not None:
        raw["ct_rescale"] = list(ct_rescale)
    return [case for _, case in iter_cases(parse_spec("load_series", raw))]

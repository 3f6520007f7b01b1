"""Folder walking of a source: ``include`` patterns matched in one pass over the folder tree.

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
* A file is *explicit* when a pattern without wildcards names it (:mod:`.discover` then requires
  it to be an image).
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import ConfigError, InputError

log = logging.getLogger("mira.ingest")

_MAGIC = set("*?[")

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
    found, hit = _walk(root, patterns, (st.st_dev, st.st_ino), where)
    for p, pattern in enumerate(patterns):
        if pattern.literal and not hit[p]:
            raise InputError(f"{root / pattern.norm}: no such file ({where}.include names {pattern.text!r})")
    return _listed_once(root, found)


#: A folder still to walk: ``(relative posix path, matcher states, folder key)``.
_Folder = tuple[str, frozenset[_State], _Key]


def _walk(root: Path, patterns: list[_Pattern], root_key: _Key, where: str
          ) -> tuple[dict[str, tuple[bool, _Key]], list[bool]]:
    """Walk the tree once: matched files ``{relative path: (explicit, file key)}`` and which patterns hit."""
    found: dict[str, tuple[bool, _Key]] = {}  # relative posix path -> (explicit, file key)
    hit = [False] * len(patterns)
    walked: dict[_Key, tuple[str, set[_State]]] = {}  # folder key -> (first relative path, states used)
    # Depth-first, popping the smallest name first; "name/" ordering makes the walk order that of
    # the sorted relative paths of the files ("a-b/x" < "a/x").
    stack: list[_Folder] = [("", _close(patterns, {(p, 0) for p in range(len(patterns))}), root_key)]
    while stack:
        visit = _first_visit(root, walked, *stack.pop())
        if visit is None:
            continue
        rel, states = visit
        subfolders = _scan_folder(root, rel, states, patterns, where, found, hit)
        subfolders.sort(key=lambda s: s[0] + "/", reverse=True)
        stack.extend(subfolders)
    return found, hit


def _first_visit(root: Path, walked: dict[_Key, tuple[str, set[_State]]], rel: str, states: frozenset[_State],
                 key: _Key) -> tuple[str, frozenset[_State]] | None:
    """Where and with which states to walk a folder; ``None`` when it was walked already with them.

    A folder reached again (a link) is walked under its first path, only for states not used there.
    """
    first = walked.get(key)
    if first is None:
        walked[key] = (rel, set(states))
        return rel, states
    first_rel, used = first
    new = states - used
    here, there = root / rel, root / first_rel
    if new:
        log.info("%s: same folder as %s (symbolic link), matches are listed under %s", here, there, there)
        used |= new
        return first_rel, frozenset(new)
    loop = first_rel == "" or rel.startswith(first_rel + "/")
    log.info("%s: %s %s, not walked again", here, "symbolic link loop back to" if loop else "same folder as", there)
    return None


def _scan_folder(root: Path, rel: str, states: frozenset[_State], patterns: list[_Pattern], where: str,
                 found: dict[str, tuple[bool, _Key]], hit: list[bool]) -> list[_Folder]:
    """Record the matching files of one folder in ``found``/``hit``; return the sub-folders to walk."""
    subfolders: list[_Folder] = []
    for entry in _list_folder(root / rel, where):
        name = entry.name
        sub = f"{rel}/{name}" if rel else name
        kind = _entry_kind(entry, root / sub, patterns, states, where)
        if kind is None:
            continue
        is_dir, is_file, target = kind
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
    return subfolders


def _entry_kind(entry: os.DirEntry, path: Path, patterns: list[_Pattern], states: frozenset[_State], where: str
                ) -> tuple[bool, bool, os.stat_result | None] | None:
    """``(is_dir, is_file, link target stat)`` of a folder entry, following symbolic links.

    A broken link is an error when a pattern could match it, else ``None`` (ignored).
    """
    if not entry.is_symlink():
        return entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False), None
    try:
        target = os.stat(entry.path)
    except OSError as exc:
        if _file_hits(patterns, states, entry.name) or _enter(patterns, states, entry.name):
            raise _link_error(path, exc, where) from None
        return None
    return stat.S_ISDIR(target.st_mode), stat.S_ISREG(target.st_mode), target


def _listed_once(root: Path, found: dict[str, tuple[bool, _Key]]) -> list[tuple[Path, bool]]:
    """Sorted ``(path, explicit)``; a file reached twice is listed once, under its first path."""
    listed: dict[str, bool] = {}
    first_of: dict[_Key, str] = {}
    for sub in sorted(found):
        explicit, key = found[sub]
        first_sub = first_of.setdefault(key, sub)
        if first_sub != sub:
            log.info("%s: same file as %s, listed once", root / sub, root / first_sub)
        listed[first_sub] = listed.get(first_sub, False) or explicit
    return [(root / sub, explicit) for sub, explicit in listed.items()]

"""Atomic file and folder writes: an output either exists complete or not at all.

A job killed half-way (SIGKILL, node failure) must never leave a file that looks finished. Every
writer in mira writes to a temporary sibling and renames it into place (``os.replace`` is atomic on
POSIX within one file system). A temporary sibling left by a killed job (``.<name>.<random>.tmp``)
is removed when the same output is written again, so a resumed run leaves no litter.

A write that fails in the operating system (disk full, quota exceeded, file size limit, read-only
file system, I/O error, permission denied) raises :class:`~mira.errors.OutputError` naming the final
path and the system's reason, e.g. ``results/x.csv: cannot write (No space left on device)``.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Union

from .errors import OutputError

PathLike = Union[str, os.PathLike]


def _sweep_stale(parent: Path, pattern: str) -> None:
    """Remove temporaries of an earlier, killed write of the same output (names matching ``pattern``).

    Snakemake runs one job per output at a time, so a matching sibling cannot belong to a live writer.
    """
    rx = re.compile(pattern)
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if rx.match(entry.name):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def cannot_write(path: PathLike, exc: BaseException) -> OutputError:
    """The :class:`OutputError` for ``path`` whose write failed with ``exc`` (the system's reason)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return OutputError(f"{path}: cannot write ({reason})")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffixes); rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched. Creating the
    temporary or renaming it raises :class:`~mira.errors.OutputError` (naming ``path``) on an
    ``OSError``; errors raised by the caller's block pass through unchanged.
    """
    final = Path(path)
    suffix = "".join(final.suffixes) or ""
    stem = final.name.split(".")[0]
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(final.parent, rf"^\.{re.escape(stem)}\.[A-Za-z0-9_]{{8}}\.tmp{re.escape(suffix)}$")
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp" + suffix, dir=final.parent)
    except OSError as exc:
        raise cannot_write(final, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get ordinary permissions
        yield tmp_path
        try:
            os.replace(tmp_path, final)
        except OSError as exc:
            raise cannot_write(final, exc) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    On an exception the temporary folder is deleted and no ``path`` is created. Creating the
    temporary folder or renaming it raises :class:`~mira.errors.OutputError` (naming ``path``) on
    an ``OSError``; errors raised by the caller's block pass through unchanged.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(final.parent, rf"^\.{re.escape(final.name)}\.[A-Za-z0-9_]{{8}}\.tmp$")
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as exc:
        raise cannot_write(final, exc) from exc
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        try:
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as exc:
            raise cannot_write(final, exc) from exc
    except OutputError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # a file written inside the temporary folder is named by its final place, which the user knows
        raise OutputError(str(exc).replace(str(tmp), str(final))) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8); :class:`~mira.errors.OutputError` when it cannot."""
    with atomic_path(path) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise cannot_write(path, exc) from exc


def write_torch(path: PathLike, obj) -> None:
    """``torch.save(obj)`` to ``path`` atomically, with bytes that depend on ``obj`` only.

    ``torch.save`` names the zip archive's records after the file it writes to; saving straight to
    a random temporary name would give every run different bytes. The checkpoint is serialised in
    memory instead (records under torch's fixed name for file-like targets) and written atomically.
    """
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(buf.getvalue())
        except OSError as exc:
            raise cannot_write(path, exc) from exc

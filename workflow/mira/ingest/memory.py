"""Refuse an input image that would not fit the ingest job's memory, before any pixel is decoded.

The ingest rule declares ``resources: mem_mb``; a job that outgrows it is killed by the scheduler
(SLURM's OOM killer, or the machine's) with a message that names nothing. Instead, every discovered
item's size is read from its header (DICOM Rows/Columns/frames, the NIfTI header, the PNG/TIFF
header) and compared with the memory the job was given::

    check_fits(item, mem_mb=4000)   # InputError naming the file, its size and the key to raise

The estimate is ``pixels x PEAK_BYTES_PER_PIXEL`` (the decoded pixels are held as a few float32 /
float64 working copies at once: raw decode, rescaled float, normalised and resampled copies) plus
:data:`BASELINE_MB` for the interpreter and its libraries.

A corrupt header (Rows x Columns of 65535 x 65535 in a 12 kB file) would read as "too large": before
that verdict, :func:`header_problem` checks that the pixels the header claims can be in the file at
all (uncompressed DICOM: the pixel data element or the file must hold them; NIfTI: the file, or for
``.nii.gz`` :data:`~mira.nifti_file.DEFLATE_MAX_RATIO` times the compressed file) and reports a corrupt header.
"""
from __future__ import annotations

import math
from pathlib import Path

import SimpleITK as sitk
from PIL import Image

from ..errors import InputError
from ..nifti_file import DEFLATE_MAX_RATIO, is_gzip, read_header
from .objects import format_bytes as _size
from .objects import pixel_data_problem

#: Peak bytes of working memory per decoded pixel (about three float64 copies at once).
PEAK_BYTES_PER_PIXEL = 24
#: Memory (MB) of the Python process and its libraries before any image is read.
BASELINE_MB = 400


def item_pixels(item) -> int:
    """Decoded samples of one discovered item (pixels x frames x colour samples), from headers only."""
    if item.kind in ("dicom", "series"):
        total = 0
        for ds in item.headers:
            rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            samples = int(ds.get("SamplesPerPixel", 1) or 1)
            total += rows * cols * frames * samples
        return total
    path = str(item.files[0])
    if item.kind == "nifti":
        reader = sitk.ImageFileReader()
        reader.SetFileName(path)
        reader.ReadImageInformation()
        return math.prod(reader.GetSize()) * reader.GetNumberOfComponents()
    with Image.open(path) as im:
        return im.width * im.height * len(im.getbands()) * int(getattr(im, "n_frames", 1))


def _nifti_problem(path: Path) -> str | None:
    """Why a NIfTI header's voxel claim cannot be true (exact for ``.nii``, deflate bound for gzip)."""
    header = read_header(path)
    size = path.stat().st_size
    claimed = header.vox_offset + header.data_bytes
    gz = is_gzip(path)
    if claimed <= (DEFLATE_MAX_RATIO * size if gz else size):
        return None
    grid = " x ".join(str(d) for d in header.dims)
    held = f"{_size(size)} (gzip-compressed: at most {_size(DEFLATE_MAX_RATIO * size)} of data)" if gz else _size(size)
    return (f"{path}: corrupt header: claims {grid} {header.type_name} voxels ({_size(header.data_bytes)}) "
            f"but the file holds {held}")


def header_problem(item) -> str | None:
    """A message naming the file when a header claims more pixels than its file can hold, else ``None``.

    Uncompressed DICOM (native transfer syntaxes): ``Rows x Columns x frames x SamplesPerPixel x
    BitsAllocated / 8`` must fit the pixel data element (or the file). NIfTI: ``vox_offset`` plus the
    voxel bytes must fit the file (``.nii.gz``: :data:`~mira.nifti_file.DEFLATE_MAX_RATIO` x its size).
    Compressed DICOM and raster files are not checked (their decoders report corrupt data).
    """
    if item.kind in ("dicom", "series"):
        for ds, path in zip(item.headers, item.files):
            problem = pixel_data_problem(ds, path)
            if problem:
                return f"{path}: {problem}"
        return None
    if item.kind == "nifti":
        return _nifti_problem(Path(item.files[0]))
    return None


def estimated_mb(pixels: int) -> float:
    """Peak memory (MB) of ingesting an item of ``pixels`` decoded samples."""
    return BASELINE_MB + pixels * PEAK_BYTES_PER_PIXEL / 2**20


def check_fits(item, mem_mb: float | None) -> None:
    """Raise :class:`InputError` naming the file when its ingestion would need more than ``mem_mb``.

    An item that looks too large because its header claims more pixels than its file holds is
    reported as a corrupt header instead (:func:`header_problem`). ``mem_mb=None`` (library use
    without a declared budget) checks nothing.
    """
    if mem_mb is None:
        return
    try:
        pixels = item_pixels(item)
    except Exception:  # an unreadable header is reported by the reader itself, with its own message
        return
    need = estimated_mb(pixels)
    if need > mem_mb:
        try:
            problem = header_problem(item)
        except (InputError, OSError, ValueError, TypeError):  # the reader reports an unreadable header itself
            problem = None
        if problem:
            raise InputError(problem)
        raise InputError(
            f"{item.where}: image too large for the configured memory ({pixels / 1e6:.1f} million samples need "
            f"about {need:,.0f} MB; the ingest job has mem_mb={mem_mb:,.0f}). Raise it, e.g. "
            f"--set-resources ingest:mem_mb={int(math.ceil(need / 1000.0) * 1000)}, or crop/split the image")

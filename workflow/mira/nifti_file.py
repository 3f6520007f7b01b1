"""NIfTI file integrity: the header fields and one streaming pass over the voxel data.

SimpleITK decodes NIfTI files but accepts files it should not: a file shorter than its header says
(the missing voxels become zeros, also inside a ``.nii.gz``), a pixdim of 0 (1.0 mm), NaN voxels
(0), a gzip stream with a bad CRC. :func:`read_header` parses the NIfTI-1/NIfTI-2 header and
:func:`scan_voxels` reads the voxel data once, in chunks (the gzip stream decompressed on the fly,
never held whole), counting bytes and non-finite values. :func:`nifti_problem` says what is wrong
with a file, or ``None``: the ingestion of NIfTI inputs (:mod:`mira.ingest.nifti`) and every write
of mira's own images (:func:`mira.io.write_image`) use it.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from .errors import UnreadableError

#: NIfTI datatype code -> (name, bits per voxel).
DATATYPES: dict[int, tuple[str, int]] = {
    1: ("binary", 1), 2: ("uint8", 8), 4: ("int16", 16), 8: ("int32", 32), 16: ("float32", 32),
    32: ("complex64", 64), 64: ("float64", 64), 128: ("rgb24", 24), 256: ("int8", 8), 512: ("uint16", 16),
    768: ("uint32", 32), 1024: ("int64", 64), 1280: ("uint64", 64), 1536: ("float128", 128),
    1792: ("complex128", 128), 2048: ("complex256", 256), 2304: ("rgba32", 32),
}
#: Datatype codes of real floating-point voxels and their numpy types (scanned for NaN/inf).
_FLOAT_CODES: dict[int, type] = {16: np.float32, 64: np.float64}
#: Datatype codes that pack several colour components in one voxel.
_COLOUR_CODES: dict[int, int] = {128: 3, 2304: 4}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 22  # 4 MiB per read
#: Largest expansion of a deflate stream (about 1032:1): a ``.nii.gz`` cannot hold more than this.
DEFLATE_MAX_RATIO = 1032


@dataclass(frozen=True)
class NiftiHeader:
    """The fields of a NIfTI-1 or NIfTI-2 header that the integrity checks need.

    Attributes
    ----------
    endian : str
        ``"<"`` (little) or ``">"`` (big endian).
    version : int
        1 (348-byte header) or 2 (540-byte header).
    dims : tuple of int
        ``dim[1..dim[0]]``: voxels along x, y, z, t, then components (NIfTI order, x first).
    datatype : int
        NIfTI datatype code (:data:`DATATYPES`).
    bitpix : int
        Bits per voxel as the header states it.
    pixdim : tuple of float
        ``pixdim[1..dim[0]]``: voxel size along each axis (mm for x, y, z in ``xyzt_units``).
    vox_offset : int
        Byte offset of the voxel data in the (decompressed) file.
    scl_slope, scl_inter : float
        Value scaling (applied by ITK on reading).
    intent_code : int
        NIfTI intent (1007 = vector).
    """

    endian: str
    version: int
    dims: tuple[int, ...]
    datatype: int
    bitpix: int
    pixdim: tuple[float, ...]
    vox_offset: int
    scl_slope: float
    scl_inter: float
    intent_code: int

    @property
    def header_bytes(self) -> int:
        """Size of the header proper (348 or 540 bytes)."""
        return 348 if self.version == 1 else 540

    @property
    def components(self) -> int:
        """Values per voxel: 3/4 for RGB(A) datatypes, ``dim[5]`` for vector images, else 1."""
        n = _COLOUR_CODES.get(self.datatype, 1)
        if len(self.dims) >= 5:
            n *= max(int(self.dims[4]), 1)
        return n

    @property
    def voxels(self) -> int:
        """Number of voxels the header describes (product of all dims)."""
        return math.prod(self.dims)

    @property
    def type_name(self) -> str:
        """Name of the voxel type (``int16``, ``float32``, ``rgb24``...)."""
        return DATATYPES.get(self.datatype, (f"datatype {self.datatype}", 0))[0]

    @property
    def data_bytes(self) -> int:
        """Bytes of voxel data the header describes (the datatype's size, as nifticlib computes it)."""
        bits = DATATYPES.get(self.datatype, ("", self.bitpix))[1] or self.bitpix
        return (self.voxels * max(int(bits), 0) + 7) // 8

    @property
    def is_float(self) -> bool:
        """``True`` for float32/float64 voxels (the types whose NaN/inf ITK hides)."""
        return self.datatype in _FLOAT_CODES

    def describe(self) -> str:
        """``"64x64x30 int16"``: the voxel grid and type, for messages."""
        return "x".join(str(d) for d in self.dims) + " " + self.type_name


@dataclass(frozen=True)
class VoxelScan:
    """What one streaming pass found in a NIfTI file.

    Attributes
    ----------
    held : int
        Bytes of voxel data present after ``vox_offset`` (at most :attr:`NiftiHeader.data_bytes`).
    nonfinite : int
        NaN/inf voxels (float types only; 0 otherwise).
    stream_error : str or None
        Why the gzip stream could not be read to its end (ends early, CRC error...), else ``None``.
    """

    held: int
    nonfinite: int
    stream_error: str | None = None


_ENDS_EARLY = "the gzip stream ends early"


class _Broken(Exception):
    """Raised inside this module with a reason that the caller prefixes with the file name."""


def is_gzip(path: os.PathLike | str) -> bool:
    """``True`` when the file starts with the gzip magic bytes (a ``.nii.gz`` may also be plain)."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks; gzip errors surface as :class:`_Broken`.

    A ``.nii.gz`` that is not gzip-compressed is read as it is (nifticlib does the same).
    """
    gz = is_gzip(path)
    fh: BinaryIO = gzip.open(path, "rb") if gz else open(path, "rb")  # type: ignore[assignment]
    with fh:
        read = fh.read1 if gz else fh.read  # read1: a chunk read before the stream breaks is kept
        while True:
            try:
                buf = read(_CHUNK_BYTES)
            except EOFError:
                raise _Broken(_ENDS_EARLY) from None
            except (gzip.BadGzipFile, zlib.error) as exc:
                raise _Broken(f"corrupt gzip stream ({exc})") from None
            if not buf:
                return
            yield buf


def _parse(head: bytes) -> NiftiHeader:
    """Parse the first bytes (at least the header) of a NIfTI file; :class:`_Broken` when not NIfTI."""
    if len(head) < 4:
        raise _Broken(f"truncated NIfTI: the file holds only {len(head)} bytes, no header")
    for endian in "<>":
        size = struct.unpack(endian + "i", head[:4])[0]
        if size in (348, 540):
            break
    else:
        raise _Broken("not a NIfTI file (the header size field is neither 348 nor 540)")
    if len(head) < size:
        raise _Broken(f"truncated NIfTI: the file holds only {len(head)} bytes, less than its {size}-byte header")
    e = endian
    if size == 348:
        dim = struct.unpack(e + "8h", head[40:56])
        intent = struct.unpack(e + "h", head[68:70])[0]
        datatype, bitpix = struct.unpack(e + "2h", head[70:74])
        pixdim = struct.unpack(e + "8f", head[76:108])
        offset = struct.unpack(e + "f", head[108:112])[0]
        slope, inter = struct.unpack(e + "2f", head[112:120])
        version = 1
    else:
        datatype, bitpix = struct.unpack(e + "2h", head[12:16])
        dim = struct.unpack(e + "8q", head[16:80])
        pixdim = struct.unpack(e + "8d", head[104:168])
        offset = struct.unpack(e + "q", head[168:176])[0]
        slope, inter = struct.unpack(e + "2d", head[176:192])
        intent = struct.unpack(e + "i", head[504:508])[0]
        version = 2
    ndim = int(dim[0])
    if not 1 <= ndim <= 7:
        raise _Broken(f"corrupt NIfTI header: dim[0] = {ndim} (must be 1..7)")
    dims = tuple(int(d) for d in dim[1:ndim + 1])
    if min(dims) < 1:
        raise _Broken(f"corrupt NIfTI header: dims {dims} (each must be at least 1)")
    if not (math.isfinite(offset) and offset >= 0):
        raise _Broken(f"corrupt NIfTI header: vox_offset = {offset}")
    return NiftiHeader(endian=e, version=version, dims=dims, datatype=int(datatype), bitpix=int(bitpix),
                       pixdim=tuple(float(p) for p in pixdim[1:ndim + 1]),
                       vox_offset=max(int(offset), size), scl_slope=float(slope), scl_inter=float(inter),
                       intent_code=int(intent))


def _read_header(path: Path) -> NiftiHeader:
    """Read the first 540 (decompressed) bytes and parse them; :class:`_Broken` when cut or not NIfTI."""
    gz = is_gzip(path)
    head = b""
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
        while len(head) < 540:
            try:
                buf = fh.read1(540 - len(head)) if gz else fh.read(540 - len(head))
            except EOFError:
                if len(head) >= 348:
                    break  # let the size field decide (a NIfTI-1 header may be complete)
                raise _Broken(f"truncated NIfTI: the gzip stream ends within the header, after {len(head)} bytes"
                              ) from None
            except (gzip.BadGzipFile, zlib.error) as exc:
                raise _Broken(f"corrupt gzip stream ({exc})") from None
            if not buf:
                break
            head += buf
    return _parse(head)


def read_header(path: os.PathLike | str) -> NiftiHeader:
    """Parse the header of a NIfTI-1/NIfTI-2 ``.nii`` or ``.nii.gz`` file (read-only, header bytes only).

    Raises
    ------
    UnreadableError
        (an :class:`InputError`) If the file is not NIfTI, its header is cut short or describes an
        impossible grid; the message names the file.
    """
    path = Path(path)
    try:
        return _read_header(path)
    except _Broken as exc:
        raise UnreadableError(f"{path}: {exc}") from None
    except OSError as exc:
        raise UnreadableError(f"{path}: cannot read ({exc.strerror or exc})") from None


def scan_voxels(path: os.PathLike | str, header: NiftiHeader, nonfinite: bool = True) -> VoxelScan:
    """One streaming pass over a NIfTI file: bytes of voxel data present and NaN/inf voxels.

    An uncompressed file of an integer type is measured by its size, without reading it. Otherwise
    the (decompressed) stream is read in chunks of a few MiB to its end, so a gzip stream that ends
    early or fails its CRC is noticed; float32/float64 voxels are counted for NaN/inf on the way when
    ``nonfinite`` is set.
    """
    path = Path(path)
    start, need = header.vox_offset, header.data_bytes
    gz = is_gzip(path)
    count = nonfinite and header.is_float
    if not gz and not count:
        return VoxelScan(min(need, max(0, path.stat().st_size - start)), 0)
    dtype = np.dtype(_FLOAT_CODES[header.datatype]).newbyteorder(header.endian) if count else None
    pos, held, bad, carry, error = 0, 0, 0, b"", None
    try:
        for buf in _chunks(path):
            lo, hi = max(start - pos, 0), min(start + need - pos, len(buf))
            pos += len(buf)
            if hi > lo:
                held += hi - lo
                if dtype is not None:
                    data = carry + buf[lo:hi]
                    cut = len(data) - len(data) % dtype.itemsize
                    bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(data[:cut], dtype=dtype))))
                    carry = data[cut:]
            if not gz and pos >= start + need:
                break
    except _Broken as exc:
        error = str(exc)
    return VoxelScan(held, bad, error)


def truncation_problem(header: NiftiHeader, scan: VoxelScan) -> str | None:
    """Why a scanned file is incomplete or damaged (for a message after ``<file>: ``), or ``None`` when whole."""
    need, err = header.data_bytes, scan.stream_error
    if err is not None and err != _ENDS_EARLY:  # the gzip data itself is damaged (bad deflate data, CRC)
        return (f"corrupt NIfTI: {err} after {scan.held} of the {need} bytes of voxel data "
                f"({header.describe()})")
    if scan.held < need:
        why = f" ({err})" if err else ""
        return (f"truncated NIfTI: header says {header.describe()} voxels ({need} bytes) but the file holds only "
                f"{scan.held} bytes of voxel data{why}")
    if err:
        return f"truncated NIfTI: {err} after all {need} bytes of voxel data (the file is cut or damaged)"
    return None


def nifti_problem(path: os.PathLike | str, nonfinite: bool = False) -> str | None:
    """Check a NIfTI file whole (header, data length, gzip stream; NaN/inf if ``nonfinite``).

    Returns
    -------
    str or None
        Why the file is not a complete NIfTI file (without the file name), or ``None`` when it is.
    """
    path = Path(path)
    try:
        header = _read_header(path)
    except _Broken as exc:
        return str(exc)
    scan = scan_voxels(path, header, nonfinite=nonfinite)
    problem = truncation_problem(header, scan)
    if problem is None and scan.nonfinite:
        problem = f"{scan.nonfinite} NaN or inf voxel values"
    return problem


def _gzip_trailer_length(path: Path) -> int | None:
    """ISIZE of the gzip trailer (uncompressed length mod 2**32 of the last member), or ``None``."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 18:  # gzip header (10) + trailer (8)
            return None
        fh.seek(-4, os.SEEK_END)
        return struct.unpack("<I", fh.read(4))[0]


def written_file_problem(path: os.PathLike | str) -> str | None:
    """Check a NIfTI file mira has just written: like :func:`nifti_problem`, fast for a whole file.

    A complete ``.nii.gz`` written by ITK is one gzip member whose trailer records the stream length:
    when it equals the header's ``vox_offset`` + voxel bytes the file is accepted without
    decompressing it (a short write cuts the trailer off; its last bytes match the expected length
    with a chance of 2**-32). Otherwise, and for uncompressed files, :func:`nifti_problem` decides.
    """
    path = Path(path)
    try:
        header = _read_header(path)
    except _Broken as exc:
        return str(exc)
    if is_gzip(path) and _gzip_trailer_length(path) == (header.vox_offset + header.data_bytes) % 2**32:
        return None
    return nifti_problem(path)

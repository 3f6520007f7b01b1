"""NIfTI inputs are read whole or refused by name: truncation, bad pixdim, vector images, NaN, corrupt headers.

Every case starts from real data (pydicom's CT_small, read with SimpleITK), is written as NIfTI by
SimpleITK and then damaged with plain byte operations. Valid files must give exactly what an
independent SimpleITK reading gives; damaged ones an :class:`InputError` whose message names the
file and the cause. No input file is ever modified.
"""
from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from mira import nifti_file as nifti_mod
from mira.errors import InputError
from mira.ingest import ingest_source, load_series, pydicom_test_files
from mira.ingest.discover import Item
from mira.ingest.memory import check_fits
from mira.ingest.nifti import read_nifti
from mira.io import read_image
from mira.nifti_file import nifti_problem, read_header

CT_SMALL = pydicom_test_files() / "CT_small.dcm"
#: Exact binary fractions, so that messages show them exactly: (dx, dy, dz) in mm.
SPACING_XYZ = (0.75, 0.5, 2.5)
NZ = 8
DATA_BYTES = 128 * 128 * NZ * 2  # int16
VOX_OFFSET = 352


# --------------------------------------------------------------------------- helpers

def _ct_volume() -> np.ndarray:
    """An (8, 128, 128) int16 CT volume (HU) made of CT_small's slice, shifted a little per slice."""
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(CT_SMALL)))[0]
    return np.stack([arr + 3 * k for k in range(NZ)]).astype(np.int16)


def _write(path: Path, arr: np.ndarray, spacing_xyz=SPACING_XYZ, is_vector: bool = False) -> Path:
    img = sitk.GetImageFromArray(arr, isVector=is_vector)
    img.SetSpacing(spacing_xyz[: img.GetDimension()])
    img.SetOrigin((-158.1, -179.0, -75.7)[: img.GetDimension()])
    sitk.WriteImage(img, str(path), useCompression=path.name.endswith(".gz"))
    return path


def _raw(path: Path) -> bytes:
    """The uncompressed bytes of a NIfTI file (``.nii.gz`` decompressed)."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _store(path: Path, raw: bytes) -> Path:
    """Write uncompressed NIfTI bytes to ``path`` (gzip-compressed when it ends in ``.gz``)."""
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def _patch(raw: bytes, offset: int, fmt: str, *values) -> bytes:
    out = bytearray(raw)
    struct.pack_into("<" + fmt, out, offset, *values)
    return bytes(out)


def _sitk_reading(path: Path):
    img = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(img), tuple(reversed(img.GetSpacing())), img.GetOrigin()


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def inputs(tmp_path):
    """A folder for input files whose bytes must be the same after the test as before the reads."""
    folder = tmp_path / "in"
    folder.mkdir()
    state = {}

    def freeze():
        state["before"] = _hashes(folder)

    yield folder, freeze
    if "before" in state:
        assert _hashes(folder) == state["before"], "an input file was modified"


def _out_dirs(root: Path) -> dict[str, Path]:
    return {s: root / s for s in ("train", "val", "test")}


def _nifti2(raw1: bytes) -> bytes:
    """The same image as a NIfTI-2 file (540-byte header, 64-bit dims and doubles), from a NIfTI-1 one."""
    f = lambda fmt, off: struct.unpack_from("<" + fmt, raw1, off)  # noqa: E731
    h = bytearray(544)
    struct.pack_into("<i8s", h, 0, 540, b"n+2\x00\r\n\x1a\n")
    struct.pack_into("<2h", h, 12, *f("2h", 70))                       # datatype, bitpix
    struct.pack_into("<8q", h, 16, *f("8h", 40))                       # dim
    struct.pack_into("<8d", h, 104, *f("8f", 76))                      # pixdim
    struct.pack_into("<q2d", h, 168, 544, *f("2f", 112))               # vox_offset, scl_slope, scl_inter
    struct.pack_into("<2i", h, 344, *f("2h", 252))                     # qform_code, sform_code
    struct.pack_into("<6d", h, 352, *f("6f", 256))                     # quaternion and offsets
    struct.pack_into("<12d", h, 400, *f("12f", 280))                   # srow_x, srow_y, srow_z
    struct.pack_into("<2i", h, 500, raw1[123], f("h", 68)[0])          # xyzt_units, intent_code
    return bytes(h) + raw1[VOX_OFFSET:]


# --------------------------------------------------------------------------- valid files

@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_valid_nifti_equals_an_independent_simpleitk_reading(inputs, suffix, dtype):
    folder, freeze = inputs
    path = _write(folder / f"vol{suffix}", _ct_volume().astype(dtype))
    freeze()
    dec = read_nifti(path)
    arr, spacing, origin = _sitk_reading(path)
    np.testing.assert_array_equal(dec.array, arr.astype(np.float64))
    assert dec.spacing == pytest.approx(spacing) and dec.spacing == (2.5, 0.5, 0.75)
    assert dec.geometry.origin == pytest.approx(origin)
    assert nifti_problem(path, nonfinite=True) is None
    (case,) = load_series(path, "ct")
    np.testing.assert_array_equal(case.image, arr.astype(np.float32))
    assert case.spacing == pytest.approx((2.5, 0.5, 0.75))


def test_nifti2_header_is_parsed_and_checked(inputs):
    folder, freeze = inputs
    raw1 = _raw(_write(folder / "one.nii", _ct_volume()))
    path = _store(folder / "two.nii.gz", _nifti2(raw1))
    cut = _store(folder / "two_cut.nii", _nifti2(raw1)[: 544 + 1000])
    freeze()
    header = read_header(path)
    assert (header.version, header.dims, header.datatype, header.vox_offset) == (2, (128, 128, NZ), 4, 544)
    assert header.pixdim == SPACING_XYZ and header.describe() == "128x128x8 int16"
    assert nifti_problem(path) is None
    with pytest.raises(InputError) as info:
        read_nifti(cut)
    assert str(info.value) == (f"{cut}: truncated NIfTI: header says 128x128x8 int16 voxels ({DATA_BYTES} bytes) "
                               f"but the file holds only 1000 bytes of voxel data")
    # this SimpleITK build has no NIfTI-2 reader: a whole file is passed on and refused by name
    with pytest.raises(InputError, match=f"^{path}: cannot read image"):
        read_nifti(path)


# --------------------------------------------------------------------------- truncated files

@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_file_cut_in_the_voxel_data_is_refused_before_simpleitk_reads_it(inputs, suffix):
    folder, freeze = inputs
    raw = _raw(_write(folder / "whole.nii", _ct_volume()))
    path = _store(folder / f"cut{suffix}", raw[: VOX_OFFSET + 100000])  # gzip: a whole stream of a cut file
    freeze()
    # what SimpleITK alone would do: the missing voxels silently become 0
    arr, _, _ = _sitk_reading(path)
    assert arr.shape == (NZ, 128, 128) and not arr[-1].any()
    expected = (f"{path}: truncated NIfTI: header says 128x128x8 int16 voxels ({DATA_BYTES} bytes) but the file "
                f"holds only 100000 bytes of voxel data")
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == expected
    with pytest.raises(InputError) as info:
        load_series(path, "ct")
    assert str(info.value).startswith(expected)  # + how to skip such files (on_unreadable)


def test_gzip_stream_cut_short_is_a_truncated_file(inputs):
    folder, freeze = inputs
    whole = _write(folder / "whole.nii.gz", _ct_volume()).read_bytes()
    path = folder / "cut.nii.gz"
    path.write_bytes(whole[: len(whole) // 2])
    freeze()
    held = len(zlib.decompressobj(31).decompress(whole[: len(whole) // 2])) - VOX_OFFSET  # independent count
    assert 0 < held < DATA_BYTES
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == (f"{path}: truncated NIfTI: header says 128x128x8 int16 voxels ({DATA_BYTES} bytes) "
                               f"but the file holds only {held} bytes of voxel data (the gzip stream ends early)")


def test_gzip_stream_without_its_end_marker_is_refused(inputs):
    folder, freeze = inputs
    whole = _write(folder / "whole.nii.gz", _ct_volume()).read_bytes()
    path = folder / "no_trailer.nii.gz"
    path.write_bytes(whole[:-4])  # every voxel is there, the CRC/length trailer is not
    freeze()
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == (f"{path}: truncated NIfTI: the gzip stream ends early after all {DATA_BYTES} bytes "
                               f"of voxel data (the file is cut or damaged)")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_file_cut_in_the_header_is_refused(inputs, suffix):
    folder, freeze = inputs
    raw = _raw(_write(folder / "whole.nii", _ct_volume()))
    path = _store(folder / f"head{suffix}", raw[:200])
    freeze()
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == f"{path}: truncated NIfTI: the file holds only 200 bytes, less than its 348-byte header"


def test_gzip_stream_cut_in_the_header_is_refused(inputs):
    folder, freeze = inputs
    whole = _write(folder / "whole.nii.gz", _ct_volume()).read_bytes()
    path = folder / "head.nii.gz"
    path.write_bytes(whole[:40])
    freeze()
    got = len(zlib.decompressobj(31).decompress(whole[:40]))
    assert got < 348
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == (f"{path}: truncated NIfTI: the gzip stream ends within the header, "
                               f"after {got} bytes")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_header_claiming_more_voxels_than_the_file_holds_is_refused(inputs, suffix):
    folder, freeze = inputs
    raw = _raw(_write(folder / "whole.nii", _ct_volume()))
    path = _store(folder / f"more{suffix}", _patch(raw, 40 + 2 * 3, "h", 80))  # dim[3]: 8 -> 80 slices
    freeze()
    expected = (f"{path}: truncated NIfTI: header says 128x128x80 int16 voxels ({DATA_BYTES * 10} bytes) but the "
                f"file holds only {DATA_BYTES} bytes of voxel data")
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == expected
    # with a memory budget it fits (it is not huge), so the reader's message reaches the user
    with pytest.raises(InputError) as info:
        ingest_source("mine", {"modality": "ct", "path": str(path)}, _out_dirs(folder.parent / "out"), seed=1,
                      mem_mb=4000)
    assert str(info.value).startswith(expected)
    assert not (folder.parent / "out").exists()


def test_chunked_scan_counts_exactly_across_chunk_boundaries(inputs, monkeypatch):
    folder, freeze = inputs
    vol = _ct_volume().astype(np.float32)
    vol[0, 0, 0] = np.nan
    vol[3, 64, 17] = np.inf
    vol[-1, -1, -1] = -np.inf
    paths = [_write(folder / "nan.nii", vol), _write(folder / "nan.nii.gz", vol)]
    cut = _store(folder / "cut.nii.gz", _raw(paths[0])[: VOX_OFFSET + 12345])
    freeze()
    monkeypatch.setattr(nifti_mod, "_CHUNK_BYTES", 1001)  # odd size: voxels straddle every chunk boundary
    for path in paths:
        scan = nifti_mod.scan_voxels(path, read_header(path))
        assert (scan.held, scan.nonfinite, scan.stream_error) == (4 * 128 * 128 * NZ, 3, None)
    scan = nifti_mod.scan_voxels(cut, read_header(cut))
    assert (scan.held, scan.nonfinite) == (12345, 1)


# --------------------------------------------------------------------------- pixdim

PIXDIM_BAD = [0.0, -1.0, float("nan")]


def _bad_pixdim_file(folder: Path, axis: int, value: float, suffix: str = ".nii.gz") -> Path:
    raw = _raw(_write(folder / "whole.nii", _ct_volume()))
    (folder / "whole.nii").unlink()
    return _store(folder / f"pix{suffix}", _patch(raw, 76 + 4 * (axis + 1), "f", value))


def _shown(xyz) -> str:
    return ", ".join(f"{n} {v:g}" for n, v in zip("xyz", xyz))


@pytest.mark.parametrize("value", PIXDIM_BAD, ids=["zero", "negative", "nan"])
@pytest.mark.parametrize("axis", [0, 2], ids=["x", "z"])
def test_invalid_pixdim_is_refused_without_an_override(inputs, axis, value):
    folder, freeze = inputs
    path = _bad_pixdim_file(folder, axis, value)
    freeze()
    assert sitk.ReadImage(str(path)).GetSpacing()[axis] == 1.0  # what SimpleITK alone would use
    pixdim = list(SPACING_XYZ)
    pixdim[axis] = value
    expected = (f"{path}: invalid voxel spacing in the NIfTI header (pixdim {_shown(pixdim)}; must be a positive "
                f"number of mm); set spacing_mm: [dz, dy, dx] in the source's spec to give it")
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == expected
    with pytest.raises(InputError) as info:
        load_series(path, "ct")
    assert str(info.value) == expected


@pytest.mark.parametrize("value", PIXDIM_BAD, ids=["zero", "negative", "nan"])
def test_spacing_mm_override_gives_an_invalid_in_plane_axis(inputs, value):
    folder, freeze = inputs
    path = _bad_pixdim_file(folder, 0, value)  # bad dx
    freeze()
    (case,) = load_series(path, "ct", spacing_mm=[0.5, 0.8])
    arr, _, _ = _sitk_reading(path)
    np.testing.assert_array_equal(case.image, arr.astype(np.float32))
    assert case.spacing == (2.5, 0.5, 0.8)
    # a valid axis keeps its header spacing even when the override gives another value
    (case,) = load_series(path, "ct", spacing_mm=[9.0, 0.25, 0.8])
    assert case.spacing == (2.5, 0.5, 0.8)


@pytest.mark.parametrize("value", PIXDIM_BAD, ids=["zero", "negative", "nan"])
def test_spacing_mm_override_must_cover_the_invalid_axis(inputs, value):
    folder, freeze = inputs
    path = _bad_pixdim_file(folder, 2, value)  # bad dz
    freeze()
    pixdim = (SPACING_XYZ[0], SPACING_XYZ[1], value)
    with pytest.raises(InputError) as info:
        load_series(path, "ct", spacing_mm=[0.5, 0.75])
    assert str(info.value) == (f"{path}: invalid voxel spacing in the NIfTI header (pixdim {_shown(pixdim)}) and the "
                               f"source's spacing_mm (0.5, 0.75) does not give dz: set spacing_mm: [dz, dy, dx]")
    (case,) = load_series(path, "ct", spacing_mm=[3.0, 0.5, 0.75])
    np.testing.assert_array_equal(case.image, _ct_volume().astype(np.float32))
    assert case.spacing == (3.0, 0.5, 0.75)
    assert read_nifti(path, (3.0, 0.5, 0.75)).spacing == (3.0, 0.5, 0.75)


def test_spacing_mm_override_from_the_source_spec_reaches_the_dataset(inputs, tmp_path):
    folder, freeze = inputs
    _bad_pixdim_file(folder, 2, 0.0)
    freeze()
    dirs = _out_dirs(tmp_path / "out")
    counts = ingest_source("mine", {"modality": "ct", "path": str(folder), "spacing_mm": [4.0, 0.5, 0.75]}, dirs,
                           seed=1)
    assert counts == {"train": 0, "val": 0, "test": 1}
    arr, spacing = read_image(dirs["test"] / "images" / "pix.nii.gz")
    assert spacing == pytest.approx((4.0, 0.5, 0.75))
    np.testing.assert_array_equal(arr, _ct_volume().astype(np.float32))
    with pytest.raises(InputError, match="does not give dz"):
        ingest_source("mine", {"modality": "ct", "path": str(folder), "spacing_mm": [0.5, 0.75]},
                      _out_dirs(tmp_path / "out2"), seed=1)
    assert not (tmp_path / "out2").exists()


# --------------------------------------------------------------------------- vector, 4D, NaN, not NIfTI

def _rgb_slice() -> np.ndarray:
    hu = _ct_volume()[0].astype(np.float64)
    grey = np.clip((hu + 160) / 400 * 255, 0, 255).astype(np.uint8)
    return np.stack([grey, 255 - grey, grey // 2], axis=-1)  # (128, 128, 3)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_rgb_vector_nifti_is_refused_as_such(inputs, suffix):
    folder, freeze = inputs
    rgb = _rgb_slice()
    composed = sitk.Compose(*[sitk.GetImageFromArray(np.ascontiguousarray(rgb[..., c])) for c in range(3)])
    sitk.WriteImage(composed, str(folder / f"compose{suffix}"))
    _write(folder / f"vector{suffix}", rgb, is_vector=True)
    freeze()
    for name in ("compose", "vector"):
        path = folder / f"{name}{suffix}"
        assert sitk.ReadImage(str(path)).GetNumberOfComponentsPerPixel() == 3
        with pytest.raises(InputError) as info:
            read_nifti(path)
        assert str(info.value) == f"{path}: vector image with 3 components per voxel (RGB?); mira needs a scalar image"
        with pytest.raises(InputError) as info:
            load_series(path, "xray")
        assert str(info.value) == f"{path}: vector image with 3 components per voxel (RGB?); mira needs a scalar image"


def test_rgb24_datatype_is_refused_as_a_vector_image(inputs):
    folder, freeze = inputs
    rgb = _rgb_slice()
    raw = _raw(_write(folder / "grey.nii", np.ascontiguousarray(rgb[..., 0])))
    raw = _patch(raw, 70, "2h", 128, 24)[:VOX_OFFSET] + rgb.tobytes()  # DT_RGB24: 3 interleaved bytes per voxel
    path = _store(folder / "rgb24.nii", raw)
    freeze()
    assert sitk.ReadImage(str(path)).GetNumberOfComponentsPerPixel() == 3
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == f"{path}: vector image with 3 components per voxel (RGB?); mira needs a scalar image"


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nan_and_inf_voxels_are_refused(inputs, suffix):
    folder, freeze = inputs
    vol = _ct_volume().astype(np.float32)
    vol[2, 40, 50] = np.nan
    vol[5, 1, 2] = np.inf
    path = _write(folder / f"nan{suffix}", vol)
    freeze()
    assert np.isfinite(_sitk_reading(path)[0]).all()  # SimpleITK alone hides them
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == f"{path}: 2 NaN or inf voxel values in the file"


def test_4d_image_is_refused(inputs):
    folder, freeze = inputs
    raw = _raw(_write(folder / "whole.nii", _ct_volume()))
    path = _store(folder / "4d.nii.gz", _patch(raw, 40, "5h", 4, 128, 128, NZ // 2, 2))
    one = _store(folder / "4d_one.nii.gz", _patch(raw, 40, "5h", 4, 128, 128, NZ, 1))
    freeze()
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == f"{path}: expected a 2D or 3D image, got a 4D image of 128x128x4x2 int16 voxels"
    # one volume in a 4D header is a 3D image
    np.testing.assert_array_equal(read_nifti(one).array, _ct_volume())


def test_not_a_nifti_file_is_named(inputs):
    folder, freeze = inputs
    path = folder / "noise.nii"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    freeze()
    with pytest.raises(InputError) as info:
        read_nifti(path)
    assert str(info.value) == f"{path}: not a NIfTI file (the header size field is neither 348 nor 540)"


# --------------------------------------------------------------------------- corrupt headers vs memory

def _item(path: Path, kind: str, headers=()) -> Item:
    return Item(kind=kind, files=(path,), id_candidate=path.stem, key=path.name, where=str(path),
                headers=list(headers))


def test_huge_dicom_header_is_a_corrupt_header_not_too_large(inputs, tmp_path):
    folder, freeze = inputs
    ds = pydicom.dcmread(CT_SMALL)
    ds.Rows, ds.Columns = 60000, 60000
    path = folder / "huge.dcm"
    ds.save_as(path)
    freeze()
    header = pydicom.dcmread(path, defer_size="64 KB")
    with pytest.raises(InputError) as info:
        check_fits(_item(path, "dicom", [header]), mem_mb=4000)
    assert str(info.value) == (f"{path}: corrupt header: claims 60000 x 60000 pixels (7.2 GB) but the file holds "
                               f"32.8 kB of pixel data")
    # end to end: refused naming the file and the impossible grid, never as "too large for memory"
    with pytest.raises(InputError) as info:
        ingest_source("mine", {"modality": "ct", "path": str(folder)}, _out_dirs(tmp_path / "out"), seed=1,
                      mem_mb=4000)
    message = str(info.value)
    assert str(path) in message and "60000 x 60000" in message and "too large" not in message, message
    assert not (tmp_path / "out").exists()


def test_real_images_still_get_the_memory_verdict(inputs, tmp_path):
    folder, freeze = inputs
    shutil.copy(CT_SMALL, folder / "ct.dcm")
    _write(folder / "vol.nii.gz", _ct_volume())
    freeze()
    header = pydicom.dcmread(folder / "ct.dcm", defer_size="64 KB")
    for item in (_item(folder / "ct.dcm", "dicom", [header]), _item(folder / "vol.nii.gz", "nifti")):
        check_fits(item, mem_mb=4000)  # fits: no error
        with pytest.raises(InputError, match="too large for the configured memory"):
            check_fits(item, mem_mb=100)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_huge_nifti_header_is_a_corrupt_header_not_too_large(inputs, tmp_path, suffix):
    folder, freeze = inputs
    raw = _raw(_write(folder / "whole.nii", _ct_volume()))
    (folder / "whole.nii").unlink()
    path = _store(folder / f"huge{suffix}", _patch(raw, 42, "2h", 30000, 30000))
    freeze()
    size = path.stat().st_size
    claimed = 30000 * 30000 * NZ * 2
    assert claimed / 1e9 == pytest.approx(14.4)
    if suffix == ".nii":
        held = f"{size / 1000:.0f} kB"
    else:
        held = f"{size / 1000:.0f} kB (gzip-compressed: at most {1032 * size / 1e6:.0f} MB of data)"
        assert 100e3 <= size < 1e6  # the formats above
        assert 1032 * size < claimed and size >= 10000
    expected = f"{path}: corrupt header: claims 30000 x 30000 x 8 int16 voxels (14.4 GB) but the file holds {held}"
    with pytest.raises(InputError) as info:
        ingest_source("mine", {"modality": "ct", "path": str(path)}, _out_dirs(tmp_path / "out"), seed=1, mem_mb=4000)
    assert str(info.value) == expected
    assert not (tmp_path / "out").exists()
    # without a memory budget the reader refuses it as truncated, before decoding anything
    with pytest.raises(InputError, match="truncated NIfTI: header says 30000x30000x8 int16 voxels"):
        read_nifti(path)


def test_damaged_gzip_data_is_refused_as_corrupt(inputs):
    folder, freeze = inputs
    whole = bytearray(_write(folder / "whole.nii.gz", _ct_volume()).read_bytes())
    whole[len(whole) // 2] ^= 0xFF  # one flipped byte in the deflate data
    path = folder / "flipped.nii.gz"
    path.write_bytes(bytes(whole))
    freeze()
    sitk.ReadImage(str(path))  # SimpleITK alone reads it (it does not check the gzip CRC)
    with pytest.raises(InputError) as info:
        read_nifti(path)
    # bad deflate data or a CRC mismatch (zlib decides which): either way named as corrupt gzip data
    assert str(info.value).startswith(f"{path}: corrupt NIfTI: corrupt gzip stream ("), str(info.value)
    assert str(info.value).endswith("bytes of voxel data (128x128x8 int16)")

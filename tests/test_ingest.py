"""Tests of mira.ingest: real-image ingestion (DICOM, NIfTI, PNG/TIFF) into dataset folders.

All test data is generated in tmp_path or taken from the test files bundled with pydicom.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from mira.dataset import Dataset
from mira.errors import ConfigError, InputError
from mira.ingest import PYDICOM_SAMPLES, ingest_source, load_series, pydicom_test_files
from mira.ingest.ids import sanitise, unique_ids
from mira.ingest.splits import assign_split

SPLITS = ("train", "val", "test")
PYDICOM_DIR = pydicom_test_files()
DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


# --------------------------------------------------------------------------- helpers

def out_dirs(root: Path, name: str = "src") -> dict[str, Path]:
    return {s: root / name / "ct" / s for s in SPLITS}


def write_dicom(path: Path, array: np.ndarray, *, modality: str = "CT", photometric: str = "MONOCHROME2",
                spacing=(0.6, 0.8), position=None, orientation=(1, 0, 0, 0, 1, 0), series_uid: str | None = None,
                slope: float | None = None, intercept: float | None = None, instance: int = 1,
                thickness: float | None = None, bits_stored: int | None = None, spacing_tag: str = "PixelSpacing",
                sop_class: str = CTImageStorage) -> Path:
    """Write a single-frame (or, for 3D arrays, multi-frame) greyscale DICOM file with a preamble."""
    arr = np.asarray(array)
    signed = arr.dtype.kind == "i"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality, ds.PatientID, ds.InstanceNumber = modality, "TEST", instance
    ds.Rows, ds.Columns = arr.shape[-2:]
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if spacing is not None:
        setattr(ds, spacing_tag, [f"{spacing[0]:g}", f"{spacing[1]:g}"])
    if position is not None:
        ds.ImagePositionPatient = [f"{v:.10g}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in orientation]
    if thickness is not None:
        ds.SliceThickness = f"{thickness:g}"
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def manifest_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


# --------------------------------------------------------------------------- pydicom samples

def test_pydicom_samples_are_bundled_locally():
    assert set(PYDICOM_SAMPLES) == {"pydicom_ct", "pydicom_mr", "pydicom_us"}
    for spec in PYDICOM_SAMPLES.values():
        assert spec["path"] == "pydicom:"
        for name in spec["include"]:
            assert (PYDICOM_DIR / name).is_file(), name


def test_ct_small_is_pydicom_rescale_with_pixel_spacing(tmp_path):
    dirs = out_dirs(tmp_path / "out", "pydicom_ct")
    counts = ingest_source("pydicom_ct", PYDICOM_SAMPLES["pydicom_ct"], dirs, seed=0)
    assert counts == {"train": 0, "val": 0, "test": 1}
    for split in ("train", "val"):  # empty splits exist with a header-only manifest
        assert (dirs[split] / "manifest.csv").read_text().strip().split(",")[0] == "case_id"
        assert manifest_rows(dirs[split]) == []
        assert json.loads((dirs[split] / "legend.json").read_text()) == {}
    ds = pydicom.dcmread(PYDICOM_DIR / "CT_small.dcm")
    expected = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.float32)
    data = Dataset(dirs["test"])
    case = next(iter(data))
    assert case.record.case_id == "CT_small" and case.record.class_label == -1
    assert case.record.source == "pydicom_ct" and case.record.modality == "ct" and case.record.label == ""
    assert case.image.dtype == np.float32
    np.testing.assert_array_equal(case.image, expected)
    np.testing.assert_allclose(case.spacing, [float(v) for v in ds.PixelSpacing], rtol=1e-6)
    assert json.loads((dirs["test"] / "legend.json").read_text()) == {}


def test_mr_small_scaled_to_99_5th_percentile():
    (case,) = load_series(PYDICOM_DIR / "MR_small.dcm", "mri")
    raw = pydicom.dcmread(PYDICOM_DIR / "MR_small.dcm").pixel_array.astype(np.float64)
    assert np.percentile(case.image, 99.5) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(case.image, raw / np.percentile(raw, 99.5), rtol=1e-5)
    assert case.spacing == pytest.approx((0.3125, 0.3125))


# --------------------------------------------------------------------------- photometric handling

def test_xray_is_stored_as_transmitted_intensity_and_ct_keeps_hu(tmp_path):
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 4096, size=(12, 10)).astype(np.uint16)
    kw = dict(modality="DX", sop_class=DX_STORAGE, bits_stored=12, spacing=(0.15, 0.15),
              spacing_tag="ImagerPixelSpacing")
    m2 = write_dicom(tmp_path / "m2.dcm", stored, photometric="MONOCHROME2", **kw)
    m1 = write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", **kw)
    (g2,) = load_series(m2, "xray")
    (g1,) = load_series(m1, "xray")
    # MONOCHROME2 (high value = white = more material) is flipped to I/I0; MONOCHROME1 stored values
    # already rise with transmitted intensity and are kept
    np.testing.assert_allclose(g2.image, 1.0 - stored / 4095.0, atol=1e-6)
    np.testing.assert_allclose(g1.image, stored / 4095.0, atol=1e-6)
    assert g1.spacing == pytest.approx((0.15, 0.15))  # ImagerPixelSpacing used for X-ray
    # CT keeps HU semantics: MONOCHROME1 is not inverted, the rescale is applied
    c2 = write_dicom(tmp_path / "c2.dcm", stored.astype(np.int16), slope=1, intercept=-1024)
    c1 = write_dicom(tmp_path / "c1.dcm", stored.astype(np.int16), photometric="MONOCHROME1", slope=1, intercept=-1024)
    (h2,), (h1,) = load_series(c2, "ct"), load_series(c1, "ct")
    np.testing.assert_array_equal(h1.image, h2.image)
    np.testing.assert_array_equal(h2.image, np.clip(stored - 1024.0, -1024, 3071).astype(np.float32))


def test_us_rgb_palette_and_ybr_multiframe_to_grey(tmp_path):
    dirs = out_dirs(tmp_path / "out", "pydicom_us")
    counts = ingest_source("pydicom_us", PYDICOM_SAMPLES["pydicom_us"], dirs, seed=0)
    assert counts == {"train": 0, "val": 0, "test": 6}
    cases = {c.record.case_id: c for c in Dataset(dirs["test"])}
    assert set(cases) == {"examples_palette", "examples_rgb_color", "examples_ybr_color_f000",
                          "examples_ybr_color_f010", "examples_ybr_color_f019", "examples_ybr_color_f029"}
    for case in cases.values():
        assert case.image.ndim == 2 and case.image.min() >= 0.0 and case.image.max() <= 1.0

    rgb = pydicom.dcmread(PYDICOM_DIR / "examples_rgb_color.dcm")
    np.testing.assert_allclose(cases["examples_rgb_color"].image, luminance(rgb.pixel_array) / 255.0, atol=1e-6)

    pal = pydicom.dcmread(PYDICOM_DIR / "examples_palette.dcm")
    expected = luminance(pydicom.pixels.apply_color_lut(pal.pixel_array, pal)) / 65535.0
    np.testing.assert_allclose(cases["examples_palette"].image, expected, atol=1e-6)
    region = pal.SequenceOfUltrasoundRegions[0]
    assert cases["examples_palette"].spacing == pytest.approx((region.PhysicalDeltaY * 10, region.PhysicalDeltaX * 10),
                                                              rel=1e-6)

    ybr = pydicom.dcmread(PYDICOM_DIR / "examples_ybr_color.dcm")
    frames = ybr.pixel_array  # pydicom converts YBR -> RGB by default
    assert frames.shape[0] == 30
    for k in (0, 10, 19, 29):
        got = cases[f"examples_ybr_color_f{k:03d}"].image
        np.testing.assert_allclose(got, luminance(frames[k]) / 255.0, atol=2.5 / 255)
    assert not np.allclose(cases["examples_ybr_color_f000"].image, cases["examples_ybr_color_f029"].image)


def test_max_frames_null_keeps_every_frame():
    cases = load_series(PYDICOM_DIR / "examples_ybr_color.dcm", "us", max_frames=None)
    assert [c.case_id for c in cases] == [f"examples_ybr_color_f{k:03d}" for k in range(30)]


# --------------------------------------------------------------------------- series of slices

def _write_series(folder: Path, n=5, shape=(16, 20), spacing=(0.6, 0.8), dz=2.5, z0=-40.0, seed=0,
                  orientation=(1, 0, 0, 0, 1, 0), sizes=None, gaps=None) -> list[np.ndarray]:
    """Write n CT slices in shuffled order under shuffled names; return the stored arrays by position."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    uid = generate_uid()
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(row, col)
    positions = [z0 + dz * k for k in range(n)] if gaps is None else list(np.cumsum([z0] + list(gaps)))
    slices = []
    for k in range(n):
        shp = sizes[k] if sizes else shape
        arr = (np.arange(shp[0] * shp[1]).reshape(shp) % 97 + 100 * k).astype(np.int16)
        slices.append(arr)
    order = list(range(n))
    rng.shuffle(order)
    names = [f"IM{rng.randrange(10**6):06d}" for _ in range(n)]  # no extension: detected by the DICM preamble
    for name, k in zip(names, order):
        pos = normal * positions[k] + np.array([-5.0, 3.0, 0.0])
        write_dicom(folder / name, slices[k], position=pos, orientation=orientation, series_uid=uid,
                    slope=2, intercept=-1024, spacing=spacing, thickness=dz, instance=n - k)
    return slices


def test_series_in_shuffled_files_is_sorted_by_position_with_tag_spacing(tmp_path):
    folder = tmp_path / "patient1" / "ct_series"
    slices = _write_series(folder)
    before = tree_hashes(tmp_path / "patient1")
    (case,) = load_series(tmp_path / "patient1", "ct")
    assert case.case_id == "ct_series"
    expected = np.stack([s * 2.0 - 1024 for s in slices]).astype(np.float32)
    np.testing.assert_array_equal(case.image, expected)
    assert case.spacing == pytest.approx((2.5, 0.6, 0.8), rel=1e-6)
    # SimpleITK/GDCM sorting the same files on its own gives the same values and spacing
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img).astype(np.float32), case.image)
    assert tuple(reversed(img.GetSpacing())) == pytest.approx(case.spacing, rel=1e-6)
    assert tree_hashes(tmp_path / "patient1") == before


def test_series_sorted_along_oblique_normal(tmp_path):
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    orientation = (c, s, 0.0, 0.0, 0.0, -1.0)  # oblique sagittal-ish plane
    slices = _write_series(tmp_path / "obl", n=4, dz=3.0, orientation=orientation, spacing=(0.9, 0.7), seed=5)
    (case,) = load_series(tmp_path / "obl", "ct")
    np.testing.assert_array_equal(case.image, np.stack([x * 2.0 - 1024 for x in slices]).astype(np.float32))
    assert case.spacing == pytest.approx((3.0, 0.9, 0.7), rel=1e-6)


def test_series_with_missing_slice_is_refused(tmp_path):
    _write_series(tmp_path / "gap", n=5, gaps=[2.0, 2.0, 4.0, 2.0])
    with pytest.raises(InputError, match=r"1 missing slice\(s\) between .*IM"):
        load_series(tmp_path / "gap", "ct")


def test_gantry_tilted_series_is_refused_by_the_spacing_cross_check(tmp_path):
    """GDCM takes the distance between slice origins (2.59 mm), the tags' normal spacing is 2.5 mm."""
    uid = generate_uid()
    for k in range(4):
        pos = (0.0, 2.5 * k * np.tan(np.radians(15)), 2.5 * k)
        write_dicom(tmp_path / f"s{k}.dcm", np.full((10, 10), k, np.int16), position=pos, series_uid=uid, slope=1,
                    intercept=0)
    with pytest.raises(InputError, match="disagrees with the DICOM tags"):
        load_series(tmp_path, "ct")


def test_enhanced_multiframe_ct_is_one_sorted_volume(tmp_path):
    frames = np.stack([np.full((10, 12), 10 * k, dtype=np.int16) for k in range(3)])
    path = write_dicom(tmp_path / "enh.dcm", frames[::-1].copy(), spacing=None)  # stored top-down
    ds = pydicom.dcmread(path)
    shared = pydicom.Dataset()
    pm, po, pvt = pydicom.Dataset(), pydicom.Dataset(), pydicom.Dataset()
    pm.PixelSpacing, pm.SliceThickness = ["0.5", "0.4"], "1.5"
    po.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    pvt.RescaleSlope, pvt.RescaleIntercept = "1", "-1000"
    shared.PixelMeasuresSequence = pydicom.Sequence([pm])
    shared.PlaneOrientationSequence = pydicom.Sequence([po])
    shared.PixelValueTransformationSequence = pydicom.Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = pydicom.Sequence([shared])
    per = []
    for k in range(3):  # stored frame k lies at z = 2 * (2 - k): reversed order on disk
        item, pp = pydicom.Dataset(), pydicom.Dataset()
        pp.ImagePositionPatient = ["0", "0", f"{2.0 * (2 - k):g}"]
        item.PlanePositionSequence = pydicom.Sequence([pp])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = pydicom.Sequence(per)
    ds.save_as(path, enforce_file_format=True)
    (case,) = load_series(path, "ct")
    np.testing.assert_array_equal(case.image, frames.astype(np.float32) - 1000.0)
    assert case.spacing == pytest.approx((2.0, 0.5, 0.4))


# --------------------------------------------------------------------------- NIfTI and raster

def test_nifti_round_trip_ct_and_mri(tmp_path):
    rng = np.random.default_rng(2)
    vol = rng.uniform(-1000, 2000, size=(6, 12, 14)).astype(np.float32)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.9, 0.7, 3.0))
    sitk.WriteImage(img, str(tmp_path / "vol.nii.gz"))
    (case,) = load_series(tmp_path / "vol.nii.gz", "ct")
    assert case.case_id == "vol"
    np.testing.assert_array_equal(case.image, vol)
    assert case.spacing == pytest.approx((3.0, 0.7, 0.9))
    (mr,) = load_series(tmp_path / "vol.nii.gz", "mri")
    mag = np.maximum(vol.astype(np.float64), 0)
    np.testing.assert_allclose(mr.image, mag / np.percentile(mag, 99.5), rtol=1e-5)


def test_png_and_tiff_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    a8 = rng.integers(0, 256, size=(20, 24)).astype(np.uint8)
    a16 = rng.integers(0, 65536, size=(20, 24)).astype(np.uint16)
    rgb = rng.integers(0, 256, size=(20, 24, 3)).astype(np.uint8)
    Image.fromarray(a8).save(tmp_path / "grey.png")
    Image.fromarray(a16).save(tmp_path / "deep.tif")
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    cases = {c.case_id: c for c in load_series(tmp_path, "us", spacing_mm=[0.2, 0.3])}
    assert set(cases) == {"grey", "deep", "colour"}
    np.testing.assert_allclose(cases["grey"].image, a8 / 255.0, atol=1e-6)
    np.testing.assert_allclose(cases["deep"].image, a16 / 65535.0, atol=1e-6)
    np.testing.assert_allclose(cases["colour"].image, luminance(rgb) / 255.0, atol=1e-5)
    assert all(c.spacing == pytest.approx((0.2, 0.3)) for c in cases.values())
    (default,) = load_series(tmp_path / "grey.png", "xray")
    assert default.spacing == (1.0, 1.0)
    # CT from a 16-bit signed TIFF (HU) is accepted; from an 8-bit PNG it is refused
    hu = rng.integers(-1000, 1500, size=(16, 16)).astype(np.int16)
    Image.fromarray(hu.astype(np.int32)).save(tmp_path / "hu.tif")
    (ct,) = load_series(tmp_path / "hu.tif", "ct")
    np.testing.assert_array_equal(ct.image, hu.astype(np.float32))
    with pytest.raises(InputError, match="grey.png.*Hounsfield"):
        load_series(tmp_path / "grey.png", "ct")


def test_recursive_and_include_patterns(tmp_path):
    _pngs(tmp_path / "src", ["top"])
    _pngs(tmp_path / "src" / "sub", ["deep"])
    assert [c.case_id for c in load_series(tmp_path / "src", "us")] == ["sub_deep", "top"]
    assert [c.case_id for c in load_series(tmp_path / "src", "us", recursive=False)] == ["top"]
    assert [c.case_id for c in load_series(tmp_path / "src", "us", include=["deep.png"])] == ["sub_deep"]
    assert [c.case_id for c in load_series(tmp_path / "src", "us", include=["*.png"], recursive=False)] == ["top"]


def test_written_dataset_round_trips_through_nifti(tmp_path):
    src = tmp_path / "png"
    src.mkdir()
    a = np.random.default_rng(4).integers(0, 256, size=(9, 11)).astype(np.uint8)
    Image.fromarray(a).save(src / "one.png")
    dirs = out_dirs(tmp_path / "out")
    ingest_source("src", {"modality": "xray", "path": str(src), "spacing_mm": 0.25}, dirs, seed=1)
    case = next(iter(Dataset(dirs["test"])))
    np.testing.assert_allclose(case.image, 1.0 - a / 255.0, atol=1e-6)  # X-ray: displayed grey -> I/I0
    assert case.spacing == pytest.approx((0.25, 0.25))
    assert manifest_rows(dirs["test"])[0]["shape"] == "9x11"


# --------------------------------------------------------------------------- ids and splits

def test_case_ids_sanitised_and_unique():
    assert sanitise("my scan (1)") == "my_scan_1"
    assert sanitise("a.b/c d") == "a_b_c_d"
    ids = unique_ids(["a_b", "a_b", "c"], ["a b.png", "a_b.png", "c.png"])
    assert len(set(ids)) == 3 and ids[2] == "c" and all(i.startswith("a_b_") for i in ids[:2])
    assert ids == unique_ids(["a_b", "a_b", "c"], ["a b.png", "a_b.png", "c.png"])


def _pngs(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8), i % 256, dtype=np.uint8)).save(folder / f"{name}.png")


def _assignment(dirs) -> dict[str, str]:
    return {row["case_id"]: split for split in SPLITS for row in manifest_rows(dirs[split])}


def test_split_fractions_deterministic_and_stable(tmp_path):
    _pngs(tmp_path / "pngs", [f"img{i:02d}" for i in range(40)])
    spec = {"modality": "us", "path": str(tmp_path / "pngs"), "split": {"train": 0.5, "val": 0.25, "test": 0.25}}
    a_dirs, b_dirs = out_dirs(tmp_path / "a"), out_dirs(tmp_path / "b")
    counts = ingest_source("src", spec, a_dirs, seed=7)
    assert sum(counts.values()) == 40
    assert abs(counts["train"] - 20) <= 10 and abs(counts["val"] - 10) <= 8 and abs(counts["test"] - 10) <= 8
    assert ingest_source("src", spec, b_dirs, seed=7) == counts
    first = _assignment(a_dirs)
    assert first == _assignment(b_dirs)
    assert all(row["split"] == s for s in SPLITS for row in manifest_rows(a_dirs[s]))
    # adding files does not move existing cases
    _pngs(tmp_path / "pngs", [f"new{i}" for i in range(6)])
    c_dirs = out_dirs(tmp_path / "c")
    ingest_source("src", spec, c_dirs, seed=7)
    grown = _assignment(c_dirs)
    assert len(grown) == 46 and all(grown[k] == v for k, v in first.items())
    # another seed gives another assignment
    assert {k: assign_split(8, "src", k, spec["split"]) for k in first} != first
    assert {assign_split(8, "src", k, {"train": 1.0}) for k in first} == {"train"}


# --------------------------------------------------------------------------- bad inputs

def _good_ct(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PYDICOM_DIR / "CT_small.dcm", folder / "a_good.dcm")


def _case_truncated(d: Path):
    _good_ct(d)
    shutil.copy(PYDICOM_DIR / "MR_truncated.dcm", d / "MR_truncated.dcm")
    return {"modality": "ct", "path": str(d)}, InputError, "MR_truncated.dcm"


def _case_corrupt(d: Path):
    _good_ct(d)
    (d / "x.dcm").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return {"modality": "ct", "path": str(d)}, InputError, "x.dcm"


def _case_text_included(d: Path):
    _good_ct(d)
    (d / "notes.txt").write_text("not an image\n")
    return {"modality": "ct", "path": str(d), "include": ["a_good.dcm", "notes.txt"]}, InputError, "notes.txt"


def _case_text_file_path(d: Path):
    d.mkdir(parents=True)
    (d / "notes.txt").write_text("not an image\n")
    return {"modality": "ct", "path": str(d / "notes.txt")}, InputError, "notes.txt"


def _case_sr_included(d: Path):
    _good_ct(d)
    shutil.copy(PYDICOM_DIR / "test-SR.dcm", d / "report.dcm")
    return {"modality": "ct", "path": str(d), "include": ["*good*", "report.dcm"]}, InputError, "report.dcm"


def _case_empty(d: Path):
    d.mkdir(parents=True)
    return {"modality": "ct", "path": str(d)}, InputError, "no images found"


def _case_no_match(d: Path):
    _good_ct(d)
    return {"modality": "ct", "path": str(d), "include": ["*.nii.gz"]}, InputError, "no images found"


def _case_missing_path(d: Path):
    return {"modality": "ct", "path": str(d / "nowhere")}, InputError, "nowhere"


def _case_mixed_sizes(d: Path):
    _good_ct(d)
    _write_series(d / "mixed_series", n=3, sizes=[(16, 20), (16, 20), (18, 20)])
    return {"modality": "ct", "path": str(d)}, InputError, "mixed_series"


def _case_nan_nifti(d: Path):
    _good_ct(d)
    vol = np.zeros((4, 10, 10), np.float32)
    vol[1, 2, 3] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(d / "nan.nii.gz"))
    return {"modality": "ct", "path": str(d)}, InputError, "nan.nii.gz"


def _case_inf_tiff(d: Path):
    d.mkdir(parents=True)
    a = np.zeros((12, 12), np.float32)
    a[3, 4] = np.inf
    Image.fromarray(a).save(d / "inf.tif")
    return {"modality": "mri", "path": str(d)}, InputError, "inf.tif"


def _case_tiny_png(d: Path):
    d.mkdir(parents=True)
    Image.fromarray(np.full((10, 10), 3, np.uint8)).save(d / "fine.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(d / "tiny.png")
    return {"modality": "us", "path": str(d)}, InputError, "tiny.png"


def _case_unknown_modality(d: Path):
    _good_ct(d)
    return {"modality": "pet", "path": str(d)}, ConfigError, "inputs.bad.modality"


def _case_unknown_key(d: Path):
    _good_ct(d)
    return {"modality": "ct", "path": str(d), "colour": "red"}, ConfigError, "inputs.bad.colour"


def _case_bad_split(d: Path):
    _good_ct(d)
    return {"modality": "ct", "path": str(d), "split": {"train": 0.5, "test": 0.2}}, ConfigError, "inputs.bad.split"


BAD_CASES = [_case_truncated, _case_corrupt, _case_text_included, _case_text_file_path, _case_sr_included,
             _case_empty, _case_no_match, _case_missing_path, _case_mixed_sizes, _case_nan_nifti, _case_inf_tiff,
             _case_tiny_png, _case_unknown_modality, _case_unknown_key, _case_bad_split]


@pytest.mark.parametrize("make", BAD_CASES, ids=[f.__name__[6:] for f in BAD_CASES])
def test_bad_input_raises_and_leaves_nothing(tmp_path, make):
    data = tmp_path / "data"
    spec, exc_type, needle = make(data)
    before = tree_hashes(data) if data.exists() else {}
    out_root = tmp_path / "results"
    with pytest.raises(exc_type) as info:
        ingest_source("bad", spec, out_dirs(out_root, "bad"), seed=0)
    assert needle in str(info.value)
    assert not out_root.exists(), list(out_root.rglob("*"))  # no split folder, temp folder or parent left
    assert (tree_hashes(data) if data.exists() else {}) == before


def test_non_images_found_by_wildcards_are_skipped(tmp_path):
    d = tmp_path / "export"
    _good_ct(d)
    (d / "README.txt").write_text("exported\n")
    shutil.copy(PYDICOM_DIR / "rtplan.dcm", d / "plan.dcm")
    shutil.copy(PYDICOM_DIR / "test-SR.dcm", d / "DOSE_REPORT")
    (d / ".hidden.dcm").write_bytes(b"junk")
    before = tree_hashes(d)
    counts = ingest_source("export", {"modality": "ct", "path": str(d)}, out_dirs(tmp_path / "out"), seed=0)
    assert counts == {"train": 0, "val": 0, "test": 1}
    assert [r["case_id"] for r in manifest_rows(out_dirs(tmp_path / "out")["test"])] == ["a_good"]
    assert tree_hashes(d) == before


def test_out_dirs_must_name_three_splits(tmp_path):
    _good_ct(tmp_path / "d")
    with pytest.raises(ConfigError, match="out_dirs"):
        ingest_source("x", {"modality": "ct", "path": str(tmp_path / "d")}, {"test": tmp_path / "o"}, seed=0)


def test_corrupt_dicom_found_by_folder_discovery_is_an_error(tmp_path):
    """A .dcm of garbage after a valid preamble parses as a private tag in pydicom: it must not be
    skipped as a non-image but refused, naming the file, with nothing written."""
    src = tmp_path / "scans"
    src.mkdir()
    shutil.copy(PYDICOM_DIR / "CT_small.dcm", src / "good.dcm")
    (src / "slice1.dcm").write_bytes(b"\x00" * 128 + b"DICM" + np.random.default_rng(0).bytes(300))
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    dirs = out_dirs(tmp_path / "out")
    with pytest.raises(InputError, match="slice1.dcm"):
        ingest_source("src", {"modality": "ct", "path": str(src)}, dirs, seed=0)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before

"""Integrity of DICOM ingestion on real files (issue 13): nothing damaged, non-image, uncalibrated or
contradicting goes in silently.

Every case starts from pydicom's bundled real files (CT_small, MR_small, RT Dose, Segmentation,
structured reports, RT plan/structure set, DICOMDIR, ECG waveform, the truncated MR) and, where a
kind needs it, modifies a copy with pydicom or cuts bytes off. Each case asserts the exact outcome --
refused with a message naming the file and the cause, or ingested with HU, spacing, slice count and
orientation checked against an independent reading (pydicom / SimpleITK) -- and that the input
files are byte-for-byte unchanged.
"""
from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from mira.errors import ConfigError, InputError, UnreadableError
from mira.ingest import ingest_source, load_series, pydicom_test_files

PYDICOM_DIR = pydicom_test_files()
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- helpers

def sha(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def unchanged():
    """Register input folders; after the test every file in them must have its original bytes."""
    folders: list[tuple[Path, dict[str, str]]] = []

    def watch(folder: Path) -> Path:
        folders.append((folder, sha(folder)))
        return folder

    yield watch
    for folder, before in folders:
        assert sha(folder) == before, f"input files in {folder} were modified"


def ct_small() -> pydicom.Dataset:
    return pydicom.dcmread(PYDICOM_DIR / "CT_small.dcm")


def ct_series(folder: Path, n: int = 4, *, dz: float = 5.0, skip: tuple[int, ...] = (), names=None,
              orientation=None, edit=None) -> list[Path]:
    """A series of ``n`` slices made from the real CT_small (pixel rows rolled so slices differ).

    Slice ``k`` sits ``k * dz`` mm along the normal; indices in ``skip`` are left out (missing slices).
    ``edit(k, ds)`` may change a slice before it is saved. Files are named in shuffled order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = ct_small()
    uid = generate_uid()
    iop = [float(v) for v in (orientation or base.ImageOrientationPatient)]
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([float(v) for v in base.ImagePositionPatient])
    paths = []
    for k in range(n):
        if k in skip:
            continue
        ds = ct_small()
        arr = np.roll(base.pixel_array, 7 * k, axis=0)
        ds.PixelData = arr.astype(base.pixel_array.dtype).tobytes()
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + k * dz * normal]
        if edit is not None:
            edit(k, ds)
        name = names[k] if names else f"IM{(k * 7919) % 10007:05d}.dcm"
        ds.save_as(folder / name)
        paths.append(folder / name)
    return paths


def dirs(root: Path, name: str = "src", modality: str = "ct") -> dict[str, Path]:
    return {s: root / name / modality / s for s in SPLITS}


def read_report(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def refuse(spec: dict, tmp_path: Path, needle: str, exc=InputError, mem_mb=None) -> str:
    """Ingest ``spec`` expecting ``exc`` whose message holds ``needle``; nothing may be written."""
    out = tmp_path / "out"
    with pytest.raises(exc) as info:
        ingest_source("src", spec, dirs(out), seed=0, mem_mb=mem_mb, report_path=out / "report.csv")
    assert needle in str(info.value), str(info.value)
    assert not out.exists(), sorted(out.rglob("*"))
    return str(info.value)


def cut(src: Path, dst: Path, keep: int) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes()[:keep])
    return dst


# --------------------------------------------------------------------------- 1. no silent drops

def test_truncated_slice_in_a_series_is_named(tmp_path, unchanged):
    files = ct_series(tmp_path / "scans" / "series", 5)
    victim = files[2]
    victim.write_bytes(victim.read_bytes()[:-5000])  # cut inside the pixel data
    unchanged(tmp_path / "scans")
    msg = refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, victim.name, UnreadableError)
    assert "file cut short" in msg and "on_unreadable: skip" in msg


def test_slice_cut_in_its_header_is_an_image_without_pixel_data(tmp_path, unchanged):
    files = ct_series(tmp_path / "scans", 4)
    cut(files[1], files[1], 1500)
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, f"{files[1].name}: image object without "
           "pixel data", UnreadableError)


def test_zero_byte_slice_is_an_error(tmp_path, unchanged):
    ct_series(tmp_path / "scans", 4)
    (tmp_path / "scans" / "IM_empty.dcm").write_bytes(b"")
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "IM_empty.dcm: empty file (0 bytes)",
           UnreadableError)


def test_truncated_slice_without_suffix_is_still_named(tmp_path, unchanged):
    files = ct_series(tmp_path / "scans", 4, names=["1", "2", "3", "4"])
    cut(files[3], files[3], len(files[3].read_bytes()) - 3000)
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "scans/4: file cut short", UnreadableError)


def test_slices_without_suffix_or_preamble_are_all_stacked(tmp_path, unchanged):
    files = ct_series(tmp_path / "scans", 4, names=["a", "b.dcm", "c", "d"])
    raw = files[0]
    ds = pydicom.dcmread(raw)
    ds.save_as(raw, enforce_file_format=False)  # keep it parseable...
    data = raw.read_bytes()
    raw.write_bytes(data[132:] if data[128:132] == b"DICM" else data)  # ...but without preamble
    unchanged(tmp_path / "scans")
    (case,) = load_series(tmp_path / "scans", "ct")
    assert case.image.shape == (4, 128, 128)


def test_real_truncated_mr_file_is_named(tmp_path, unchanged):
    src = tmp_path / "scans"
    src.mkdir()
    shutil.copy(PYDICOM_DIR / "MR_small.dcm", src / "good.dcm")
    shutil.copy(PYDICOM_DIR / "MR_truncated.dcm", src / "MR_truncated.dcm")
    unchanged(src)
    refuse({"modality": "mri", "path": str(src)}, tmp_path, "MR_truncated.dcm", UnreadableError)


def test_on_unreadable_skip_lists_every_skip_in_the_report(tmp_path, unchanged):
    src = tmp_path / "scans"
    src.mkdir()
    shutil.copy(PYDICOM_DIR / "MR_small.dcm", src / "good.dcm")
    shutil.copy(PYDICOM_DIR / "MR_truncated.dcm", src / "MR_truncated.dcm")
    (src / "empty.dcm").write_bytes(b"")
    unchanged(src)
    out = tmp_path / "out"
    counts = ingest_source("src", {"modality": "mri", "path": str(src), "on_unreadable": "skip"},
                           dirs(out, modality="mri"), seed=0, report_path=out / "report.csv")
    assert counts == {"train": 0, "val": 0, "test": 1}
    rows = {r["file"]: r for r in read_report(out / "report.csv")}
    assert set(rows) == {"good.dcm", "MR_truncated.dcm", "empty.dcm"}
    assert rows["good.dcm"]["outcome"] == "ingested" and rows["good.dcm"]["case_id"] == "good"
    assert rows["MR_truncated.dcm"]["outcome"] == "skipped" and "cut short" in rows["MR_truncated.dcm"]["reason"]
    assert rows["empty.dcm"]["outcome"] == "skipped" and "0 bytes" in rows["empty.dcm"]["reason"]


def test_skip_never_shortens_a_series(tmp_path, unchanged):
    """A skipped unreadable slice leaves a gap: the series is refused as missing a slice, not stacked short."""
    files = ct_series(tmp_path / "scans", 5)
    order = sorted(files, key=lambda p: int(pydicom.dcmread(p).InstanceNumber))
    cut(order[2], order[2], 1500)
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans"), "on_unreadable": "skip"}, tmp_path,
           "1 missing slice(s) between")


def test_unreadable_file_is_an_error_naming_it(tmp_path, unchanged, monkeypatch):
    files = ct_series(tmp_path / "scans", 3)
    unchanged(tmp_path / "scans")
    import builtins

    real_open = builtins.open

    def guarded(file, *args, **kwargs):  # the tests run as root: chmod 000 would not stop a read
        if str(file) == str(files[1]):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path,
           f"{files[1]}: cannot read file (Permission denied)", UnreadableError)


# --------------------------------------------------------------------------- 2. series geometry

def test_missing_slice_with_positions_names_both_neighbours(tmp_path, unchanged):
    files = ct_series(tmp_path / "scans", 6, skip=(3,))
    unchanged(tmp_path / "scans")
    by_k = {int(pydicom.dcmread(p).InstanceNumber): p.name for p in files}
    msg = refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "1 missing slice(s) between")
    assert by_k[3] in msg and by_k[5] in msg


def _drop_positions(k, ds):
    del ds.ImagePositionPatient
    del ds.ImageOrientationPatient


def test_missing_slice_without_positions_found_from_instance_numbers(tmp_path, unchanged):
    ct_series(tmp_path / "scans", 6, skip=(2,), edit=_drop_positions)
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "InstanceNumber jumps from 2 (")


def test_slices_without_positions_are_stacked_by_instance_number(tmp_path, unchanged):
    ct_series(tmp_path / "scans", 4, edit=_drop_positions)
    unchanged(tmp_path / "scans")
    (case,) = load_series(tmp_path / "scans", "ct")
    base = ct_small()
    hu = base.pixel_array * float(base.RescaleSlope) + float(base.RescaleIntercept)
    for k in range(4):  # instance k+1 holds the rows rolled by 7k: the stack is in instance order
        np.testing.assert_allclose(case.image[k], np.clip(np.roll(hu, 7 * k, axis=0), -1024, 3071))
    assert case.spacing[0] == pytest.approx(5.0)  # SliceThickness of CT_small
    assert case.geometry is None


def test_slices_with_unknown_order_are_refused(tmp_path, unchanged):
    def same_number(k, ds):
        _drop_positions(k, ds)
        ds.InstanceNumber = 1

    ct_series(tmp_path / "scans", 3, edit=same_number)
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "order in the volume is unknown")


def test_slices_with_different_pixel_spacing_are_refused(tmp_path, unchanged):
    def spacing(k, ds):
        if k == 2:
            ds.PixelSpacing = ["0.8", "0.8"]

    files = ct_series(tmp_path / "scans", 4, edit=spacing)
    unchanged(tmp_path / "scans")
    msg = refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "different PixelSpacing")
    assert any(p.name in msg for p in files)


def test_slices_with_different_orientation_are_refused(tmp_path, unchanged):
    def tilt(k, ds):
        if k == 1:
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]

    ct_series(tmp_path / "scans", 4, edit=tilt)
    unchanged(tmp_path / "scans")
    refuse({"modality": "ct", "path": str(tmp_path / "scans")}, tmp_path, "different ImageOrientationPatient")


def test_real_series_matches_an_independent_simpleitk_reading(tmp_path, unchanged):
    """HU, spacing, slice count, origin and direction of an oblique series equal SimpleITK/GDCM's reading."""
    c, s = np.cos(0.3), np.sin(0.3)
    ct_series(tmp_path / "scans", 5, dz=2.5, orientation=[c, s, 0, -s, c, 0])
    unchanged(tmp_path / "scans")
    (case,) = load_series(tmp_path / "scans", "ct")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "scans")))
    ref = reader.Execute()
    expected = np.clip(sitk.GetArrayFromImage(ref).astype(np.float32), -1024, 3071)
    assert case.image.shape == expected.shape == (5, 128, 128)
    np.testing.assert_allclose(case.image, expected)
    assert case.spacing == pytest.approx(tuple(reversed(ref.GetSpacing())), abs=1e-4)
    assert case.geometry.origin == pytest.approx(ref.GetOrigin(), abs=1e-3)
    assert case.geometry.direction == pytest.approx(ref.GetDirection(), abs=1e-5)


# --------------------------------------------------------------------------- 3. know what an object is

NON_IMAGES = [
    ("rtdose.dcm", "RT Dose Storage"),
    ("liver_1frame.dcm", "Segmentation Storage"),
    ("test-SR.dcm", "Comprehensive SR Storage"),
    ("reportsi.dcm", "Basic Text SR Storage"),
    ("rtstruct.dcm", "RT Structure Set Storage"),
    ("rtplan.dcm", "RT Plan Storage"),
    ("waveform_ecg.dcm", "12-lead ECG Waveform Storage"),
    ("dicomdirtests/DICOMDIR", "Media Storage Directory Storage"),
]


@pytest.mark.parametrize("name, klass", NON_IMAGES, ids=[n for n, _ in NON_IMAGES])
def test_non_image_objects_are_excluded_by_class_and_reported(tmp_path, unchanged, name, klass):
    src = tmp_path / "export"
    src.mkdir()
    shutil.copy(PYDICOM_DIR / "CT_small.dcm", src / "ct.dcm")
    shutil.copy(PYDICOM_DIR / name, src / Path(name).name)
    unchanged(src)
    out = tmp_path / "out"
    counts = ingest_source("src", {"modality": "ct", "path": str(src)}, dirs(out), seed=0,
                           report_path=out / "report.csv")
    assert counts == {"train": 0, "val": 0, "test": 1}
    rows = {r["file"]: r for r in read_report(out / "report.csv")}
    row = rows[Path(name).name]
    assert row["outcome"] == "excluded" and row["reason"].startswith(klass), row
    assert rows["ct.dcm"]["outcome"] == "ingested"


def test_classification_by_sop_class_not_by_pixel_data():
    from mira.ingest.objects import classify_object

    def kind(uid):
        ds = pydicom.Dataset()
        ds.SOPClassUID = uid
        return classify_object(ds)

    assert kind("1.2.840.10008.5.1.4.1.1.2").is_image  # CT Image Storage
    assert kind("1.2.840.10008.5.1.4.1.1.6.2").is_image  # Enhanced US Volume Storage
    assert kind(SC_STORAGE).secondary_capture
    for uid in ("1.2.840.10008.5.1.4.1.1.481.2", "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.33",
                "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.5.1.4.1.1.66",
                "1.2.840.10008.5.1.4.1.1.104.1", "1.2.3.4.5"):  # dose, SEG, SR, GSPS, KOS, raw, PDF, unknown
        assert not kind(uid).is_image, uid


def test_dose_grid_named_explicitly_is_refused(tmp_path, unchanged):
    src = unchanged(PYDICOM_DIR)
    refuse({"modality": "ct", "path": str(src), "include": ["CT_small.dcm", "rtdose.dcm"]}, tmp_path,
           "rtdose.dcm: DICOM RT Dose Storage (Modality RTDOSE) object, not an image")


def test_only_non_images_means_no_images(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    for name in ("rtdose.dcm", "liver_1frame.dcm"):
        shutil.copy(PYDICOM_DIR / name, src / name)
    unchanged(src)
    refuse({"modality": "ct", "path": str(src)}, tmp_path, "2 file(s) excluded")


def _as_secondary_capture(path: Path, src: Path, modality: str | None = None) -> Path:
    ds = pydicom.dcmread(src)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SC_STORAGE
    if modality is not None:
        ds.Modality = modality
    ds.save_as(path)
    return path


def test_secondary_capture_is_never_ct_hu(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    shutil.copy(PYDICOM_DIR / "CT_small.dcm", src / "ct.dcm")
    _as_secondary_capture(src / "screenshot.dcm", PYDICOM_DIR / "CT_small.dcm")
    unchanged(src)
    out = tmp_path / "out"
    ingest_source("src", {"modality": "ct", "path": str(src)}, dirs(out), seed=0, report_path=out / "r.csv")
    rows = {r["file"]: r for r in read_report(out / "r.csv")}
    assert rows["screenshot.dcm"]["outcome"] == "excluded"
    assert "no Hounsfield calibration" in rows["screenshot.dcm"]["reason"]
    # named explicitly: refused
    refuse({"modality": "ct", "path": str(src / "screenshot.dcm")}, tmp_path / "x", "never ingested as CT")


def test_secondary_capture_is_an_image_for_mri(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    _as_secondary_capture(src / "sc.dcm", PYDICOM_DIR / "MR_small.dcm", modality="MR")
    unchanged(src)
    (case,) = load_series(src / "sc.dcm", "mri")
    ref = pydicom.dcmread(PYDICOM_DIR / "MR_small.dcm").pixel_array.astype(np.float64)
    np.testing.assert_allclose(case.image, (ref / np.percentile(ref, 99.5)).astype(np.float32), rtol=1e-6)


# --------------------------------------------------------------------------- 4. modality and calibration

def test_modality_tag_contradicting_the_config_is_an_error(tmp_path, unchanged):
    src = unchanged(PYDICOM_DIR)
    msg = refuse({"modality": "us", "path": str(src / "CT_small.dcm")}, tmp_path,
                 "CT_small.dcm: DICOM Modality CT contradicts the configured modality 'us'")
    assert "on_modality_mismatch: warn" in msg
    refuse({"modality": "ct", "path": str(src / "MR_small.dcm")}, tmp_path, "Modality MR contradicts")


def test_modality_mismatch_can_be_allowed_and_is_reported(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    shutil.copy(PYDICOM_DIR / "CT_small.dcm", src / "ct.dcm")
    unchanged(src)
    out = tmp_path / "out"
    ingest_source("src", {"modality": "us", "path": str(src), "on_modality_mismatch": "warn"}, dirs(out, modality="us"),
                  seed=0, report_path=out / "r.csv")
    (row,) = read_report(out / "r.csv")
    assert row["outcome"] == "ingested" and "Modality CT ingested as us" in row["note"]


def _without_rescale(path: Path) -> Path:
    ds = ct_small()
    del ds.RescaleSlope
    del ds.RescaleIntercept
    ds.save_as(path)
    return path


def test_ct_without_rescale_is_refused_with_the_way_out(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    _without_rescale(src / "raw.dcm")
    unchanged(src)
    msg = refuse({"modality": "ct", "path": str(src)}, tmp_path, "raw.dcm: CT without RescaleSlope/RescaleIntercept")
    assert "inputs.src.ct_rescale: [slope, intercept]" in msg


def test_ct_rescale_declares_the_hu_mapping(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    _without_rescale(src / "raw.dcm")
    unchanged(src)
    (case,) = load_series(src, "ct", ct_rescale=[1.0, -1024.0])
    stored = pydicom.dcmread(src / "raw.dcm").pixel_array.astype(np.float64)
    np.testing.assert_allclose(case.image, np.clip(stored - 1024.0, -1024, 3071))


def test_ct_rescale_is_only_for_ct():
    from mira.ingest import parse_spec

    with pytest.raises(ConfigError, match="inputs.x.ct_rescale: only for CT"):
        parse_spec("x", {"modality": "mri", "path": "p", "ct_rescale": [1, 0]})
    with pytest.raises(ConfigError, match=r"inputs.x.ct_rescale: expected \[slope, intercept\]"):
        parse_spec("x", {"modality": "ct", "path": "p", "ct_rescale": [1]})
    with pytest.raises(ConfigError, match="inputs.x.on_unreadable"):
        parse_spec("x", {"modality": "ct", "path": "p", "on_unreadable": "maybe"})


def test_calibrated_ct_matches_pydicom_hu_spacing_and_position(tmp_path):
    (case,) = load_series(PYDICOM_DIR / "CT_small.dcm", "ct")
    ds = ct_small()
    hu = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_allclose(case.image, np.clip(hu, -1024, 3071))
    assert case.spacing == pytest.approx(tuple(float(v) for v in ds.PixelSpacing))
    assert case.geometry.origin == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    assert case.geometry.thickness == pytest.approx(float(ds.SliceThickness))


# --------------------------------------------------------------------------- 5. corrupt headers

def test_huge_rows_and_columns_are_a_corrupt_header_not_a_memory_problem(tmp_path, unchanged):
    src = tmp_path / "export"
    src.mkdir()
    ds = ct_small()
    ds.Rows = ds.Columns = 60000
    ds.save_as(src / "corrupt.dcm")
    unchanged(src)
    msg = refuse({"modality": "ct", "path": str(src)}, tmp_path,
                 "corrupt.dcm: corrupt header: claims 60000 x 60000 pixels (7.2 GB) "
                 "but the file holds 32.8 kB of pixel data", mem_mb=4000)
    assert "too large for the configured memory" not in msg


def test_every_file_of_a_mixed_export_appears_once_in_the_report(tmp_path, unchanged):
    src = tmp_path / "export"
    ct_series(src / "series", 3)
    shutil.copy(PYDICOM_DIR / "rtdose.dcm", src / "dose.dcm")
    shutil.copy(PYDICOM_DIR / "rtstruct.dcm", src / "struct.dcm")
    (src / "README.txt").write_text("export notes\n")
    (src / "DOSE_REPORT").write_bytes((PYDICOM_DIR / "test-SR.dcm").read_bytes())
    unchanged(src)
    out = tmp_path / "out"
    ingest_source("src", {"modality": "ct", "path": str(src)}, dirs(out), seed=0, report_path=out / "r.csv")
    rows = read_report(out / "r.csv")
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    assert sorted(r["file"] for r in rows) == files
    outcome = {r["file"]: (r["outcome"], r["case_id"]) for r in rows}
    assert {v for k, v in outcome.items() if k.startswith("series/")} == {("ingested", "series")}
    assert outcome["README.txt"][0] == outcome["dose.dcm"][0] == outcome["DOSE_REPORT"][0] == "excluded"

"""Orientation and position in the patient survive every stage (issue 13).

Real pixel data (pydicom's ``CT_small.dcm``) stored RAS and LPS, as a sagittal and an oblique DICOM
series, and as the single slice itself, go through ingestion, degradation and restoration; every
NIfTI file written on the way must overlay its source in physical space (SimpleITK is the independent
judge).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from mira.dataset import Dataset, DatasetWriter
from mira.degrade.pairs import PairedDataset, lr_geometry
from mira.degrade.resolution import downsample
from mira.geometry import IDENTITY, Geometry
from mira.ingest import ingest_source, load_series, pydicom_test_files
from mira.io import geometry_of, read_image, read_image_with_geometry, write_image
from mira.modalities import get_profile
from mira.study.degrade_stage import degrade_dataset
from mira.study.restore_stage import restore_folder

CT_SMALL = "CT_small.dcm"
SAGITTAL_IOP = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # rows run posterior, columns run down (inferior)


def _ct_small() -> pydicom.Dataset:
    return pydicom.dcmread(pydicom_test_files() / CT_SMALL)


def _ct_small_hu() -> np.ndarray:
    ds = _ct_small()
    return ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _real_volume() -> np.ndarray:
    """A small, asymmetric (z, y, x) HU volume built from CT_small's pixels (each slice different)."""
    hu = _ct_small_hu()[10:58, 20:76]  # 48 x 56, no symmetry
    return np.stack([np.roll(hu, 3 * k, axis=1) + 5.0 * k for k in range(5)]).astype(np.float32)


def _itk_volume(arr: np.ndarray, spacing_xyz, origin, direction) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(v) for v in spacing_xyz))
    img.SetOrigin(tuple(float(v) for v in origin))
    img.SetDirection(tuple(float(v) for v in np.asarray(direction, dtype=float).ravel()))
    return img


def _nearest_on(moving: sitk.Image, fixed: sitk.Image) -> np.ndarray:
    """``moving`` resampled (nearest neighbour) onto the physical grid of ``fixed``, as an array."""
    out = sitk.Resample(moving, fixed, sitk.Transform(), sitk.sitkNearestNeighbor, -9999.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def _write_case(path: Path, case) -> sitk.Image:
    write_image(path, case.image, case.spacing, geometry=case.geometry)
    return sitk.ReadImage(str(path))


def _dicom_series(folder: Path, iop, n: int = 6, step_mm: float = 2.5, start=(12.0, -30.0, 40.0),
                  crop=(slice(8, 72), slice(16, 64))) -> Path:
    """Write ``n`` slices of CT_small's pixels (each slice different) with orientation ``iop``.

    Positions step ``step_mm`` along the slice normal (row x column cosines) from ``start``; the files
    get new SOP instance UIDs, one series UID, and shuffled names.
    """
    folder.mkdir(parents=True)
    base = _ct_small()
    raw = base.pixel_array[crop]
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    normal = np.cross(row, col)
    series_uid = generate_uid()
    names = [f"img_{k:02d}.dcm" for k in range(n)]
    random.Random(7).shuffle(names)
    for k in range(n):
        ds = _ct_small()
        pixels = np.roll(raw, 2 * k, axis=0).astype(np.int16) + np.int16(4 * k)
        ds.Rows, ds.Columns = pixels.shape
        ds.PixelData = pixels.tobytes()
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in np.asarray(start) + k * step_mm * normal]
        ds.SliceThickness = step_mm
        ds.SpacingBetweenSlices = step_mm
        if "SliceLocation" in ds:
            del ds.SliceLocation
        ds.InstanceNumber = k + 1
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.save_as(folder / names[k])
    return folder


def _oblique_iop() -> tuple[float, ...]:
    a, b = np.deg2rad(25.0), np.deg2rad(15.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    m = rx @ rz
    return tuple(float(v) for v in np.concatenate([m[:, 0], m[:, 1]]))


def _assert_geometry(path: Path, geometry: Geometry, atol: float = 1e-3) -> None:
    img = sitk.ReadImage(str(path))
    assert img.GetDimension() == 3, path
    np.testing.assert_allclose(img.GetOrigin(), geometry.origin, atol=atol, err_msg=str(path))
    np.testing.assert_allclose(img.GetDirection(), geometry.direction, atol=1e-5, err_msg=str(path))


# ---- ingestion --------------------------------------------------------------------------------------


def test_same_volume_stored_lps_and_ras_ingests_to_the_same_physical_image(tmp_path):
    arr = _real_volume()
    nz, ny, nx = arr.shape
    spacing_xyz = (0.7, 0.8, 2.5)
    origin = np.array([-20.0, 10.0, 30.0])
    lps = _itk_volume(arr, spacing_xyz, origin, np.eye(3))
    # RAS storage: x and y run the other way; the first voxel is the old (nx-1, ny-1, 0)
    ras_origin = origin + np.array([(nx - 1) * spacing_xyz[0], (ny - 1) * spacing_xyz[1], 0.0])
    ras = _itk_volume(np.ascontiguousarray(arr[:, ::-1, ::-1]), spacing_xyz, ras_origin, np.diag([-1.0, -1.0, 1.0]))
    sitk.WriteImage(lps, str(tmp_path / "lps.nii.gz"))
    sitk.WriteImage(ras, str(tmp_path / "ras.nii.gz"))

    (case_lps,) = load_series(tmp_path / "lps.nii.gz", "ct")
    (case_ras,) = load_series(tmp_path / "ras.nii.gz", "ct")
    assert not np.array_equal(case_lps.image, case_ras.image)  # mira stores each as it came
    np.testing.assert_allclose(case_ras.geometry.matrix, np.diag([-1.0, -1.0, 1.0]), atol=1e-6)

    out_lps = _write_case(tmp_path / "out_lps.nii.gz", case_lps)
    out_ras = _write_case(tmp_path / "out_ras.nii.gz", case_ras)
    np.testing.assert_array_equal(_nearest_on(out_ras, out_lps), sitk.GetArrayFromImage(out_lps))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out_lps), arr)

    # without the geometry the two files would be mirror images of each other
    write_image(tmp_path / "bare_ras.nii.gz", case_ras.image, case_ras.spacing)
    write_image(tmp_path / "bare_lps.nii.gz", case_lps.image, case_lps.spacing)
    bare = _nearest_on(sitk.ReadImage(str(tmp_path / "bare_ras.nii.gz")),
                       sitk.ReadImage(str(tmp_path / "bare_lps.nii.gz")))
    assert not np.array_equal(bare, arr)


def test_sagittal_series_matches_simpleitk_series_reader(tmp_path):
    folder = _dicom_series(tmp_path / "sag", SAGITTAL_IOP, n=6, step_mm=2.5)
    (case,) = load_series(folder, "ct")
    assert case.image.ndim == 3 and case.geometry is not None
    mine = _write_case(tmp_path / "sag.nii.gz", case)

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ref = sitk.Cast(reader.Execute(), sitk.sitkFloat32)

    assert mine.GetSize() == ref.GetSize()
    np.testing.assert_allclose(mine.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(mine.GetOrigin(), ref.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(mine.GetDirection(), ref.GetDirection(), atol=1e-5)
    # the row direction is anterior-posterior, the columns run down: a sagittal plane
    np.testing.assert_allclose(np.asarray(mine.GetDirection()).reshape(3, 3)[:, :2],
                               [[0, 0], [1, 0], [0, -1]], atol=1e-6)
    np.testing.assert_array_equal(_nearest_on(mine, ref), sitk.GetArrayFromImage(ref))


def test_ct_slice_keeps_its_position_and_orientation():
    ds = _ct_small()
    (case,) = load_series(pydicom_test_files() / CT_SMALL, "ct")
    assert case.image.ndim == 2
    np.testing.assert_allclose(case.geometry.origin, [float(v) for v in ds.ImagePositionPatient], atol=1e-4)
    row, col = np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
    np.testing.assert_allclose(case.geometry.matrix[:, 0], row, atol=1e-6)
    np.testing.assert_allclose(case.geometry.matrix[:, 1], col, atol=1e-6)


# ---- 2D files and datasets --------------------------------------------------------------------------


def test_2d_image_round_trip_with_and_without_geometry(tmp_path):
    arr = _ct_small_hu()[:40, :56]
    geo = Geometry.from_dicom_plane(_oblique_iop(), (3.0, -7.5, 120.0), thickness=2.0)
    write_image(tmp_path / "placed.nii.gz", arr, (0.5, 0.7), geometry=geo)
    img = sitk.ReadImage(str(tmp_path / "placed.nii.gz"))
    assert img.GetDimension() == 3 and img.GetSize() == (56, 40, 1)
    np.testing.assert_allclose(img.GetSpacing(), (0.7, 0.5, 2.0))
    back, sp, g = read_image_with_geometry(tmp_path / "placed.nii.gz", ndim=2)
    np.testing.assert_array_equal(back, arr)
    assert sp == pytest.approx((0.5, 0.7)) and g.close_to(geo) and g.thickness == pytest.approx(2.0)
    assert read_image(tmp_path / "placed.nii.gz")[0].shape == (1, 40, 56)  # no ndim: the stored volume

    write_image(tmp_path / "bare.nii.gz", arr, (0.5, 0.7))
    assert sitk.ReadImage(str(tmp_path / "bare.nii.gz")).GetDimension() == 2
    back, sp, g = read_image_with_geometry(tmp_path / "bare.nii.gz", ndim=2)
    np.testing.assert_array_equal(back, arr)
    assert sp == pytest.approx((0.5, 0.7)) and g.is_identity()


def test_dataset_keeps_geometry_of_image_label_and_sequences(tmp_path):
    arr = _ct_small_hu()[:32, :48]
    lab = (arr > 0).astype(np.uint8)
    geo = Geometry.from_dicom_plane(SAGITTAL_IOP, (5.0, -60.0, 80.0), thickness=3.0)
    w = DatasetWriter(tmp_path / "ds", "src", "mri", "test", {0: "background", 1: "fg"})
    w.add("placed", arr, (0.6, 0.6), label=lab, sequences={"t2": arr * 2}, geometry=geo)
    w.add("phantom", arr, (0.6, 0.6), label=lab)
    w.add("identity", arr, (0.6, 0.6), geometry=IDENTITY)
    w.close()
    ds = Dataset(tmp_path / "ds")
    placed, phantom, ident = (ds.load(r, sequences=True) for r in ds.records)
    assert placed.image.shape == placed.label.shape == placed.sequences["t2"].shape == (32, 48)
    assert placed.geometry.close_to(geo) and placed.geometry.thickness == pytest.approx(3.0)
    for rel in ("images/placed.nii.gz", "labels/placed.nii.gz", "images/placed_t2.nii.gz"):
        _assert_geometry(tmp_path / "ds" / rel, geo)
    assert phantom.geometry.is_identity() and phantom.image.shape == (32, 48)
    for rel in ("images/phantom.nii.gz", "labels/phantom.nii.gz", "images/identity.nii.gz"):
        assert sitk.ReadImage(str(tmp_path / "ds" / rel)).GetDimension() == 2  # phantoms stay 2D files
    assert ident.geometry.is_identity()


def test_lr_geometry_puts_each_lr_pixel_at_the_centre_of_its_hr_block():
    """A linear ramp in patient coordinates: each LR value must be the ramp at its LR pixel centre."""
    spacing = (2.0, 0.8, 0.6)
    geo = Geometry.from_dicom_plane(_oblique_iop(), (10.0, -5.0, 30.0))
    shape = (12, 18, 21)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    coef = np.array([0.3, -0.7, 1.1])
    pts = np.asarray(geo.origin) + (geo.matrix @ (idx[:, ::-1] * np.asarray(spacing)[::-1]).T).T
    hr = (pts @ coef).reshape(shape)
    s = 3
    lr, lr_sp, _ = downsample(hr, spacing, s)
    lg = lr_geometry(geo, spacing, s)
    lidx = np.stack(np.meshgrid(*[np.arange(1, n - 1) for n in lr.shape], indexing="ij"), axis=-1).reshape(-1, 3)
    lpts = np.asarray(lg.origin) + (lg.matrix @ (lidx[:, ::-1] * np.asarray(lr_sp)[::-1]).T).T
    expected = lpts @ coef
    got = lr[tuple(lidx.T)]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(np.asarray(lg.origin), np.asarray(geo.origin))


# ---- end to end -------------------------------------------------------------------------------------


def _ingest(tmp_path: Path, name: str, path: Path) -> Path:
    dirs = {s: tmp_path / "data" / name / s for s in ("train", "val", "test")}
    counts = ingest_source(name, {"modality": "ct", "path": str(path)}, dirs, seed=1)
    assert counts["test"] == 1
    return dirs["test"]


@pytest.mark.parametrize("kind", ["oblique_series", "ct_slice"])
def test_degraded_reference_and_restored_images_overlay_the_input(tmp_path, kind):
    if kind == "oblique_series":
        src = _dicom_series(tmp_path / "obl", _oblique_iop(), n=6, step_mm=2.0)
        (case,) = load_series(src, "ct")
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(src)))
        truth = geometry_of(reader.Execute())
    else:
        src = pydicom_test_files() / CT_SMALL
        (case,) = load_series(src, "ct")
        ds = _ct_small()
        truth = Geometry.from_dicom_plane([float(v) for v in ds.ImageOrientationPatient],
                                          [float(v) for v in ds.ImagePositionPatient])
    clean = _ingest(tmp_path, kind, src)
    (rec,) = Dataset(clean).records
    assert rec.ndim == case.image.ndim
    _assert_geometry(clean / rec.image, truth)
    loaded = Dataset(clean).load(rec)
    assert loaded.image.shape == case.image.shape and loaded.geometry.close_to(truth)

    # a noise degradation and its restoration: same grid, same geometry everywhere
    noisy = tmp_path / "deg" / kind / "gaussian_noise"
    degrade_dataset(clean, noisy, degradation="gaussian_noise", level="moderate", seed=1)
    restored = tmp_path / "res" / kind / "gaussian"
    restore_folder(noisy, restored, "gaussian", get_profile(rec.modality))
    for path in (noisy / "images" / f"{rec.case_id}.nii.gz", noisy / "clean" / f"{rec.case_id}.nii.gz",
                 restored / "images" / f"{rec.case_id}.nii.gz"):
        _assert_geometry(path, truth)
    (pair,) = PairedDataset(noisy)
    assert pair.degraded.shape == pair.reference.shape == case.image.shape
    assert pair.geometry.close_to(truth) and pair.reference_geometry.close_to(truth)

    # super-resolution: the HR reference keeps the origin, the LR input moves by (s-1)/2 HR pixels
    s = 2
    sr = tmp_path / "deg" / kind / "downsample"
    degrade_dataset(clean, sr, degradation="downsample", level=f"x{s}", seed=1)
    _assert_geometry(sr / "clean" / f"{rec.case_id}.nii.gz", truth)
    hr_spacing = loaded.spacing
    shift_xyz = np.zeros(3)
    shift_xyz[: len(hr_spacing)] = (s - 1) / 2 * np.asarray(hr_spacing)[::-1]
    lr_origin = np.asarray(truth.origin) + truth.matrix @ shift_xyz
    lr_img = sitk.ReadImage(str(sr / "images" / f"{rec.case_id}.nii.gz"))
    np.testing.assert_allclose(lr_img.GetOrigin(), lr_origin, atol=1e-3)
    np.testing.assert_allclose(lr_img.GetDirection(), truth.direction, atol=1e-5)
    assert not np.allclose(lr_img.GetOrigin(), truth.origin, atol=1e-3)
    (sr_pair,) = PairedDataset(sr)
    assert sr_pair.degraded.ndim == case.image.ndim
    assert sr_pair.reference.shape == tuple(n - n % s for n in case.image.shape)
    if case.image.ndim == 3:
        return  # volumes are downsampled on all three axes but upscaled in-plane only: no 3D SR restoration
    sr_out = tmp_path / "res" / kind / "bicubic"
    restore_folder(sr, sr_out, "bicubic", get_profile(rec.modality))
    _assert_geometry(sr_out / "images" / f"{rec.case_id}.nii.gz", truth)
    # the restored HR image lies where the original does: it overlays the ingested clean image
    res_img = sitk.ReadImage(str(sr_out / "images" / f"{rec.case_id}.nii.gz"))
    clean_img = sitk.ReadImage(str(clean / rec.image))
    np.testing.assert_array_equal(_nearest_on(clean_img, res_img).reshape(sr_pair.reference.shape),
                                  sr_pair.reference)

"""Core pieces: seeding, atomic writes, NIfTI I/O with spacing, the dataset contract, profiles."""
from __future__ import annotations

import os

import numpy as np
import pytest
import SimpleITK as sitk

from mira.atomic import atomic_dir, atomic_path
from mira.dataset import Dataset, DatasetWriter
from mira.errors import ConfigError, InputError
from mira.io import read_image, read_label, write_image, write_label
from mira.modalities import MODALITIES, get_profile
from mira.seeding import derive_seed, rng_for


def test_rng_same_keys_same_stream_and_different_keys_differ():
    a = rng_for(42, "synthesis", "ct", "case1").random(8)
    b = rng_for(42, "synthesis", "ct", "case1").random(8)
    c = rng_for(42, "synthesis", "ct", "case2").random(8)
    d = rng_for(43, "synthesis", "ct", "case1").random(8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)
    # key order matters, int vs str keys are distinct
    assert not np.array_equal(rng_for(1, "a", "b").random(4), rng_for(1, "b", "a").random(4))
    assert derive_seed(1, 2) != derive_seed(1, "2")
    assert derive_seed(5, "x") == derive_seed(5, "x") < 2**63


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and len(list(tmp_path.iterdir())) == 1


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "f.txt") as tmp:
            tmp.write_text("x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(ValueError):
        with atomic_dir(out) as tmp:
            (tmp / "a").write_text("1")
            raise ValueError
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(out) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(os.listdir(out)) == ["b"]


@pytest.mark.parametrize("shape, spacing", [((20, 30), (0.5, 0.8)), ((4, 20, 30), (2.5, 0.5, 0.8))])
def test_nifti_roundtrip_keeps_values_and_spacing_in_numpy_order(tmp_path, shape, spacing):
    arr = np.random.default_rng(0).normal(0, 100, shape).astype(np.float32)
    path = tmp_path / "img.nii.gz"
    write_image(path, arr, spacing)
    back, sp = read_image(path)
    assert np.array_equal(back, arr) and sp == pytest.approx(spacing)
    # SimpleITK itself sees x-first spacing: the conversion is right, not merely symmetric
    assert sitk.ReadImage(str(path)).GetSpacing() == pytest.approx(tuple(reversed(spacing)))
    lab = (arr > 0).astype(np.uint8) * 3
    write_label(tmp_path / "lab.nii.gz", lab, spacing)
    lback, _ = read_label(tmp_path / "lab.nii.gz")
    assert lback.dtype == np.uint8 and np.array_equal(lback, lab)


def test_write_image_refuses_nan_and_read_names_bad_files(tmp_path):
    with pytest.raises(InputError, match="NaN"):
        write_image(tmp_path / "x.nii.gz", np.array([[np.nan, 1.0]]), (1, 1))
    assert not (tmp_path / "x.nii.gz").exists()
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="junk.nii.gz"):
        read_image(junk)
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.nii.gz")


def test_dataset_writer_reader_roundtrip(tmp_path):
    with atomic_dir(tmp_path / "ds") as tmp:
        w = DatasetWriter(tmp, "phantom", "mri", "train", {0: "background", 1: "wm"})
        img = np.ones((16, 16), np.float32)
        lab = np.zeros((16, 16), np.uint8)
        lab[4:8, 4:8] = 1
        w.add("c0", img, (1.0, 1.0), label=lab, sequences={"T2": img * 2}, class_label=1)
        w.add("c1", img * 3, (1.0, 1.0))
        with pytest.raises(InputError, match="duplicate"):
            w.add("c1", img, (1.0, 1.0))
        with pytest.raises(InputError, match="label shape"):
            w.add("c2", img, (1.0, 1.0), label=lab[:4])
        w.close()
    ds = Dataset(tmp_path / "ds")
    assert len(ds) == 2 and ds.legend == {0: "background", 1: "wm"} and ds.modality == "mri"
    c0 = ds.load(ds.records[0], sequences=True)
    assert c0.record.labels_present == (0, 1) and c0.record.class_label == 1
    assert np.array_equal(c0.label, lab) and np.array_equal(c0.sequences["T2"], img * 2)
    assert ds.records[1].label == "" and ds.records[1].class_label == -1
    with pytest.raises(InputError, match="manifest"):
        Dataset(tmp_path)


def test_profiles_limits_and_unknowns():
    assert set(MODALITIES) == {"ct", "mri", "xray", "us"}
    ct = get_profile("CT")
    assert ct.value_range == (-1024.0, 3071.0) and ct.data_range == 2000.0
    assert get_profile("mri").rotation_deg == 3.0 and get_profile("xray").rotation_deg == 2.0
    assert get_profile("ct", {"rotation_deg": 8}).rotation_deg == 8
    with pytest.raises(ConfigError, match="hard limit"):
        get_profile("ct", {"rotation_deg": 11})
    with pytest.raises(ConfigError, match="unknown modality 'pet'"):
        get_profile("pet")
    with pytest.raises(ConfigError, match="rotaton"):
        get_profile("ct", {"rotaton": 1})
    assert np.array_equal(ct.clip(np.array([-5000.0, 0.0, 5000.0])), [-1024.0, 0.0, 3071.0])


def test_rewriting_an_output_removes_what_a_killed_write_left(tmp_path):
    # what a SIGKILL in the middle of atomic writes leaves: hidden temporaries beside the outputs
    (tmp_path / ".model.a1b2c3d4.tmp.pt").write_bytes(b"half")
    (tmp_path / ".x2.zz_9yy8x.tmp").mkdir()
    (tmp_path / ".x2.zz_9yy8x.tmp" / "part.nii.gz").write_bytes(b"half")
    keep = [tmp_path / ".model.a1b2c3d4.tmp.json", tmp_path / ".x20.a1b2c3d4.tmp", tmp_path / "model.pt.bak"]
    for p in keep:
        p.write_bytes(b"other output")
    with atomic_path(tmp_path / "model.pt") as tmp:
        tmp.write_bytes(b"weights")
    with atomic_dir(tmp_path / "x2") as tmp:
        (tmp / "a.txt").write_text("1")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["model.pt", "x2"] + [p.name for p in keep])
    assert (tmp_path / "model.pt").read_bytes() == b"weights"

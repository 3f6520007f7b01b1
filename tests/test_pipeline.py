"""End to end: the real Snakefile on the tiny config, and bad input through the whole pipeline."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG, run_snakemake, sha256_tree
from mira.dataset import Dataset

pytestmark = pytest.mark.e2e


def snakemake(workdir: Path, configfile: Path, *targets: str, cores: int = 2, extra=()) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` with ``configfile`` only (no config.yaml merge).

    Targets go before ``extra``: options such as ``--set-resources`` take several values.
    """
    return run_snakemake(workdir, *targets, *extra, configfile=configfile, cores=cores, timeout=900)


def test_dry_run_shows_the_dag(tmp_path):
    proc = snakemake(tmp_path, TINY_CONFIG, extra=("-n",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for rule in ("synthesize", "ingest", "dataset_stats", "dataset_table", "overview_figure"):
        assert rule in out


def test_tiny_run_writes_the_dataset_contract(tiny_run):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    n = cfg["synthesis"]["cases"]
    for modality in cfg["modalities"]:
        for split in ("train", "val", "test"):
            ds = Dataset(tiny_run / "results" / "data" / "phantom" / modality / split)
            assert len(ds) == n[split]
            case = ds.load(ds.records[0])
            assert case.image.dtype == np.float32 and case.image.shape == (48, 48)
            assert case.label is not None and case.label.shape == case.image.shape
            assert ds.legend and 0 in ds.legend
    vol = Dataset(tiny_run / "results" / "data" / "phantom3d" / "ct" / "train")
    assert vol.records[0].shape == (8, 32, 32)
    # real images from pydicom's own samples went through ingestion
    real = Dataset(tiny_run / "results" / "data" / "pydicom_ct" / "ct" / "test")
    assert len(real) == 1 and real.records[0].class_label == -1


def test_tiny_run_writes_table_and_figures(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "tables" / "datasets.csv")
    ct = table[(table.source == "phantom") & (table.modality == "ct")]
    assert int(ct.cases.iloc[0]) == 8
    lung = ct[ct.label_name.str.contains("lung")]
    assert not lung.empty and (-950 < lung["mean"]).all() and (lung["mean"] < -700).all()
    assert (tiny_run / "results" / "tables" / "datasets.md").read_text().count("|") > 20
    figs = sorted(p.name for p in (tiny_run / "results" / "figures" / "overview").glob("*.png"))
    assert "phantom_ct.png" in figs and "pydicom_us_us.png" in figs and "phantom3d_mri.png" in figs
    from figure_checks import check_png
    from mira.study.report.overview import load_cases

    for f in figs:  # <source>_<modality>.png: a column per case (3 at most), a row per view
        source, modality = f[:-4].rsplit("_", 1)
        data = tiny_run / "results" / "data" / source / modality
        cases, _ = load_cases([data / s for s in ("train", "val", "test") if (data / s).is_dir()], 3)
        rows = 1 + any(c.label is not None for c in cases) + len({k for c in cases for k in c.sequences})
        check_png(tiny_run / "results" / "figures" / "overview" / f, grid=(rows, len(cases)),
                  approx_size=(2.2 * len(cases) * 110, 2.3 * rows * 110), wide_title=len(cases) == 1)


def test_rerun_is_up_to_date(tiny_run):
    proc = snakemake(tiny_run, TINY_CONFIG, extra=("-n",))
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _bad_config(tmp_path: Path, inputs: dict) -> Path:
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["modalities"] = ["ct"]
    cfg["synthesis"]["volumes"]["modalities"] = []
    cfg["inputs"] = inputs
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _pydicom_file(name: str) -> Path:
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files" / name


def _write_bad_input(src: Path, kind: str) -> tuple[str, str, str]:
    """Put one bad input of ``kind`` into ``src``; returns (modality, culprit named in the error, message part)."""
    import numpy as np
    import pydicom
    import SimpleITK as sitk
    from PIL import Image

    if kind == "truncated":
        shutil.copy(_pydicom_file("MR_truncated.dcm"), src / "MR_truncated.dcm")
        return "mri", "MR_truncated.dcm", "file cut short"
    if kind == "corrupt":
        (src / "slice1.dcm").write_bytes(b"\x00" * 128 + b"DICM" + os.urandom(300))
        return "ct", "slice1.dcm", "not a readable DICOM file"
    if kind == "non_image":
        (src / "notes.txt").write_text("this is not an image\n")
        return "ct", "notes.txt", "not an image file"
    if kind == "empty":
        return "ct", src.name, "no images found"
    if kind == "mixed_sizes":  # two slices of one series, 128x128 and 64x64
        for i, size in enumerate((128, 64)):
            ds = pydicom.dcmread(_pydicom_file("CT_small.dcm"))
            arr = ds.pixel_array[:size, :size].copy()
            ds.Rows, ds.Columns = size, size
            ds.PixelData = arr.tobytes()
            ds.ImagePositionPatient = [0.0, 0.0, float(i) * 5.0]
            ds.InstanceNumber = i + 1
            ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
            ds.save_as(src / f"slice{i}.dcm")
        return "ct", "scans", "mixed sizes"
    if kind in ("nan", "inf"):
        arr = np.full((64, 64), 100.0, np.float32)
        arr[10, 10] = np.nan if kind == "nan" else np.inf
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((1.0, 1.0))
        sitk.WriteImage(img, str(src / "scan.nii.gz"))
        return "mri", "scan.nii.gz", "NaN or inf"
    if kind == "one_pixel":
        Image.fromarray(np.full((1, 1), 128, np.uint8)).save(src / "dot.png")
        return "xray", "dot.png", "too small"
    if kind == "rgb_for_ct":
        Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(src / "photo.png")
        return "ct", "photo.png", "Hounsfield"
    if kind == "modality_mismatch":  # a real CT slice in a source configured as MRI
        shutil.copy(_pydicom_file("CT_small.dcm"), src / "slice.dcm")
        return "mri", "slice.dcm", "DICOM Modality CT contradicts the configured modality 'mri'"
    if kind == "uncalibrated_ct":  # CT without RescaleSlope/RescaleIntercept
        ds = pydicom.dcmread(_pydicom_file("CT_small.dcm"))
        del ds.RescaleSlope, ds.RescaleIntercept
        ds.SeriesInstanceUID, ds.SOPInstanceUID = f"{ds.SeriesInstanceUID}.9", f"{ds.SOPInstanceUID}.9"
        ds.save_as(src / "raw.dcm")
        return "ct", "raw.dcm", "ct_rescale"
    if kind == "missing_slice":  # slices 5 mm apart, the third one missing
        for i in (0, 1, 3, 4):
            ds = pydicom.dcmread(_pydicom_file("CT_small.dcm"))
            ds.ImagePositionPatient = [0.0, 0.0, float(i) * 5.0]
            ds.InstanceNumber = i + 1
            ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
            ds.save_as(src / f"slice{i}.dcm")
        return "ct", "slice1.dcm", "1 missing slice(s) between"
    if kind == "too_large":
        Image.fromarray(np.zeros((4000, 4000), np.uint8)).save(src / "huge.png")
        return "xray", "huge.png", "too large for the configured memory"
    raise AssertionError(kind)


BAD_INPUTS = ["truncated", "corrupt", "non_image", "empty", "mixed_sizes", "nan", "inf", "one_pixel", "rgb_for_ct",
              "too_large", "modality_mismatch", "uncalibrated_ct", "missing_slice"]


#: A real file of each modality (its DICOM Modality tag must fit the configured modality).
GOOD_FILE = {"ct": "CT_small.dcm", "mri": "MR_small.dcm", "xray": "dicomdirtests/77654033/CR1/6154",
             "us": "examples_palette.dcm"}


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_fails_cleanly_naming_the_file(tmp_path, kind):
    src = tmp_path / "scans"
    src.mkdir()
    modality, culprit, message = _write_bad_input(src, kind)
    if kind not in ("empty", "mixed_sizes", "missing_slice", "modality_mismatch"):
        # a good file beside the bad one: the bad one still stops the run
        shutil.copy(_pydicom_file(GOOD_FILE[modality]), src / "good.dcm")
    before = sha256_tree(src)
    work = tmp_path / "work"
    work.mkdir()
    # a stray non-image file found by a folder scan is skipped (real exports carry READMEs and
    # DICOMDIRs); one that is named explicitly must be refused
    path = src / "notes.txt" if kind == "non_image" else src
    cfg = _bad_config(tmp_path, {"mine": {"modality": modality, "path": str(path)}})
    extra = ("--set-resources", "ingest:mem_mb=500") if kind == "too_large" else ()
    # only the ingestion of the bad source is asked for: the rest of the DAG is not the point here
    proc = snakemake(work, cfg, f"results/data/mine/{modality}/test", extra=extra)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert culprit in out and message in out, out[-3000:]
    data = work / "results" / "data"
    assert not data.exists() or not any(p for p in data.rglob("*") if p.is_file()), "partial outputs left behind"
    assert sha256_tree(src) == before


def test_ingest_report_lists_every_file_and_the_report_table_names_each_skip(tmp_path):
    """A clinical-style export through the workflow: the image series goes in, an RT Dose and a
    structured report are excluded by class, an unreadable file is skipped (on_unreadable: skip); the
    per-source CSV lists every file and the HTML report's ingest table names the skipped one."""
    import csv

    src = tmp_path / "export"
    src.mkdir()
    shutil.copy(_pydicom_file("CT_small.dcm"), src / "ct.dcm")
    shutil.copy(_pydicom_file("rtdose.dcm"), src / "dose.dcm")
    shutil.copy(_pydicom_file("test-SR.dcm"), src / "report.dcm")
    (src / "broken.dcm").write_bytes(_pydicom_file("CT_small.dcm").read_bytes()[:20000])
    before = sha256_tree(src)
    cfg = _bad_config(tmp_path, {"mine": {"modality": "ct", "path": str(src), "on_unreadable": "skip"}})
    work = tmp_path / "work"
    work.mkdir()
    proc = snakemake(work, cfg, "results/tables/ingest.md")
    assert proc.returncode == 0, (proc.stderr + proc.stdout)[-3000:]
    with open(work / "results/data/mine/ct/ingest_report.csv", newline="") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    assert {f: r["outcome"] for f, r in rows.items()} == {
        "ct.dcm": "ingested", "dose.dcm": "excluded", "report.dcm": "excluded", "broken.dcm": "skipped"}
    assert rows["dose.dcm"]["reason"].startswith("RT Dose Storage")
    table = (work / "results/tables/ingest.md").read_text()
    assert "broken.dcm (" in table and "file cut short" in table
    assert "RT Dose Storage (Modality RTDOSE) x1" in table and "Comprehensive SR Storage (Modality SR) x1" in table
    assert sha256_tree(src) == before


@pytest.mark.parametrize(
    "patch, key",
    [({"degrade": {"parameters": {"ct": {"low_dose": {"severe": {"incident_photons": -5}}}}}},
      "degrade.parameters.ct.low_dose.severe"),
     ({"degrade": {"parameters": {"mri": {"rician_noise": {"mild": {"sigma": 0}}}}}},
      "degrade.parameters.mri.rician_noise.mild"),
     ({"degrade": {"parameters": {"xray": {"quantum_noise": {"moderate": {"photons_per_pixel": 0}}}}}},
      "degrade.parameters.xray.quantum_noise.moderate")],
)
def test_impossible_noise_and_dose_values_stop_the_run_naming_the_key(tmp_path, patch, key):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["degrade"].update(patch["degrade"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, path, extra=("-n",))
    assert proc.returncode != 0
    assert key in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "patch, key",
    [({"synthesis": {"size": "big"}}, "synthesis.size"), ({"sed": 3}, "sed"),
     ({"modalities": ["ct", "pet"]}, "modalities[1]"),
     ({"inputs": {"scans": {"modality": "pet", "path": "x"}}}, "inputs.scans.modality"),
     ({"restore": {"denoise": {"methods": ["bm4d"]}}}, "restore.denoise.methods"),
     ({"restore": {"training": {"epochs": "many"}}}, "restore.training.epochs")],
)
def test_config_mistakes_stop_the_run_naming_the_key(tmp_path, patch, key):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg.update(patch)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, path, extra=("-n",))
    assert proc.returncode != 0
    assert key in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()

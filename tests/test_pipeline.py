"""End to end: the real Snakefile on the tiny config, and bad input through the whole pipeline."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, TINY_CONFIG, sha256_tree
from mira.dataset import Dataset

pytestmark = pytest.mark.e2e


def snakemake(workdir: Path, configfile: Path, *targets: str, cores: int = 2, extra=()) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` with ``configfile`` only (no config.yaml merge)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--cores", str(cores), "--nolock", *extra, *targets]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    proc = snakemake(work, TINY_CONFIG)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return work


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
    for f in figs:
        assert (tiny_run / "results" / "figures" / "overview" / f).stat().st_size > 5000


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


@pytest.mark.parametrize("kind", ["truncated", "corrupt", "non_image", "empty"])
def test_bad_input_fails_cleanly_naming_the_file(tmp_path, kind):
    src = tmp_path / "scans"
    src.mkdir()
    if kind == "truncated":
        shutil.copy(_pydicom_file("MR_truncated.dcm"), src / "MR_truncated.dcm")
        culprit = "MR_truncated.dcm"
    elif kind == "corrupt":
        (src / "slice1.dcm").write_bytes(b"\x00" * 128 + b"DICM" + os.urandom(300))
        culprit = "slice1.dcm"
    elif kind == "non_image":
        (src / "notes.txt").write_text("this is not an image\n")
        culprit = "notes.txt"
    else:
        culprit = str(src.name)
    shutil.copy(_pydicom_file("CT_small.dcm"), src / "good.dcm") if kind != "empty" else None
    before = sha256_tree(src)
    work = tmp_path / "work"
    work.mkdir()
    # a stray non-image file found by a folder scan is skipped (real exports carry READMEs and
    # DICOMDIRs); one that is named explicitly must be refused
    path = src / "notes.txt" if kind == "non_image" else src
    cfg = _bad_config(tmp_path, {"mine": {"modality": "ct" if kind != "truncated" else "mri", "path": str(path)}})
    # only the ingestion of the bad source is asked for: the rest of the DAG is not the point here
    proc = snakemake(work, cfg, "results/data/mine/" + ("mri" if kind == "truncated" else "ct") + "/test")
    assert proc.returncode != 0
    assert culprit in proc.stderr + proc.stdout
    data = work / "results" / "data"
    assert not data.exists() or not any(data.rglob("*.nii.gz")), "partial outputs left behind"
    assert sha256_tree(src) == before


@pytest.mark.parametrize(
    "patch, key",
    [({"synthesis": {"size": "big"}}, "synthesis.size"), ({"sed": 3}, "sed"), ({"modalities": ["ct", "pet"]}, "modalities[1]")],
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

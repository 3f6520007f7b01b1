"""Ingestion speed of a normal folder: what the integrity checks (issue 13) cost.

Builds, in a temporary folder, a clinical-style export from pydicom's real CT_small slice: a CT series
of ``--slices`` slices (one file each, shuffled names, with an RT Dose and a structured report beside
it), the same volume as a gzip-compressed NIfTI, and times :func:`mira.ingest.ingest_source` on
each (median of ``--repeats`` runs, one process, written to a temporary results folder). Prints a
table: source, files, voxels, median seconds, MB/s of decoded voxels.

    python benchmarks/ingest_speed.py [--slices 200] [--repeats 3]

Run it at two commits to compare (the note of issue 13 gives the figures measured).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _make_export(root: Path, slices: int) -> tuple[Path, Path]:
    import pydicom
    import SimpleITK as sitk
    from pydicom.uid import generate_uid

    from mira.ingest import pydicom_test_files

    files = pydicom_test_files()
    base = pydicom.dcmread(files / "CT_small.dcm")
    series = root / "export" / "CT"
    series.mkdir(parents=True)
    uid = generate_uid()
    origin = np.array([float(v) for v in base.ImagePositionPatient])
    volume = []
    for k in range(slices):
        ds = pydicom.dcmread(files / "CT_small.dcm")
        arr = np.roll(base.pixel_array, 3 * k, axis=0)
        ds.PixelData = arr.tobytes()
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + [0.0, 0.0, 2.5 * k]]
        ds.save_as(series / f"IM{(k * 7919) % 100003:06d}")
        volume.append(arr * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    shutil.copy(files / "rtdose.dcm", root / "export" / "RTDOSE.dcm")
    shutil.copy(files / "test-SR.dcm", root / "export" / "REPORT.dcm")
    nifti = root / "nifti" / "ct.nii.gz"
    nifti.parent.mkdir()
    img = sitk.GetImageFromArray(np.stack(volume).astype(np.int16))
    img.SetSpacing((0.66, 0.66, 2.5))
    sitk.WriteImage(img, str(nifti), useCompression=True)
    return root / "export", nifti


def _time(spec: dict, out: Path, repeats: int) -> float:
    import inspect

    from mira.ingest import ingest_source

    with_report = "report_path" in inspect.signature(ingest_source).parameters  # older commits: no report
    times = []
    for i in range(repeats):
        dirs = {s: out / f"r{i}" / s for s in ("train", "val", "test")}
        extra = {"report_path": out / f"r{i}" / "report.csv"} if with_report else {}
        t0 = time.perf_counter()
        ingest_source("bench", spec, dirs, seed=1, mem_mb=8000, **extra)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200, help="slices of the CT series (128 x 128 each)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per source (median reported)")
    args = parser.parse_args(argv)
    if args.slices < 2 or args.repeats < 1:
        parser.error("--slices must be at least 2 and --repeats at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export, nifti = _make_export(root, args.slices)
        voxels = args.slices * 128 * 128
        rows = []
        for name, spec, n_files in (
            ("DICOM series + RT Dose + SR", {"modality": "ct", "path": str(export)}, args.slices + 2),
            ("NIfTI .nii.gz volume", {"modality": "ct", "path": str(nifti)}, 1),
        ):
            sec = _time(spec, root / "out" / name.split()[0], args.repeats)
            rows.append((name, n_files, voxels, sec, voxels * 4 / 1e6 / sec))
    print(f"| source | files | voxels | median s ({args.repeats} runs) | MB/s (float32 voxels) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, n_files, vox, sec, rate in rows:
        print(f"| {name} | {n_files} | {vox:,} | {sec:.2f} | {rate:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

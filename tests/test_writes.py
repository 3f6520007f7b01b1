"""Writes fail loudly: a short write (disk full, quota, file size limit) is an OutputError naming the path.

The short writes here are real: a child process lowers its file size limit (``RLIMIT_FSIZE``, with
``SIGXFSZ`` ignored so that ``write()`` fails with ``EFBIG`` instead of killing it) and then writes,
exactly as a full disk would cut the file. Nothing partial may be left: neither the final file nor
the temporary sibling (``.<stem>.<random>.tmp<suffix>``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mira.atomic import atomic_dir, atomic_path, write_text
from mira.errors import OutputError
from mira.io import read_image, read_label, write_image, write_label

#: Prologue of every child: set the limit only after the imports (``.pyc`` writes stay unaffected).
_LIMIT = """
import resource, signal, sys
def limit(n):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
"""

#: Bytes of float32 voxels of the noisy 64 x 256 x 256 test volume.
VOLUME_BYTES = 64 * 256 * 256 * 4


def _child(code: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    script = _LIMIT + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


_WRITE_IMAGE = """
import numpy as np
from mira.errors import MiraError
from mira.io import write_image, write_label
arr = np.random.default_rng(0).normal(size=(64, 256, 256)).astype(np.float32)
labels = np.random.default_rng(1).integers(0, 256, size=(64, 256, 256)).astype(np.uint8)
limit(int(sys.argv[2]))
try:
    if sys.argv[3] == "image":
        write_image(sys.argv[1], arr, (2.0, 0.5, 0.5))
    else:
        write_label(sys.argv[1], labels, (2.0, 0.5, 0.5))
except MiraError as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(3)
"""


@pytest.mark.parametrize("suffix,limit,kind,reason", [
    (".nii.gz", 100_000, "image", "truncated NIfTI: header says 256x256x64 float32 voxels (16777216 bytes) but the "
                                  "file holds only "),
    (".nii", 100_000, "image", "truncated NIfTI: header says 256x256x64 float32 voxels (16777216 bytes) but the "
                               "file holds only 99648 bytes of voxel data;"),
    (".nii", 300, "image", "truncated NIfTI: the file holds only 300 bytes, less than its 348-byte header;"),
    (".nii.gz", 30, "image", "truncated NIfTI: the gzip stream ends within the header"),
    (".nii.gz", 100_000, "label", "truncated NIfTI: header says 256x256x64 uint8 voxels (4194304 bytes) but the "
                                  "file holds only "),
])
def test_short_write_is_an_output_error_and_leaves_nothing(tmp_path, suffix, limit, kind, reason):
    out = tmp_path / "results" / f"case{suffix}"
    proc = _child(_WRITE_IMAGE, out, limit, kind)
    assert proc.returncode == 3, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("OutputError: ")]
    assert len(lines) == 1, proc.stderr[-3000:]
    prefix = f"OutputError: {out}: cannot write (the written file is incomplete: "
    assert lines[0].startswith(prefix + reason), lines[0]
    assert lines[0].endswith("; disk full or file size limit?)"), lines[0]
    assert "Traceback" not in proc.stderr
    assert list((tmp_path / "results").iterdir()) == []  # neither case.nii(.gz) nor .case.*.tmp.nii(.gz)


def test_simpleitk_itself_returns_normally_after_a_short_write(tmp_path):
    """Why the check exists: under the limit SimpleITK's NIfTI writer neither raises nor fails; it
    prints nifticlib's "wrote only ... bytes" on stderr and leaves a short file that reads back zero-filled."""
    out = tmp_path / "raw.nii"
    proc = _child("""
        import numpy as np, SimpleITK as sitk
        arr = np.random.default_rng(0).normal(size=(64, 256, 256)).astype(np.float32)
        img = sitk.GetImageFromArray(arr)
        limit(100_000)
        sitk.WriteImage(img, sys.argv[1])
        print("returned normally")
    """, out)
    assert proc.returncode == 0 and "returned normally" in proc.stdout, proc.stderr[-2000:]
    assert "wrote only" in proc.stderr
    assert out.stat().st_size == 100_000
    from mira.nifti_file import nifti_problem

    assert nifti_problem(out) == ("truncated NIfTI: header says 256x256x64 float32 voxels (16777216 bytes) but the "
                                  "file holds only 99648 bytes of voxel data")


def test_complete_writes_still_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    vol = rng.normal(size=(6, 20, 24)).astype(np.float32)
    lab = rng.integers(0, 4, size=(6, 20, 24)).astype(np.uint8)
    for name in ("img.nii.gz", "img.nii", "img.mha"):
        write_image(tmp_path / name, vol, (2.0, 0.5, 0.25))
        arr, spacing = read_image(tmp_path / name)
        np.testing.assert_array_equal(arr, vol)
        assert spacing == pytest.approx((2.0, 0.5, 0.25))
    write_label(tmp_path / "lab.nii.gz", lab, (2.0, 0.5, 0.25))
    np.testing.assert_array_equal(read_label(tmp_path / "lab.nii.gz")[0], lab)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.mha", "img.nii", "img.nii.gz", "lab.nii.gz"]


def test_simpleitk_writer_error_is_an_output_error(tmp_path):
    out = tmp_path / "img.unknownformat"
    with pytest.raises(OutputError) as info:
        write_image(out, np.zeros((4, 8, 8), np.float32), (1.0, 1.0, 1.0))
    assert str(info.value).startswith(f"{out}: cannot write (")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["text", "torch"])
def test_write_text_and_torch_under_a_file_size_limit(tmp_path, what):
    out = tmp_path / "results" / ("table.csv" if what == "text" else "model.pt")
    proc = _child("""
        from mira.atomic import write_text, write_torch
        from mira.errors import MiraError
        if sys.argv[2] == "torch":
            import torch
            obj = {"w": torch.arange(100_000, dtype=torch.float32)}
        limit(20_000)
        try:
            if sys.argv[2] == "text":
                write_text(sys.argv[1], "x,y\\n" + "1.2345,6.789\\n" * 20_000)
            else:
                write_torch(sys.argv[1], obj)
        except MiraError as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            sys.exit(3)
    """, out, what)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert proc.stderr.strip() == f"OutputError: {out}: cannot write (File too large)"
    assert list((tmp_path / "results").iterdir()) == []


def test_rename_onto_a_folder_is_an_output_error(tmp_path):
    target = tmp_path / "table.csv"
    (target / "inside").mkdir(parents=True)  # a non-empty folder where the file should go
    with pytest.raises(OutputError) as info:
        write_text(target, "a,b\n")
    assert str(info.value) == f"{target}: cannot write (Is a directory)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"] and target.is_dir()


def test_atomic_path_and_dir_name_the_output_when_its_folder_cannot_exist(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where a folder should be\n")
    with pytest.raises(OutputError) as info:
        with atomic_path(blocker / "x.csv"):
            raise AssertionError("the block must not run")
    assert str(info.value) == f"{blocker / 'x.csv'}: cannot write (File exists)"
    with pytest.raises(OutputError) as info:
        with atomic_dir(blocker / "data"):
            raise AssertionError("the block must not run")
    assert str(info.value) == f"{blocker / 'data'}: cannot write (File exists)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_atomic_dir_rename_failure_is_an_output_error_and_leaves_no_temporary(tmp_path):
    final = tmp_path / "dataset"
    final.write_text("a file where the folder should go\n")
    with pytest.raises(OutputError) as info:
        with atomic_dir(final) as tmp:
            (tmp / "manifest.csv").write_text("case_id\n")
    assert str(info.value) == f"{final}: cannot write (Not a directory)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"] and final.is_file()


_RUN_SCRIPT = """
import types
from mira.cli import run_script

def main(smk, log):
    kind = sys.argv[3]
    if kind == "pandas":
        import numpy as np, pandas as pd
        frame = pd.DataFrame(np.random.default_rng(0).normal(size=(5000, 4)))
        limit(20_000)
        frame.to_csv(smk.output[0])
    elif kind == "missing":
        open(sys.argv[4], "rb")
    elif kind == "ingest":
        from pathlib import Path
        from mira.ingest import ingest_source
        d = Path(smk.output[0])
        limit(int(sys.argv[4]))
        ingest_source("ct_small", {"modality": "ct", "path": "pydicom:", "include": ["CT_small.dcm"]},
                      {"train": d / "train", "val": d / "val", "test": d / "test"}, seed=1)

run_script(types.SimpleNamespace(log=[sys.argv[1]], output=[sys.argv[2]], threads=1, rule="demo"), main)
"""


def _mira_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("mira: error:")]


def test_run_script_reports_an_escaping_os_error_in_one_line(tmp_path):
    log, out = tmp_path / "logs" / "demo.log", tmp_path / "results" / "table.csv"
    out.parent.mkdir()
    proc = _child(_RUN_SCRIPT, log, out, "pandas")
    assert proc.returncode == 1
    assert _mira_lines(proc.stderr) == [f"mira: error: rule demo (output {out}): File too large"]
    assert "Traceback" not in proc.stderr
    text = log.read_text()
    assert "Traceback" in text and "File too large" in text  # the details stay in the job's log

    missing = tmp_path / "nowhere" / "input.csv"
    proc = _child(_RUN_SCRIPT, log, out, "missing", missing)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"mira: error: {missing}: No such file or directory"


def test_ingest_under_a_file_size_limit_fails_in_one_line_and_leaves_no_dataset(tmp_path):
    log, out = tmp_path / "logs" / "ingest.log", tmp_path / "results" / "data"
    proc = _child(_RUN_SCRIPT, log, out, "ingest", 4000)
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = _mira_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("mira: error: ") and "/images/" in lines[0] and ".nii.gz: cannot write (" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()  # no split folder, no temporary, no parent left
    assert "cannot write" in log.read_text()

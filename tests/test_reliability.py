"""Scale-out and reliability: job isolation through a cluster executor, byte-identical reruns,
--cores 1 against --cores 2, SIGKILL in the middle of training and of aggregation, then resume.

The three complete runs compared here use the tiny config restricted to CT (every rule still runs);
the shared four-modality tiny run is checked for the same rule set."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, TINY_CONFIG, run_snakemake, shared_run
from mira.reproducibility import canonical_bytes, compare_trees

pytestmark = pytest.mark.e2e

SUBMIT = REPO / "tests" / "cluster" / "local_submit.sh"


def ct_only_config(path: Path) -> Path:
    """The tiny config restricted to CT (2D and 3D phantoms and one DICOM input): every rule of the DAG
    still runs, with a quarter of the jobs, so three complete runs fit in CI."""
    import yaml

    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["modalities"] = ["ct"]
    cfg["synthesis"]["volumes"]["modalities"] = ["ct"]
    cfg["inputs"] = {k: v for k, v in cfg["inputs"].items() if v["modality"] == "ct"}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def ct_config(tmp_path_factory, worker_id) -> Path:
    return shared_run(tmp_path_factory, worker_id, "ct_config", lambda d: ct_only_config(d / "tiny_ct.yaml")) / "tiny_ct.yaml"


@pytest.fixture(scope="session")
def ct_run(tmp_path_factory, worker_id, ct_config) -> Path:
    """The reference: the CT-only tiny DAG, run locally with --cores 2 (once per session)."""
    def make(work):
        proc = run_snakemake(work, configfile=ct_config, cores=2)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    return shared_run(tmp_path_factory, worker_id, "ct_run", make)


def _rules_of(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", text)
    return {m.group(1): b for b in blocks if (m := re.match(r"(?:local)?rule (\w+):", b))}


def test_every_job_rule_declares_log_benchmark_threads_and_resources():
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        rules.update(_rules_of(smk))
    jobs = {name: body for name, body in rules.items() if re.search(r"^\s+(script|shell|run):", body, re.M)}
    assert len(jobs) >= 30
    for name, body in jobs.items():
        for key in ("log:", "benchmark:", "threads:", "resources:", "mem_mb=", "runtime="):
            assert key in body, f"rule {name} lacks {key}"


def test_slurm_profile_dry_run(tmp_path):
    """The SLURM profile parses and plans the whole DAG without a scheduler (dry run)."""
    proc = run_snakemake(tmp_path, "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"), "-n",
                         cores=None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "train_restorer" in out and "evaluate_findings" in out
    assert not (tmp_path / "results").exists()


def test_comparison_ignores_timings_only(tmp_path):
    """The byte comparison drops wall/CPU seconds and nothing else (so it can fail)."""
    a, b = tmp_path / "a", tmp_path / "b"
    for root, wall, psnr in ((a, "1.5", "30.1"), (b, "9.25", "30.1")):
        (root / "tables").mkdir(parents=True)
        (root / "tables" / "t.csv").write_text(f"method,psnr,wall_s\nbm3d,{psnr},{wall}\n")
        (root / "tables" / "m.json").write_text(f'{{"epochs": 3, "wall_time_s": {wall}}}')
        (root / "tables" / "t.md").write_text(f"| method | PSNR | CPU s/image | time (ms) |\n| --- | ---: | ---: | ---: |\n"
                                              f"| bm3d | {psnr} | {wall} | {wall} |\n")
    assert compare_trees(a, b) == []
    (b / "tables" / "t.csv").write_text("method,psnr,wall_s\nbm3d,30.2,9.25\n")
    assert compare_trees(a, b) == [f"differs: {Path('tables') / 't.csv'}"]
    (b / "tables" / "t.md").write_text("| method | PSNR | CPU s/image | time (ms) |\n| --- | ---: | ---: | ---: |\n| bm3d | 30.2 | 1 | 1 |\n")
    assert len(compare_trees(a, b)) == 2
    assert b"9.25" not in canonical_bytes(b / "tables" / "m.json")


def test_ct_only_dag_still_runs_every_rule(ct_run):
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        rules.update(_rules_of(smk))
    jobs = {name for name, body in rules.items() if re.search(r"^\s+(script|shell|run):", body, re.M)}
    assert {p.name for p in (ct_run / "results" / "benchmarks").iterdir()} == jobs


def test_cluster_executor_gives_the_local_results(ct_run, ct_config, tmp_path):
    """Every job through the cluster-generic executor, each a detached process with a scrubbed
    environment started from another folder (a stand-in scheduler): same bytes as the local run."""
    work = tmp_path / "cluster"
    work.mkdir()
    proc = run_snakemake(work, "--executor", "cluster-generic", "--cluster-generic-submit-cmd", str(SUBMIT),
                         "--jobs", "2", "--latency-wait", "30", "--seconds-between-status-checks", "1", configfile=ct_config, cores=None, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert "cluster-generic" in proc.stdout + proc.stderr
    diffs = compare_trees(ct_run / "results", work / "results")
    assert diffs == [], diffs[:20]


def _start(work: Path, config: Path, cores: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(config), "--cores", str(cores)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            env={**os.environ, "MPLBACKEND": "Agg"}, start_new_session=True)


def _kill_when(proc: subprocess.Popen, started: Path, done: Path, timeout: float = 900) -> bool:
    """SIGKILL the whole run (Snakemake and its jobs) once ``started`` exists and ``done`` does not."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if started.exists() and not done.exists():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{started} never appeared")


def _half_written(results: Path) -> list[Path]:
    return [p for p in results.rglob(".*") if re.search(r"\.[A-Za-z0-9_]{8}\.tmp", p.name)]


def test_sigkill_during_training_and_aggregation_then_resume_with_one_core(ct_run, ct_config, tmp_path):
    """--cores 1, killed with SIGKILL while a network trains and again while a table is aggregated,
    then rerun as a user would (unlock, run): the same bytes as the uninterrupted --cores 2 run."""
    work = tmp_path / "killed"
    work.mkdir()
    res = work / "results"
    training = _kill_when(_start(work, ct_config, 1), res / "logs" / "train_restorer" / "dncnn_ct.log",
                          res / "models" / "dncnn" / "ct" / "history.csv")
    assert training, "the run ended before the kill"
    assert not (res / "models" / "dncnn" / "ct" / "model.pt").exists(), "a half-trained model looks finished"
    # a rerun first needs the stale lock removed (Snakemake cannot tell that its holder is dead)
    assert run_snakemake(work, "--unlock", configfile=ct_config, cores=None, nolock=False).returncode == 0
    aggregation = _kill_when(_start(work, ct_config, 1), res / "logs" / "restore_tables" / "restore_tables.log",
                             res / "tables" / "restore_models.md")
    assert aggregation, "the run ended before the second kill"
    assert run_snakemake(work, "--unlock", configfile=ct_config, cores=None, nolock=False).returncode == 0
    proc = run_snakemake(work, configfile=ct_config, cores=1, timeout=1500, nolock=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert _half_written(res) == []
    diffs = compare_trees(ct_run / "results", res)
    assert diffs == [], diffs[:20]

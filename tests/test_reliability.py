"""Scale-out and reliability: job isolation through a cluster executor, byte-identical reruns,
--cores 1 against --cores 2, SIGKILL in the middle of training and of aggregation, then resume.

The runs compared here use the tiny config restricted to CT (``ct_run`` in conftest.py; every rule
still runs)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_snakemake
from mira.reproducibility import canonical_bytes, compare_trees

pytestmark = pytest.mark.e2e

SUBMIT = REPO / "tests" / "cluster" / "local_submit.sh"


def _rules_of(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", text)
    return {m.group(1): b for b in blocks if (m := re.match(r"(?:local)?rule (\w+):", b))}


def test_every_job_rule_declares_log_and_benchmark_and_the_profiles_the_default_resources():
    """Threads and resources default in the profiles (the same in each); a rule declares only more."""
    import yaml

    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        rules.update(_rules_of(smk))
    jobs = {name: body for name, body in rules.items() if re.search(r"^\s+(script|shell|run):", body, re.M)}
    assert len(jobs) >= 30
    for name, body in jobs.items():
        for key in ("log:", "benchmark:"):
            assert key in body, f"rule {name} lacks {key}"
    defaults = [yaml.safe_load((REPO / "profiles" / p / "config.yaml").read_text())["default-resources"]
                for p in ("default", "slurm", "figures")]
    assert defaults[0].keys() >= {"mem_mb", "runtime"} and all(d == defaults[0] for d in defaults)


def test_slurm_profile_dry_run(tmp_path):
    """The SLURM profile parses and plans the whole DAG without a scheduler (dry run)."""
    proc = run_snakemake(tmp_path, "--workflow-profile", str(REPO / "profiles" / "slurm"), "-n",
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
        (root / "tables" / "t.md").write_text("| method | PSNR | CPU s/image | time (ms) |\n"
                                              "| --- | ---: | ---: | ---: |\n"
                                              f"| bm3d | {psnr} | {wall} | {wall} |\n")
    assert compare_trees(a, b) == []
    (b / "tables" / "t.csv").write_text("method,psnr,wall_s\nbm3d,30.2,9.25\n")
    assert compare_trees(a, b) == [f"differs: {Path('tables') / 't.csv'}"]
    (b / "tables" / "t.md").write_text("| method | PSNR | CPU s/image | time (ms) |\n| --- | ---: | ---: | ---: |\n"
                                       "| bm3d | 30.2 | 1 | 1 |\n")
    assert len(compare_trees(a, b)) == 2
    assert b"9.25" not in canonical_bytes(b / "tables" / "m.json")


def test_ct_only_dag_still_runs_every_rule(ct_run):
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        rules.update(_rules_of(smk))
    jobs = {name for name, body in rules.items() if re.search(r"^\s+(script|shell|run):", body, re.M)}
    assert {p.name for p in (ct_run / "results" / "benchmarks").iterdir()} == jobs


def test_cluster_executor_gives_the_local_results(ct_run, ct_config, tmp_path):
    """Network training and everything after it (deep restoration, the task study, every table, the
    figure group and the findings) through the cluster-generic executor with the SLURM profile's
    settings, each job a detached process with a scrubbed environment started from another folder (a
    stand-in scheduler): same bytes as the local run. (The jobs before training are copied from the
    local run, as in the kill-and-resume test below: CI has no time for a second complete run.)"""
    work = tmp_path / "cluster"
    shutil.copytree(ct_run, work, symlinks=True)
    planned = _files_from(work, ct_config, "train_restorer")
    assert len(planned["output"]) >= 25, planned["output"]
    for p in planned["output"] + planned["log"] + planned["benchmark"]:
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    proc = run_snakemake(work, "--workflow-profile", str(REPO / "profiles" / "slurm"),
                         "--executor", "cluster-generic", "--cluster-generic-submit-cmd", str(SUBMIT),
                         "--jobs", "2", "--latency-wait", "30", "--seconds-between-status-checks", "1",
                         configfile=ct_config, cores=None, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    log = proc.stdout + proc.stderr
    assert "cluster-generic" in log and "Group job figures" in log
    assert all(p.exists() for p in planned["output"])
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


def _files_from(work: Path, config: Path, rule: str) -> dict[str, list[Path]]:
    """Outputs, logs and benchmark files of ``rule``'s jobs and of every job downstream of them, as
    Snakemake plans them (the dry run of ``--forcerun rule``)."""
    proc = run_snakemake(work, "-n", "--forcerun", rule, configfile=config, cores=1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[str, set] = {"output": set(), "log": set(), "benchmark": set()}
    for line in (proc.stdout + proc.stderr).splitlines():
        key, _, paths = line.strip().partition(": ")
        if line.startswith("    ") and key in found:
            found[key] |= {work / p.strip() for p in paths.split(",")}
    return {k: sorted(v) for k, v in found.items()}


def test_sigkill_during_training_and_aggregation_then_resume_with_one_core(ct_run, ct_config, tmp_path):
    """Everything from network training on (training, deep restoration and every table and figure
    after them) rerun with --cores 1 on a copy of the --cores 2 run, killed with SIGKILL while a network
    trains and again while a table is aggregated, then rerun as a user would (unlock, run): the same
    bytes as the uninterrupted --cores 2 run. (The jobs before training are copied: CI has no time
    for another complete run; the CT-only and four-modality runs run them.)"""
    work = tmp_path / "killed"
    shutil.copytree(ct_run, work, symlinks=True)
    planned = _files_from(work, ct_config, "train_restorer")
    redo = planned["output"]
    assert len(redo) >= 25 and all(p.exists() for p in redo), redo
    assert {p.relative_to(work).parts[1] for p in redo} >= {"models", "restored", "tables", "figures"}
    for p in redo + planned["log"] + planned["benchmark"]:
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
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
    assert all(p.exists() for p in redo)
    diffs = compare_trees(ct_run / "results", res)
    assert diffs == [], diffs[:20]


def test_scaling_report_from_stored_settings(tmp_path):
    """The scaling benchmark stores one JSON per setting and reports ratios only between measured ones."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("scaling", REPO / "benchmarks" / "scaling.py")
    scaling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scaling)
    for factor, cores, wall, rules in ((1, 2, 600.0, {"train": 500.0, "degrade": 100.0}),
                                       (1, 1, 900.0, {"train": 700.0, "degrade": 200.0}),
                                       (2, 2, 840.0, {"train": 520.0, "degrade": 210.0})):
        rec = {"factor": factor, "cores": cores, "wall_s": wall, "job_s": sum(rules.values()), "jobs": 10,
               "rules": rules, "load_before": [0.1, 0.1, 0.1]}
        (tmp_path / f"x{factor}_cores{cores}.json").write_text(json.dumps(rec))
    text = scaling.report(scaling.load_results(tmp_path), "cfg.yaml", [1, 2], [1, 2], top=2)
    assert "speed-up of --cores 2 over --cores 1 at 1x cases: 1.50" in text
    assert "wall time of 2x cases over 1x cases at --cores 2: 1.40 (job time 1.22)" in text
    assert "at 2x cases:" not in text and "at --cores 1:" not in text   # (2x, cores 1) is missing
    assert text.count("not measured") == 1
    assert "| train " in text and "520 s (71 %)" in text
    with pytest.raises(SystemExit, match="no-such.yaml: no such file"):
        scaling.main(["--config", str(tmp_path / "no-such.yaml"), "--results", str(tmp_path)])
    for bad in (["--cores", "0"], ["--factors", "-1"], ["--factors", "two"]):
        with pytest.raises(SystemExit) as exc:
            scaling.main([*bad, "--results", str(tmp_path)])
        assert exc.value.code == 2 and not (tmp_path / "x0_cores1.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x1_cores1.json", "x1_cores2.json", "x2_cores2.json"]
    cfg = scaling.scaled_config({"synthesis": {"cases": {"train": 4, "val": 2, "test": 2}}}, 2)
    assert cfg["synthesis"]["cases"] == {"train": 8, "val": 4, "test": 4}

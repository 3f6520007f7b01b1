"""Shared fixtures: repository paths and the tiny end-to-end configuration."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Torch in the test processes runs on one thread: the small networks of the tests run fastest
    so, and three xdist workers share two cores (the workflow's jobs set their own thread counts)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    return TINY_CONFIG


def sha256_tree(folder: Path) -> dict[str, str]:
    """Checksums of every file below ``folder`` (to prove inputs are never modified)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_snakemake(workdir: Path, *args: str, configfile: Path = TINY_CONFIG, cores: int | None = 2,
                  timeout: int = 1200, env: dict | None = None, nolock: bool = True):
    """Run the repository's Snakefile in ``workdir`` with ``configfile`` only (no config.yaml merge).

    ``cores=None`` leaves the core/job count to ``args`` (e.g. an executor's ``--jobs``).
    """
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile)] + (["--nolock"] if nolock else [])
    if cores is not None:
        cmd += ["--cores", str(cores)]
    cmd += list(args)
    full_env = {**os.environ, "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO)


def shared_run(tmp_path_factory, worker_id: str, name: str, make) -> Path:
    """A complete workflow run made once per test session, also under pytest-xdist: the first worker
    that needs it makes it (under a file lock), the others wait for it and reuse it.

    ``make(work)`` runs the workflow in the folder ``work`` and raises if it fails.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent  # the session folder all workers share
    work, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            work.mkdir(exist_ok=True)
            make(work)
            done.write_text("ok\n")
    return work


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, worker_id) -> Path:
    """One complete run of the whole DAG on the tiny config (``--cores 2``), shared by the e2e tests.

    Tests must not change files in it (work on a copy: the figures test does).
    """
    def make(work):
        proc = run_snakemake(work)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    return shared_run(tmp_path_factory, worker_id, "tiny_run", make)




def ct_only_config(path: Path) -> Path:
    """The tiny config restricted to 2D CT (phantoms and one DICOM input): every rule of the DAG still
    runs, with under half the jobs, so the reliability runs (reference, cluster, kill-and-resume) fit
    in CI. The 3D volumes stay in the four-modality tiny run."""
    import yaml

    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["modalities"] = ["ct"]
    cfg["synthesis"]["volumes"]["modalities"] = []
    cfg["inputs"] = {k: v for k, v in cfg["inputs"].items() if v["modality"] == "ct"}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def ct_config(tmp_path_factory, worker_id) -> Path:
    folder = shared_run(tmp_path_factory, worker_id, "ct_config", lambda d: ct_only_config(d / "tiny_ct.yaml"))
    return folder / "tiny_ct.yaml"


@pytest.fixture(scope="session")
def ct_run(tmp_path_factory, worker_id, ct_config) -> Path:
    """The reference: the CT-only tiny DAG, run locally with --cores 2 (once per session).

    Tests must not change files in it (work on a copy)."""
    def make(work):
        proc = run_snakemake(work, configfile=ct_config, cores=2)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    return shared_run(tmp_path_factory, worker_id, "ct_run", make)


# The complete workflow runs dominate the suite. pytest-xdist (`-n 3 --dist worksteal`, see
# pyproject.toml) hands each worker one contiguous chunk of the collected tests, and an idle worker
# steals from the *end* of another's queue. So each chunk starts with its share of the workflow runs
# and fast unit tests fill the tails, where they can be stolen:
#   1. the shared four-modality tiny run (2 cores) and the tests that read it;
#   2. the CT-only reference run (2 cores), then the cluster-executor run;
#   3. the --cores 1 kill-and-resume run and the figures target, both on copies of the CT-only run
#      (this worker waits for it while the other two keep both cores busy).
# With two workers the third head follows the first.
_HEADS = (
    ("*tiny_run",),
    ("test_ct_only_dag_still_runs_every_rule", "test_cluster_executor_gives_the_local_results"),
    ("test_sigkill_during_training_and_aggregation_then_resume_with_one_core",
     "test_figures_target_redraws_figures_without_upstream_jobs"),
)


def _chunk_sizes(n_items: int, n_workers: int) -> list[int]:
    """Sizes of the contiguous chunks xdist's work-stealing scheduler first sends to each worker."""
    sizes, left = [], n_items
    for i in range(n_workers):
        sizes.append(left // (n_workers - i))
        left -= sizes[-1]
    return sizes


def pytest_collection_modifyitems(config, items):
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if workers < 2:
        return

    def head(names):
        picked = []
        for name in names:
            if name == "*tiny_run":
                picked += [i for i in items
                           if "tiny_run" in i.fixturenames and not any(i.originalname in h for h in _HEADS)]
            else:
                picked += [i for i in items if i.originalname == name]
        return picked

    heads = [head(names) for names in _HEADS]
    while len(heads) > workers:  # fewer workers than heads: the last head follows the first
        heads[0] += heads.pop()
    taken = {id(i) for h in heads for i in h}
    rest = [i for i in items if id(i) not in taken]
    ordered = []
    for h, size in zip(heads + [[]] * (workers - len(heads)), _chunk_sizes(len(items), workers)):
        fill = max(0, size - len(h))
        ordered += h + rest[:fill]
        rest = rest[fill:]
    items[:] = ordered + rest

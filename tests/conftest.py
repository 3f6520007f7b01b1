"""Shared fixtures: repository paths and the tiny end-to-end configuration."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"


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

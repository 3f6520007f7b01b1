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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the whole DAG on the tiny config (``--cores 2``), shared by the e2e tests.

    Tests that change files in it must restore them (the figures test redraws what it deletes).
    """
    work = tmp_path_factory.mktemp("tiny")
    proc = run_snakemake(work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return work


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n 2 --dist loadgroup``, the default addopts), every test that needs one
    of the complete workflow runs goes to the worker that makes it, so each run happens once: the
    shared four-modality tiny run on one worker, the CT-only reliability runs on the other, and the
    unit tests fill in around them."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "ct_run" in names:
            item.add_marker(pytest.mark.xdist_group("ct_runs"))
        elif "tiny_run" in names:
            item.add_marker(pytest.mark.xdist_group("tiny_run"))

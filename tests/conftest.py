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

"""Deterministic, hash-based assignment of cases to train/val/test.

Each case draws one uniform number from a generator seeded by ``(seed, "ingest-split", source,
case_id)`` and falls into the split whose cumulative fraction interval contains it. The split of a
case therefore never changes when other files are added to or removed from the source.
"""
from __future__ import annotations

from typing import Mapping

from ..input_spec import SPLITS
from ..seeding import rng_for


def split_uniform(seed: int, source: str, case_id: str) -> float:
    """The case's uniform draw in [0, 1), a pure function of ``(seed, source, case_id)``."""
    return float(rng_for(seed, "ingest-split", source, case_id).random())


def assign_split(seed: int, source: str, case_id: str, fractions: Mapping[str, float]) -> str:
    """Return ``"train"``, ``"val"`` or ``"test"`` for one case.

    Parameters
    ----------
    seed : int
        Global config seed.
    source : str
        Source name (the ``inputs:`` key).
    case_id : str
        The case's base id (all frames of one file share it, so a cine loop never straddles splits).
    fractions : mapping
        Split fractions summing to 1; missing splits count as 0.
    """
    u = split_uniform(seed, source, case_id)
    edge = 0.0
    chosen = None
    for name in SPLITS:
        frac = float(fractions.get(name, 0.0))
        if frac <= 0.0:
            continue
        chosen = name
        edge += frac
        if u < edge:
            return name
    return chosen or "test"  # rounding: u above the last edge goes to the last non-empty split

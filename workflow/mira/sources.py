"""How the configuration names the data sources a restoration network trains on.

Imports nothing heavy: both the config checks (:mod:`mira.config`) and the workflow plan (parsed by
Snakemake for every job) read it.
"""
from __future__ import annotations

from typing import Any


def training_sources(train_source: Any) -> list[tuple[str, float]]:
    """``restore.train_source`` as ``[(source, weight), ...]``.

    A single name is one source of weight 1; a list of ``{source, weight}`` mappings keeps its order
    (weight defaults to 1: equal shares of the training patches).
    """
    if isinstance(train_source, str):
        return [(train_source, 1.0)]
    return [(str(e["source"]), float(e.get("weight", 1.0))) for e in train_source]


#: Names of the synthetic sources (2D phantoms, 3D phantom volumes); every other source is real scans.
SYNTHETIC_2D = "phantom"
SYNTHETIC_3D = "phantom3d"
SYNTHETIC_SOURCES = (SYNTHETIC_2D, SYNTHETIC_3D)


def domain_of(source: str) -> str:
    """``"phantom"`` for a synthetic source, ``"real"`` for a source of real scans (``inputs:``)."""
    return "phantom" if source in SYNTHETIC_SOURCES else "real"

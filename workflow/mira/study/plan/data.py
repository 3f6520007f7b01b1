"""Data stage plan: which datasets the study has, and the synthesis and ingestion jobs that make them."""
from __future__ import annotations

from typing import Any

from ...modalities import MODALITIES
from ...sources import SYNTHETIC_2D, SYNTHETIC_3D
from ..settings import Settings
from . import paths

SPLITS = ("train", "val", "test")


class DataPlan:
    """Datasets of the study: synthetic 2D phantoms, synthetic 3D volumes and the real ``inputs:`` sources.

    Parameters
    ----------
    settings : Settings
        The study settings (validated config).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        study = settings.modalities
        self.volume_modalities = [m for m in settings.synthesis.volumes.modalities if m in study]
        self.synthetic = [(SYNTHETIC_2D, m) for m in study] + [(SYNTHETIC_3D, m) for m in self.volume_modalities]
        self.real = [(name, spec.modality) for name, spec in settings.inputs.items()]
        #: Every (source, modality) pair, in the order of the tables: 2D phantoms, 3D phantoms, real sources.
        self.datasets: list[tuple[str, str]] = self.synthetic + self.real

    @property
    def wildcard_constraints(self) -> dict[str, str]:
        """Global wildcard constraints: a source name (as the schema's ``inputs:`` keys), a modality, a split."""
        return {"source": "[A-Za-z0-9][A-Za-z0-9_-]*", "modality": "|".join(MODALITIES), "split": "|".join(SPLITS)}

    @property
    def synthetic_sources_regex(self) -> str:
        """Wildcard constraint of the synthetic sources."""
        return f"{SYNTHETIC_2D}|{SYNTHETIC_3D}"

    @property
    def input_sources_regex(self) -> str:
        """Wildcard constraint of the configured real-image sources (never matches when there are none)."""
        return "|".join(self.settings.inputs) if len(self.settings.inputs) else "(?!)"

    def sources(self) -> list[str]:
        """Every source name of the study (2D, 3D phantoms, real sources)."""
        return list(dict.fromkeys(s for s, _ in self.datasets))

    @staticmethod
    def splits(source: str, modality: str) -> list[str]:
        """The three split folders of one (source, modality)."""
        return [paths.dataset(source, modality, s) for s in SPLITS]

    def synthesis_shape(self, source: str, split: str) -> dict[str, Any]:
        """Dimensionality, image size, slices and case count of one synthesis job."""
        syn = self.settings.synthesis
        if source == SYNTHETIC_3D:
            vol = syn.volumes
            return dict(ndim=3, size=vol.size, slices=vol.slices, n_cases=vol.cases[split])
        return dict(ndim=2, size=syn.size, slices=None, n_cases=syn.cases[split])

    def ingest_reports(self) -> list[str]:
        """The ingest report of every real-image source."""
        return [paths.ingest_report(s, m) for s, m in self.real]

    def dataset_stats(self) -> list[str]:
        return [paths.dataset_stats(s, m) for s, m in self.datasets]

    def overview_figures(self) -> list[str]:
        return [paths.overview_figure(s, m) for s, m in self.datasets]

    def targets(self) -> list[str]:
        """Final outputs of the data stage."""
        return [paths.DATASETS.csv, paths.DATASETS.md, paths.INGEST.csv, paths.INGEST.md, *self.overview_figures()]

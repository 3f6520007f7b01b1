"""Which degradation jobs the configuration asks for, and where their outputs live (used by degrade.smk).

Kept in the package (not in the rule file) so it is tested like everything else and so later stages
can ask the same object for the paired folders they consume::

    plan = DegradePlan(config, datasets(), "results")
    plan.folder("phantom", "ct", "test", "low_dose", "moderate")
    # -> results/degraded/phantom/ct/test/low_dose/moderate
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from ..errors import ConfigError
from .levels import LEVEL_NAMES
from .registry import SR_NAME, degradations_for, get_model, level_params, sr_levels


class DegradePlan:
    """The degradation stage's jobs for a validated config (``config["degrade"]`` filled with defaults).

    Parameters
    ----------
    config : mapping
        The validated configuration.
    datasets : iterable of (source, modality)
        Every dataset of the study (``datasets()`` of common.smk).
    results : str
        The results folder.

    Raises
    ------
    ConfigError
        Unknown source, or a degradation that does not apply to its modality (message names the key).
    """

    def __init__(self, config: Mapping, datasets: Iterable[tuple[str, str]], results: str = "results"):
        self.cfg = config["degrade"]
        self.results = results
        pairs = list(datasets)
        known = sorted({s for s, _ in pairs})
        unknown = sorted(set(self.cfg["sources"]) - set(known))
        if unknown:
            raise ConfigError(f"config key degrade.sources: unknown source(s) {unknown} (known: {known})")
        self.datasets = [(s, m) for s, m in pairs if s in self.cfg["sources"]]
        self.splits: list[str] = list(self.cfg["splits"])
        self.levels: list[str] = list(self.cfg["levels"])
        self.sr_levels: list[str] = list(sr_levels(self.cfg["sr_scales"]))
        self._names: dict[str, list[str]] = {}
        for _, modality in self.datasets:
            self.names(modality)
        self._check_overrides(self.cfg.get("parameters") or {})

    def names(self, modality: str) -> list[str]:
        """Degradations simulated for ``modality`` (config, default every registered one)."""
        if modality not in self._names:
            chosen = self.cfg["degradations"].get(modality)
            names = list(degradations_for(modality)) if chosen is None else list(chosen)
            for name in names:
                if name == SR_NAME:
                    raise ConfigError(f"config key degrade.degradations.{modality}: '{SR_NAME}' is set by "
                                      "degrade.sr_scales, not listed here")
                try:
                    get_model(name, modality)
                except ConfigError as exc:
                    raise ConfigError(f"config key degrade.degradations.{modality}: {exc}") from None
            self._names[modality] = names
        return self._names[modality]

    @staticmethod
    def _check_overrides(overrides: Mapping) -> None:
        """Every key of degrade.parameters must name a degradation of the modality, a level and known parameters."""
        for modality, per_name in overrides.items():
            for name, per_level in (per_name or {}).items():
                where = f"config key degrade.parameters.{modality}.{name}"
                try:
                    get_model(name, modality)
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
                for level in per_level or {}:
                    if level not in LEVEL_NAMES:
                        raise ConfigError(f"{where}.{level}: unknown level (known: {', '.join(LEVEL_NAMES)})")
                    level_params(name, modality, level, overrides)
                    _trial_run(name, modality, level, overrides, f"{where}.{level}")

    def folder(self, source: str, modality: str, split: str, degradation: str, level: str) -> str:
        """The paired folder of one job (contract: :mod:`mira.degrade.pairs`)."""
        return f"{self.results}/degraded/{source}/{modality}/{split}/{degradation}/{level}"

    def folders(self, source: str, modality: str, split: str) -> list[str]:
        """Every paired folder of a (source, modality, split): each degradation x level, then SR scales."""
        out = [self.folder(source, modality, split, d, lv) for d in self.names(modality) for lv in self.levels]
        out += [self.folder(source, modality, split, SR_NAME, lv) for lv in self.sr_levels]
        return out

    def all_folders(self) -> list[str]:
        return [f for s, m in self.datasets for split in self.splits for f in self.folders(s, m, split)]

    def figure(self, source: str, modality: str) -> str:
        return f"{self.results}/figures/degrade/{source}_{modality}.png"

    def figure_inputs(self, source: str, modality: str) -> list[str]:
        """Folders drawn in the figure grid: those of the first configured split."""
        return self.folders(source, modality, self.splits[0])

    def tables(self) -> dict[str, str]:
        base = f"{self.results}/tables/degrade_grading"
        return {"csv": f"{base}.csv", "summary": f"{base}_summary.csv", "md": f"{base}.md"}

    def targets(self) -> list[str]:
        """Final outputs of the stage (for ``rule all``)."""
        if not self.all_folders():
            return []
        t = self.tables()
        out: Sequence[str] = [t["md"], t["csv"], t["summary"]]
        return list(out) + [self.figure(s, m) for s, m in self.datasets if self.figure_inputs(s, m)]


def _trial_run(name: str, modality: str, level: str, overrides: Mapping, where: str) -> None:
    """Run one overridden level on a small uniform image, so that an impossible value (a negative or
    zero dose, noise level, size...) stops the run before any job starts, naming the config key."""
    import numpy as np

    from ..errors import ParameterError
    from ..modalities import get_profile
    from .registry import apply

    prof = get_profile(modality)
    lo, hi = prof.value_range
    hi = hi if np.isfinite(hi) else lo + 1.0
    image = np.full((32, 32), lo + 0.25 * (hi - lo), np.float32)
    image[8:24, 8:24] = lo + 0.6 * (hi - lo)  # an edge, so blur-type degradations change something too
    try:
        out = apply(name, image, level, np.random.default_rng(0), modality=modality, overrides=overrides)
    except ParameterError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if out.image.shape == out.reference.shape and np.array_equal(out.image, out.reference):
        raise ConfigError(f"{where}: these parameters leave the image unchanged (a zero noise level, dose "
                          f"or size?): {dict(((overrides.get(modality) or {}).get(name) or {}).get(level) or {})}")

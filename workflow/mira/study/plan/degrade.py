"""Degradation stage plan: which paired folders the config asks for, and the checks of ``degrade:``.

One job per (source, modality, split, degradation, level) writes a paired clean/degraded folder
(:func:`~mira.study.plan.paths.degraded`); ``downsample`` at levels ``x2``, ``x3``... writes the
super-resolution inputs. Later stages find the folders through :class:`DegradePlan`::

    plan.degrade.folder("phantom", "ct", "test", "low_dose", "moderate")
    # -> results/degraded/phantom/ct/test/low_dose/moderate
"""
from __future__ import annotations

import functools
from typing import Mapping

from ...errors import ConfigError
from ...schema import load_schema
from ..settings import Settings
from . import paths

#: The super-resolution input "degradation" (levels x<scale>); set by ``degrade.sr_scales``.
SR_DEGRADATION = "downsample"
#: Severity levels of the graded degradations.
LEVEL_NAMES = ("mild", "moderate", "severe")

@functools.lru_cache(maxsize=1)
def graded_degradations() -> dict[str, tuple[str, ...]]:
    """Degradations graded at mild/moderate/severe per modality, in table order.

    These are the schema's per-modality defaults of ``degrade.degradations`` (every graded degradation;
    ``tests/test_study_plan.py`` checks they equal the keys of :data:`mira.degrade.levels.LEVELS`), read
    from the schema, which states them once.
    """
    props = load_schema()["properties"]["degrade"]["properties"]["degradations"]["properties"]
    return {modality: tuple(prop["default"]) for modality, prop in props.items()}


def check_degradation(name: str, modality: str, where: str) -> None:
    """Raise :class:`ConfigError` naming ``where`` unless ``name`` is a graded degradation of ``modality``.

    Parameters
    ----------
    name : str
        Degradation name.
    modality : str
        Modality key.
    where : str
        The config key reported, e.g. ``"degrade.degradations.ct"``.
    """
    if name == SR_DEGRADATION:
        raise ConfigError(f"config key {where}: '{SR_DEGRADATION}' is set by the scales "
                          "(degrade.sr_scales, restore.sr.scales), not listed here")
    graded = graded_degradations()
    if name in graded.get(modality, ()):
        return
    known = sorted({n for names in graded.values() for n in names})
    if name not in known:
        raise ConfigError(f"config key {where}: unknown degradation {name!r} (known: {', '.join(known)})")
    raise ConfigError(f"config key {where}: degradation {name!r} does not apply to {modality} "
                      f"(for {modality}: {', '.join(graded[modality] + (SR_DEGRADATION,))})")


def check_sources(section: str, sources: tuple[str, ...] | list[str], known: list[str]) -> None:
    """Every source listed under ``<section>.sources`` is a dataset of the study."""
    unknown = sorted(set(sources) - set(known))
    if unknown:
        raise ConfigError(f"config key {section}.sources: unknown source(s) {unknown} (known: {sorted(known)})")


class DegradePlan:
    """The degradation stage's jobs.

    Parameters
    ----------
    settings : Settings
        The study settings.
    datasets : list of (source, modality)
        Every dataset of the study.

    Raises
    ------
    ConfigError
        An unknown source, a degradation that does not apply to its modality, or an override of an
        unknown level (the message names the key). Parameter names and values of
        ``degrade.parameters`` are the library's to judge (:func:`mira.study.checks.check_library_overrides`).
    """

    def __init__(self, settings: Settings, datasets: list[tuple[str, str]]) -> None:
        cfg = settings.degrade
        check_sources("degrade", cfg.sources, [s for s, _ in datasets])
        self.datasets = [(s, m) for s, m in datasets if s in cfg.sources]
        self.splits: list[str] = list(cfg.splits)
        self.levels: list[str] = list(cfg.levels)
        self.sr_levels: list[str] = [f"x{int(s)}" for s in cfg.sr_scales]
        self.figure_case: str = cfg.figure_case
        self._chosen = cfg.degradations
        self._names = {m: self._check_names(m) for m in dict.fromkeys(m for _, m in self.datasets)}
        _check_override_keys(cfg.parameters)

    def _check_names(self, modality: str) -> list[str]:
        names = list(self._chosen.get(modality, ()))
        for name in names:
            check_degradation(name, modality, f"degrade.degradations.{modality}")
        return names

    def names(self, modality: str) -> list[str]:
        """Graded degradations simulated for ``modality`` (``degrade.degradations.<modality>``)."""
        if modality not in self._names:
            self._names[modality] = self._check_names(modality)
        return self._names[modality]

    @staticmethod
    def folder(source: str, modality: str, split: str, degradation: str, level: str) -> str:
        """The paired folder of one job."""
        return paths.degraded(source, modality, split, degradation, level)

    def folders(self, source: str, modality: str, split: str) -> list[str]:
        """Every paired folder of a (source, modality, split): each degradation x level, then SR scales."""
        out = [self.folder(source, modality, split, d, lv) for d in self.names(modality) for lv in self.levels]
        out += [self.folder(source, modality, split, SR_DEGRADATION, lv) for lv in self.sr_levels]
        return out

    def all_folders(self) -> list[str]:
        return [f for s, m in self.datasets for split in self.splits for f in self.folders(s, m, split)]

    def figure_inputs(self, source: str, modality: str) -> list[str]:
        """Folders drawn in the figure grid: those of the first configured split."""
        return self.folders(source, modality, self.splits[0])

    def figures(self) -> list[str]:
        """The figure grid of every (source, modality) with at least one paired folder."""
        return [paths.degrade_figure(s, m) for s, m in self.datasets if self.figure_inputs(s, m)]

    def targets(self) -> list[str]:
        """Final outputs of the stage."""
        if not self.all_folders():
            return []
        t = paths.DEGRADE_GRADING
        return [t.md, t.csv, paths.DEGRADE_GRADING_SUMMARY, *self.figures()]


def _check_override_keys(overrides: Mapping) -> None:
    """Every key of ``degrade.parameters`` names a degradation of its modality and a known level."""
    for modality, per_name in overrides.items():
        for name, per_level in (per_name or {}).items():
            where = f"degrade.parameters.{modality}.{name}"
            check_degradation(name, modality, where)
            for level in per_level or {}:
                if level not in LEVEL_NAMES:
                    raise ConfigError(f"config key {where}.{level}: unknown level (known: {', '.join(LEVEL_NAMES)})")

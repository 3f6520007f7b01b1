"""Typed, read-only settings built once from the schema-validated config.

:func:`mira.config.validate_config` checks the config against ``workflow/schemas/`` and fills every
default from the schema (the one place a default is stated). :class:`Settings` wraps the result:
one :class:`Section` per top-level config section, read by attribute (``settings.restore.networks``),
and the modality profiles resolved once from the built-in defaults and the ``profiles:`` overrides.
Every stage takes its profile from :meth:`Settings.profile`, so an override such as
``profiles: {ct: {metric_window: [-160, 240]}}`` reaches metrics, degradation, training and figures.

This module imports no numerics (the workflow plan uses it while Snakemake parses the Snakefile).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..errors import ConfigError
from ..modalities import MODALITIES, ModalityProfile, get_profile


class Section(Mapping[str, Any]):
    """A read-only view of one config mapping: ``section.key`` or ``section["key"]``.

    Nested mappings are returned as :class:`Section` too; lists as tuples. Unknown attributes raise
    :class:`~mira.errors.ConfigError` naming the dotted key (a typo in code fails loudly, never
    returns a silent default: every default is filled in by the schema before this is built).
    """

    __slots__ = ("_data", "_where")

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_where", where)

    @staticmethod
    def _wrap(value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            return Section(value, where)
        if isinstance(value, list):
            return tuple(Section._wrap(v, f"{where}[{i}]") for i, v in enumerate(value))
        return value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise ConfigError(f"config key {self._where}.{key}: not in the validated config") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"settings are read-only ({self._where}.{key})")

    def __getitem__(self, key: str) -> Any:
        return self._wrap(self._data[key], f"{self._where}.{key}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Section({self._where}: {self._data!r})"

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain dicts and lists (e.g. to record in a JSON file)."""
        return copy.deepcopy(self._data)


@dataclass(frozen=True)
class Settings:
    """The whole study's settings: seed, modalities, resolved profiles and one section per stage.

    Build with :meth:`from_config` from the *validated* config (defaults filled in); nothing here
    re-validates or re-states a default.
    """

    seed: int
    modalities: tuple[str, ...]
    profiles: Mapping[str, ModalityProfile]
    synthesis: Section
    inputs: Section
    overview: Section
    augment: Section
    degrade: Section
    restore: Section
    evaluate: Section
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Settings":
        """Settings of a config already checked by :func:`mira.config.validate_config`."""
        cfg = dict(config)
        overrides = cfg.get("profiles") or {}
        profiles = {m: get_profile(m, overrides.get(m)) for m in MODALITIES}
        sections = {name: Section(cfg.get(name) or {}, name)
                    for name in ("synthesis", "inputs", "overview", "augment", "degrade", "restore", "evaluate")}
        return cls(seed=int(cfg["seed"]), modalities=tuple(cfg["modalities"]), profiles=profiles, raw=cfg, **sections)

    def profile(self, modality: str) -> ModalityProfile:
        """The resolved profile of ``modality`` (built-in defaults + ``profiles:`` overrides)."""
        try:
            return self.profiles[str(modality).lower()]
        except KeyError:
            raise ConfigError(f"unknown modality {modality!r} (known: {', '.join(MODALITIES)})") from None

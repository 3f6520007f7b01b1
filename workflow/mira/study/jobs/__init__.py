"""One function per Snakemake rule, and the dispatcher every rule's ``script:`` calls.

Every rule runs ``workflow/scripts/run_job.py``, which is one line: ``run(snakemake)``. :func:`run`
builds the :class:`~mira.study.settings.Settings` once from the job's (already validated) config,
finds the function registered under the rule's name and calls it with a :class:`Job`: the rule's
inputs, outputs, wildcards, threads, log and the settings. Job functions live in the stage modules of
this package (``data``, ``augment``, ``degrade``, ``restore``, ``evaluate``) and are
registered with :func:`job`::

    @job("degrade")
    def degrade(j: Job) -> None:
        ...

Error handling is :func:`mira.cli.run_script`'s: a :class:`~mira.errors.MiraError` or ``OSError``
ends the job with one line ``mira: error: ...`` and exit status 1.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import MiraError
from ..settings import Settings

#: Stage modules whose import registers their jobs.
STAGE_MODULES = ("data", "augment", "degrade", "restore", "evaluate")

_REGISTRY: dict[str, Callable[["Job"], None]] = {}


@dataclass(frozen=True)
class Job:
    """What one rule's job gets: Snakemake's named inputs/outputs/wildcards, threads, log, settings
    and resources (``mem_mb``: the ingest job's memory check)."""

    input: Any
    output: Any
    wildcards: Any
    threads: int
    log: logging.Logger
    settings: Settings
    rule: str = "?"
    resources: Any = None


def job(rule: str) -> Callable[[Callable[[Job], None]], Callable[[Job], None]]:
    """Register the decorated function as the job of Snakemake rule ``rule``."""

    def register(fn: Callable[[Job], None]) -> Callable[[Job], None]:
        if rule in _REGISTRY and _REGISTRY[rule] is not fn:
            raise RuntimeError(f"two jobs registered for rule {rule!r}")
        _REGISTRY[rule] = fn
        return fn

    return register


#: Rule-name prefix -> the stage module holding its job (a job imports only its own stage's code).
STAGE_OF_PREFIX = (("augment_", "augment"), ("degrade", "degrade"), ("restore_", "restore"),
                   ("train_restorer", "restore"), ("evaluate_", "evaluate"))


def _import_stage(name: str) -> None:
    try:
        importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise


def job_for(rule: str) -> Callable[[Job], None]:
    """The job function of ``rule``.

    Only the rule's own stage module is imported when the rule name tells it (``augment_*``,
    ``degrade*``, ``restore_*``, ``evaluate_*``...), so a job does not pay for importing the other
    stages' libraries (torch, for one); otherwise every stage module is imported.
    """
    if rule not in _REGISTRY:
        stage = next((mod for prefix, mod in STAGE_OF_PREFIX if rule.startswith(prefix)), "data")
        _import_stage(stage)
    if rule not in _REGISTRY:
        for name in STAGE_MODULES:
            _import_stage(name)
    if rule not in _REGISTRY:
        raise MiraError(f"no job is registered for rule {rule!r}")
    return _REGISTRY[rule]


def registered_rules() -> list[str]:
    """Names of every rule with a job (imports every stage module)."""
    for name in STAGE_MODULES:
        _import_stage(name)
    return sorted(_REGISTRY)


def run(smk: Any) -> None:
    """Run the job of Snakemake script object ``smk`` (``snakemake`` in a ``script:``)."""
    from ...cli import run_script

    def main(s: Any, log: logging.Logger) -> None:
        fn = job_for(s.rule)
        fn(Job(input=s.input, output=s.output, wildcards=s.wildcards, threads=int(s.threads), log=log,
               settings=Settings.from_config(s.config), rule=s.rule, resources=s.resources))

    run_script(smk, main)

"""The config schema: ``workflow/schemas/config.schema.yaml`` plus one ``<section>.schema.yaml`` per stage.

The schema is where every config default and allowed value is stated, once. This module only reads
it (PyYAML); :mod:`mira.config` validates against it, :mod:`mira.study.config_reference` renders it
as ``docs/config.md``, and the workflow plan reads the per-modality degradation lists from it.
"""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Union

import yaml

PathLike = Union[str, os.PathLike]

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


#: libyaml's safe loader where PyYAML was built with it (5x faster than the pure-Python one).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)


@functools.lru_cache(maxsize=4)
def _merged(folder: Path) -> dict:
    main = _read(folder / "config.schema.yaml")
    for frag in sorted(folder.glob("*.schema.yaml")):
        if frag.name == "config.schema.yaml":
            continue
        section = frag.name[: -len(".schema.yaml")]
        main.setdefault("properties", {})[section] = _read(frag)
    return main


def load_schema(schema_dir: PathLike = SCHEMA_DIR) -> dict:
    """Return the merged schema: the top level plus every ``<section>.schema.yaml`` fragment.

    The files are parsed once per process; each call returns a fresh copy.
    """
    return copy.deepcopy(_merged(Path(schema_dir).resolve()))

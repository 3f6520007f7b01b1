"""Configuration: load ``config.yaml``, validate it against the JSON schema, fill defaults.

The schema lives in ``workflow/schemas/``: ``config.schema.yaml`` holds the top level, and each stage
adds its own section as ``<section>.schema.yaml`` (one file per top-level key), so stages stay
independent. Unknown keys, wrong types and unknown modalities raise :class:`ConfigError` with the
dotted key path, e.g. ``config key synthesis.cases.trian: unknown key (did you mean 'train'?)``.
"""
from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, Mapping, Union

import jsonschema
import yaml

from .errors import ConfigError

PathLike = Union[str, os.PathLike]

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


def load_schema(schema_dir: PathLike = SCHEMA_DIR) -> dict:
    """Return the merged schema: the top level plus every ``<section>.schema.yaml`` fragment."""
    folder = Path(schema_dir)
    main = yaml.safe_load((folder / "config.schema.yaml").read_text(encoding="utf-8"))
    for frag in sorted(folder.glob("*.schema.yaml")):
        if frag.name == "config.schema.yaml":
            continue
        section = frag.name[: -len(".schema.yaml")]
        main.setdefault("properties", {})[section] = yaml.safe_load(frag.read_text(encoding="utf-8"))
    return main


def _with_defaults(validator_cls):
    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _explain(err: jsonschema.ValidationError) -> str:
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extras = sorted(set(err.instance) - set(allowed))
        msgs = []
        for extra in extras:
            key = f"{where}.{extra}" if err.absolute_path else str(extra)
            hint = difflib.get_close_matches(str(extra), allowed, n=1)
            msgs.append(f"config key {key}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"))
        return "; ".join(msgs)
    if err.validator == "enum":
        return f"config key {where}: {err.instance!r} is not one of {err.validator_value}"
    if err.validator == "type":
        return f"config key {where}: expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}"
    if err.validator == "required":
        return f"config key {where}: {err.message}"
    return f"config key {where}: {err.message}"


def validate_config(config: Mapping[str, Any], schema: dict | None = None) -> dict:
    """Validate ``config`` and return a deep copy with schema defaults filled in.

    Raises
    ------
    ConfigError
        On the first problem, naming the dotted key.
    """
    schema = schema if schema is not None else load_schema()
    cfg = copy.deepcopy(dict(config))
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(_explain(errors[0]))
    # second pass: defaults inside objects created by the first pass are filled now
    for err in validator.iter_errors(cfg):
        raise ConfigError(_explain(err))
    _check_semantics(cfg)
    return cfg


def _check_semantics(cfg: dict) -> None:
    """Checks a schema cannot express: profile overrides and input names."""
    from .modalities import PROFILES

    for name, overrides in (cfg.get("profiles") or {}).items():
        PROFILES[name].with_overrides(overrides, where="config key profiles")
    for name in (cfg.get("inputs") or {}):
        if name in ("phantom", "phantom3d"):
            raise ConfigError(f"config key inputs.{name}: this source name is reserved for the synthetic data")


def load_config(path: PathLike) -> dict:
    """Read a YAML config file and validate it (see :func:`validate_config`)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the config must be a mapping of keys to values")
    return validate_config(raw)

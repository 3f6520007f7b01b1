"""Configuration: load ``config.yaml``, validate it against the JSON schema, fill defaults.

The schema lives in ``workflow/schemas/``: ``config.schema.yaml`` holds the top level, and each stage
adds its own section as ``<section>.schema.yaml`` (one file per top-level key), so stages stay
independent. Unknown keys, wrong types and unknown modalities raise :class:`ConfigError` with the
dotted key path, e.g. ``config key synthesis.cases.trian: unknown key (did you mean 'train'?)``.

Config files are read strictly (:func:`read_config_file`): a key given twice in one mapping and a YAML
syntax error are errors naming the file and the line, e.g.
``config.yaml line 12: duplicate key 'seed' (first at line 3)``, never a silent "last one wins".
The Snakefile reads ``config.yaml`` and every ``--configfile`` this way (:func:`check_config_files`)
before Snakemake's own lenient loader does.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import jsonschema
import yaml

from .errors import ConfigError
from .input_spec import parse_spec
from .modalities import PROFILES
from .schema import SCHEMA_DIR, load_schema
from .sources import training_sources

PathLike = Union[str, os.PathLike]

__all__ = ["SCHEMA_DIR", "load_schema", "validate_config", "read_config_file", "check_config_files", "load_config"]


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
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
            msgs.append(f"config key {key}: unknown key" + suggestion)
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

    Beyond the schema: every ``inputs:`` source is checked by the ingest job's own
    :func:`mira.input_spec.parse_spec` (same messages) and its ``path`` must exist (relative paths
    from the working directory); a configuration that leaves a later rule without cases (an empty
    split that a stage reads) is refused, naming the key that must change.

    Parameters
    ----------
    config : mapping
        The configuration as read from YAML (not modified).
    schema : dict, optional
        The JSON schema; default :func:`load_schema`.

    Returns
    -------
    dict
        The validated configuration with defaults filled in.

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
    """Checks a schema cannot express: profile overrides, input sources, case counts."""
    for name, overrides in (cfg.get("profiles") or {}).items():
        PROFILES[name].with_overrides(overrides, where="config key profiles")
    specs = {}
    for name, spec in (cfg.get("inputs") or {}).items():
        if name in ("phantom", "phantom3d"):
            raise ConfigError(f"config key inputs.{name}: this source name is reserved for the synthetic data")
        specs[name] = parse_spec(name, spec)  # the ingest job's own validation, same messages
        _check_input_path(name, specs[name].path, specs[name].include)
    _fill_stage_sources(cfg, specs)
    _check_case_counts(cfg, {name: dict(s.split) for name, s in specs.items()})


def _fill_stage_sources(cfg: dict, specs: Mapping[str, Any]) -> None:
    """Resolve ``degrade.sources`` / ``restore.sources`` left at null: 'phantom' and every real source
    with a test fraction, so a user's scans are degraded and restored beside the phantoms by default."""
    default = ["phantom"] + [name for name, spec in specs.items() if float(spec.split.get("test", 0)) > 0]
    for section in ("degrade", "restore"):
        sec = cfg.get(section)
        if isinstance(sec, dict) and sec.get("sources", ()) is None:
            sec["sources"] = list(default)


def _check_input_path(name: str, path: str, include: Any) -> None:
    """The source's ``path`` exists (relative paths from the working directory, as the ingest job reads them)."""
    if path.strip() == "pydicom:":
        return
    root = Path(path).expanduser()
    if not root.exists():
        where = "" if root.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        raise ConfigError(f"config key inputs.{name}.path: no such file or folder: {root}{where}")
    if root.is_file() and include is not None:
        raise ConfigError(f"inputs.{name}.include: only allowed when path is a folder ({root} is a file)")


#: Networks of mira.restore.METHODS that the restoration stage trains (kept here so that validating a
#: config does not import mira.restore; tests/test_config_strict.py checks they agree).
DEEP_DENOISERS: tuple[str, ...] = ("dncnn",)
DEEP_SR: tuple[str, ...] = ("srcnn", "edsr")


#: (source) -> (config key of its counts, modalities, counts per split or fractions for a real source)
CaseSources = dict[str, tuple[str, list[str], Mapping[str, float]]]


def _check_case_counts(cfg: dict, input_splits: Mapping[str, Mapping[str, float]]) -> None:
    """Refuse a configuration whose later rules would fail for lack of cases.

    What each stage reads (``workflow/rules/*.smk``): the augmentation demo and constraint checks read
    the training phantoms of every modality (and of the volumes unless ``augment.volumes`` is false);
    the policy search reads train and val; the GAN trains on train and is scored on at least two
    held-out (val + test) phantoms; the degradation stage degrades ``degrade.splits`` of
    ``degrade.sources``; restoration reads the degraded test split of ``restore.sources``; the
    networks train on train and val of ``restore.train_source``; the strategy study draws
    ``evaluate.strategies.sizes`` cases per class from a pool of ``pool_per_class``.
    Real sources are checked by their split fractions (how many files a fraction gets is known only
    when the ingest job runs).
    """
    study = list(cfg.get("modalities") or [])
    sources = _case_sources(cfg, study, input_splits)
    need = _CaseNeeds(cfg, sources, input_splits)
    _check_augment_cases(cfg.get("augment") or {}, study, need)
    _check_degrade_cases(cfg.get("degrade") or {}, need)
    _check_restore_cases(cfg.get("restore") or {}, study, need)
    _check_strategy_pool((cfg.get("evaluate") or {}).get("strategies") or {}, study)


def _case_sources(cfg: dict, study: list[str], input_splits: Mapping[str, Mapping[str, float]]) -> CaseSources:
    """The phantom sources of the study (refusing all-zero counts) and the real ``inputs:`` sources."""
    syn = cfg.get("synthesis") or {}
    vol = syn.get("volumes") or {}
    vol_modalities = [m for m in vol.get("modalities", []) if m in study]
    sources: CaseSources = {}
    if study and "cases" in syn:
        sources["phantom"] = ("synthesis.cases", study, syn["cases"])
        if not any(syn["cases"].values()):
            raise ConfigError("config key synthesis.cases: every split is 0: no phantom cases to study")
    if vol_modalities and "cases" in vol:
        sources["phantom3d"] = ("synthesis.volumes.cases", vol_modalities, vol["cases"])
        if not any(vol["cases"].values()):
            raise ConfigError(f"config key synthesis.volumes.cases: every split is 0, but synthesis.volumes.modalities "
                              f"lists {vol_modalities} (set it to [] to study no volumes)")
    for name, split in input_splits.items():
        sources[name] = (f"inputs.{name}.split", [cfg["inputs"][name]["modality"]], split)
    return sources


class _CaseNeeds:
    """``need(source, split, why)`` refuses a source whose ``split`` has no cases, saying ``why``."""

    def __init__(self, cfg: dict, sources: CaseSources, input_splits: Mapping[str, Mapping[str, float]]):
        self.cfg, self.sources, self.input_splits = cfg, sources, input_splits

    def __call__(self, source: str, split: str, why: str) -> None:
        if source not in self.sources:  # unknown sources are the stage plans' to report
            return
        key, _, counts = self.sources[source]
        if counts.get(split, 0) > 0:
            return
        if source in self.input_splits:
            given = self.cfg["inputs"][source].get("split")
            raise ConfigError(f"config key {key}: the {split} fraction is 0"
                              + ("" if given else " (no split given: every case goes to test)") + f", but {why}")
        raise ConfigError(f"config key {key}.{split}: 0 cases, but {why}")

    def has(self, source: str, split: str) -> bool:
        """Whether ``source`` may have cases in ``split`` (unknown sources: left to the plans)."""
        return source not in self.sources or self.sources[source][2].get(split, 0) > 0

    def modalities(self, source: str) -> list[str]:
        return self.sources[source][1] if source in self.sources else []


def _check_augment_cases(aug: Mapping[str, Any], study: list[str], need: _CaseNeeds) -> None:
    """Augmentation: demo figures and constraint checks on the training split, policy search, GAN."""
    if need.modalities("phantom"):
        need("phantom", "train", "the augmentation stage shows and checks transforms on the training phantoms")
    if aug.get("volumes", True) and need.modalities("phantom3d"):
        need("phantom3d", "train", "the augmentation stage shows and checks transforms on the training volumes "
             "(augment.volumes)")
    policy = [m for m in (aug.get("policy") or {}).get("modalities", []) if m in study]
    if policy:
        need("phantom", "train", f"augment.policy.modalities {policy} searches policies on the training phantoms")
        need("phantom", "val", f"augment.policy.modalities {policy} scores policies on the validation phantoms")
    gan = [m for m in (aug.get("gan") or {}).get("modalities", []) if m in study]
    if gan and "phantom" in need.sources:
        need("phantom", "train", f"augment.gan.modalities {gan} trains the GAN on the training phantoms")
        counts = need.sources["phantom"][2]
        held_out = counts.get("val", 0) + counts.get("test", 0)
        if held_out < 2:
            raise ConfigError(f"config key synthesis.cases: val + test is {held_out}, "
                              f"but augment.gan.modalities {gan} scores the GAN on at least 2 held-out phantoms")


def _check_degrade_cases(deg: Mapping[str, Any], need: _CaseNeeds) -> None:
    """Degradation degrades ``degrade.splits`` of every source of ``degrade.sources``."""
    levels, sr_scales = deg.get("levels", []), deg.get("sr_scales", [])
    for source in deg.get("sources", []):
        chosen = deg.get("degradations") or {}
        if any(sr_scales or (levels and chosen.get(m, True)) for m in need.modalities(source)):
            for split in deg.get("splits", []):
                need(source, split, f"degrade.splits lists {split!r} for the source {source!r} (degrade.sources)")


def _check_restore_cases(res: Mapping[str, Any], study: list[str], need: _CaseNeeds) -> None:
    """Restoration restores degraded test cases; its networks train on train and val."""
    res_levels, res_scales = res.get("levels", []), (res.get("sr") or {}).get("scales", [])
    noise = (res.get("denoise") or {}).get("degradations") or {}
    restored = {s: [m for m in need.modalities(s) if m in study] for s in res.get("sources", [])}
    for source, mods in restored.items():
        if any(res_scales or (res_levels and noise.get(m, True)) for m in mods):
            need(source, "test", f"restore.sources lists {source!r}, whose degraded test cases are restored")
    methods = (res.get("denoise") or {}).get("methods", []) + (res.get("sr") or {}).get("methods", [])
    trains = (any(a in methods for a in DEEP_DENOISERS)
              and any(noise.get(m, True) for mods in restored.values() for m in mods)) or (
        bool(res_scales) and any(a in methods for a in DEEP_SR))
    if trains:
        listed = training_sources(res.get("train_source", "phantom"))
        names = [s for s, _ in listed]
        if len(set(names)) != len(names):
            raise ConfigError(f"config key restore.train_source: a source is listed twice ({names})")
        for source, _ in listed:
            need(source, "train", f"the restoration networks train on the train split of restore.train_source "
                 f"{source!r}")
        if len(listed) == 1:
            need(listed[0][0], "val", f"the restoration networks validate on the val split of "
                 f"restore.train_source {listed[0][0]!r}")
        elif not any(need.has(s, "val") for s in names):
            raise ConfigError(f"config key restore.train_source: none of {names} has a val split for the "
                              "restoration networks to validate on")


def _check_strategy_pool(strategies: Mapping[str, Any], study: list[str]) -> None:
    """The strategy study draws its training subsets from its own pool."""
    if [m for m in strategies.get("modalities", []) if m in study] and strategies.get("sizes"):
        largest = max(strategies["sizes"])
        pool = strategies.get("pool_per_class", largest)
        if largest > pool:
            raise ConfigError(f"config key evaluate.strategies.sizes: the largest training size {largest} (cases per "
                              f"class) exceeds evaluate.strategies.pool_per_class {pool}, the pool it is drawn from")


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one YAML mapping (raised by :class:`StrictLoader`).

    Attributes
    ----------
    key : object
        The repeated key.
    first_mark, problem_mark : yaml.Mark
        Where the key first appears and where it appears again (0-based ``line`` and ``column``).
    """

    def __init__(self, key: Any, first_mark: yaml.Mark, mark: yaml.Mark):
        super().__init__("while constructing a mapping", first_mark, f"found duplicate key {key!r}", mark)
        self.key = key
        self.first_mark = first_mark


class StrictLoader(yaml.SafeLoader):
    """PyYAML's ``SafeLoader`` that refuses a key given twice in one mapping (:class:`DuplicateKeyError`).

    Keys brought in by a merge key (``<<: *anchor``) may still be overridden by the mapping's own keys,
    as YAML intends; two explicit equal keys (``seed: 1`` and ``seed: 2``, or ``yes`` and ``true``) may not.
    """

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # SafeConstructor.construct_mapping calls this first for every mapping (and recursively for the
        # mappings it merges), before merged keys are mixed in: the node holds its explicit keys only.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            first: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.get(key)
                except TypeError:  # an unhashable key: construct_mapping reports it
                    continue
                if seen is not None:
                    raise DuplicateKeyError(key, seen, key_node.start_mark)
                first[key] = key_node.start_mark
        super().flatten_mapping(node)


def _refuse_json_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key, None, None)
        out[key] = value
    return out


def _yaml_problem(name: str, exc: yaml.YAMLError) -> str:
    """One line naming the file, the line and the problem of a YAML error."""
    if isinstance(exc, DuplicateKeyError):
        if exc.problem_mark is None:
            return f"{name}: duplicate key {exc.key!r}"
        return (f"{name} line {exc.problem_mark.line + 1}: duplicate key {exc.key!r} "
                f"(first at line {exc.first_mark.line + 1})")
    if isinstance(exc, yaml.MarkedYAMLError) and (exc.problem_mark or exc.context_mark):
        mark = exc.problem_mark or exc.context_mark
        msg = f"{name} line {mark.line + 1}, column {mark.column + 1}: {exc.problem or exc.context}"
        if exc.problem and exc.context:
            msg += f" ({exc.context}" + (f" at line {exc.context_mark.line + 1})" if exc.context_mark else ")")
        return msg
    return f"{name}: not valid YAML ({exc})"


def read_config_file(path: PathLike) -> dict:
    """Read a YAML (or JSON) config file strictly, without validating it.

    A key given twice in one mapping is an error (PyYAML, like Snakemake, would silently keep the last
    value). A file that starts like JSON and parses as JSON is read as JSON, as Snakemake does.

    Parameters
    ----------
    path : str or os.PathLike
        The config file; messages name it as given.

    Returns
    -------
    dict
        The file's top-level mapping (empty for an empty file).

    Raises
    ------
    ConfigError
        ``<file>: config file not found``; ``<file> line N: duplicate key 'k' (first at line M)``;
        ``<file> line N, column M: <problem>`` for a YAML syntax error; or a top level that is not a mapping.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    raw: Any = None
    try:
        as_json = False
        if text.lstrip().startswith(("{", "[")):
            try:
                raw, as_json = json.loads(text, object_pairs_hook=_refuse_json_duplicates), True
            except ValueError:  # not JSON (e.g. a YAML flow mapping): read it as YAML
                pass
        if not as_json:
            raw = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(str(p), exc)) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the config must be a mapping of keys to values, got {type(raw).__name__}")
    return raw


def check_config_files(paths: Iterable[PathLike]) -> None:
    """Read every existing file of ``paths`` strictly (:func:`read_config_file`); skip missing ones.

    The Snakefile calls this with ``config.yaml`` and the ``--configfile`` files before Snakemake's own
    loader reads them (a missing file is Snakemake's to report: ``config.yaml`` is optional when a
    ``--configfile`` is given).

    Raises
    ------
    ConfigError
        The first problem, naming the file and the line.
    """
    for path in paths:
        if Path(path).is_file():
            read_config_file(path)


def load_config(path: PathLike) -> dict:
    """Read a config file strictly (:func:`read_config_file`) and validate it (:func:`validate_config`)."""
    return validate_config(read_config_file(path))

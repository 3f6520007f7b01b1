"""Strict config reading and the checks a dry run shares with the real run (issue 13).

Duplicate keys and YAML errors name the file and the line; every ``inputs:`` source is checked by the
ingest job's own ``parse_spec``; a configuration that leaves a later rule without cases is refused by
name; ``snakemake -n`` stops on each of these with one ``mira: config error: ...`` line.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO, TINY_CONFIG, run_snakemake
from mira.config import (
    DEEP_DENOISERS,
    DEEP_SR,
    StrictLoader,
    check_config_files,
    load_config,
    load_schema,
    read_config_file,
    validate_config,
)
from mira.errors import ConfigError


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- strict YAML --------------------------------------------------------------------------------------------


def test_duplicate_top_level_key_names_key_file_and_line(tmp_path):
    path = _write(tmp_path, "seed: 1\nmodalities: [ct]\n\nseed: 2\n")
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    assert str(err.value) == f"{path} line 4: duplicate key 'seed' (first at line 1)"


@pytest.mark.parametrize(
    "text, line, key, first",
    [
        ("seed: 1\nsynthesis:\n  size: 48\n  cases: {train: 1, val: 1, test: 1}\n  size: 64\n", 5, "size", 3),
        ("synthesis:\n  cases: {train: 1, val: 1, train: 2}\n", 2, "train", 2),
        ("inputs:\n  a:\n    modality: ct\n    path: x\n    modality: mri\n", 5, "modality", 3),
        ("profiles: {}\nflags:\n  yes: 1\n  true: 2\n", 4, True, 3),  # two spellings of one YAML 1.1 boolean
    ],
)
def test_duplicate_nested_key_names_key_file_and_line(tmp_path, text, line, key, first):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    assert str(err.value) == f"{path} line {line}: duplicate key {key!r} (first at line {first})"


def test_merge_keys_may_still_be_overridden(tmp_path):
    text = "base: &b {size: 48, lesion_fraction: 0.2}\nsynthesis:\n  <<: *b\n  size: 64\n"
    assert read_config_file(_write(tmp_path, text))["synthesis"] == {"size": 64, "lesion_fraction": 0.2}
    # the plain SafeLoader and ours agree on a file without duplicates
    assert yaml.load(text, Loader=StrictLoader) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text, where, problem",
    [
        ("seed: [1,\n", "line 2, column 1", "expected the node content, but found '<stream end>'"),
        ("seed: 1\nsynthesis:\n  size: 48\n   cases: 3\n", "line 4, column 9", "mapping values are not allowed here"),
        ("seed: 1\n\tmodalities: [ct]\n", "line 2, column 1", "found character '\\t' that cannot start any token"),
    ],
)
def test_syntax_error_names_file_line_and_column(tmp_path, text, where, problem):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    assert str(err.value).startswith(f"{path} {where}: {problem}")


def test_json_config_files_are_read_as_json(tmp_path):
    # tab-indented JSON is no YAML: Snakemake reads JSON first, and so do we
    assert read_config_file(_write(tmp_path, '{\n\t"seed": 3\n}\n', "c.json")) == {"seed": 3}
    path = _write(tmp_path, '{\n\t"seed": 1,\n\t"seed": 2\n}\n', "d.json")
    with pytest.raises(ConfigError, match=rf"^{path}: duplicate key 'seed'$"):
        read_config_file(path)


def test_empty_missing_and_non_mapping_files(tmp_path):
    assert read_config_file(_write(tmp_path, "# nothing yet\n")) == {}
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        read_config_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="list.yaml: the config must be a mapping"):
        read_config_file(_write(tmp_path, "- 1\n- 2\n", "list.yaml"))


def test_load_config_reads_strictly(tmp_path):
    good = load_config(_write(tmp_path, "seed: 5\n", "good.yaml"))
    assert good["seed"] == 5 and good["synthesis"]["size"] == 128  # validated, defaults filled
    path = _write(tmp_path, "seed: 5\nsynthesis:\n  size: 64\n  size: 96\n")
    with pytest.raises(ConfigError, match=rf"^{path} line 4: duplicate key 'size' \(first at line 3\)$"):
        load_config(path)


def test_check_config_files_skips_missing_files_and_reads_the_others(tmp_path):
    check_config_files([tmp_path / "absent.yaml", _write(tmp_path, "seed: 1\n", "a.yaml")])
    bad = _write(tmp_path, "seed: 1\nseed: 1\n", "b.yaml")
    with pytest.raises(ConfigError, match="b.yaml line 2: duplicate key 'seed'"):
        check_config_files([tmp_path / "absent.yaml", tmp_path / "a.yaml", bad])


# ---- input sources: the ingest job's checks, before anything runs ------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"split": {"train": 0.5, "val": 0.2, "test": 0.2}}, "inputs.mine.split: fractions sum to 0.9, expected 1"),
        ({"include": ["../x/*.dcm"]}, "inputs.mine.include: pattern '../x/*.dcm' must be relative to path"),
        ({"include": ["/abs/*.dcm"]}, "inputs.mine.include: pattern '/abs/*.dcm' must be relative to path"),
        ({"include": ["a/../../b"]}, "inputs.mine.include: pattern 'a/../../b' must be relative to path"),
        ({"ct_rescale": [0, 5]}, "inputs.mine.ct_rescale: slope must not be 0"),
    ],
)
def test_validate_config_refuses_what_the_ingest_job_refuses(tmp_path, extra, message):
    from mira.input_spec import parse_spec

    spec = {"modality": "ct", "path": str(tmp_path), **extra}
    with pytest.raises(ConfigError) as lib:
        parse_spec("mine", spec)
    with pytest.raises(ConfigError) as cfg:
        validate_config({"inputs": {"mine": spec}})
    assert str(cfg.value) == str(lib.value)
    assert str(cfg.value).startswith(message)


def test_input_path_must_exist(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=rf"^config key inputs.mine.path: no such file or folder: {tmp_path}/scans$"):
        validate_config({"inputs": {"mine": {"modality": "ct", "path": str(tmp_path / "scans")}}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError,
                       match=rf"inputs.mine.path: .* scans \(relative to the working directory {tmp_path}\)"):
        validate_config({"inputs": {"mine": {"modality": "ct", "path": "scans"}}})
    (tmp_path / "scans").mkdir()
    checked = validate_config({"inputs": {"mine": {"modality": "ct", "path": "scans"}}})
    assert checked["inputs"]["mine"]["path"] == "scans"
    # the pydicom samples are not a path; a single file takes no include (as in the ingest job)
    validate_config({"inputs": {"mine": {"modality": "ct", "path": "pydicom:", "include": ["CT_small.dcm"]}}})
    (tmp_path / "one.dcm").write_bytes(b"")
    with pytest.raises(ConfigError, match="inputs.mine.include: only allowed when path is a folder"):
        validate_config({"inputs": {"mine": {"modality": "ct", "path": "one.dcm", "include": ["*"]}}})


def test_validating_inputs_imports_no_image_reader():
    """The Snakefile validates at parse time: checking a source must not load numerics or image readers
    (:mod:`mira.input_spec` is pure configuration parsing), and mira.ingest exports the same parser."""
    code = (
        "import sys\n"
        "from mira.config import validate_config\n"
        "validate_config({'inputs': {'a': {'modality': 'ct', 'path': 'pydicom:'}}})\n"
        "heavy = [m for m in ('numpy', 'SimpleITK', 'pydicom', 'torch', 'scipy', 'pandas', 'mira.ingest', 'mira.io') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import mira.ingest, mira.input_spec\n"
        "assert mira.input_spec.parse_spec is mira.ingest.parse_spec\n"
        "assert mira.input_spec.IngestSpec is mira.ingest.IngestSpec\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


# ---- configurations that would leave a later rule without cases -------------------------------------------


def _cases(train, val, test):
    return {"train": train, "val": val, "test": test}


def _accepted_or_refused(cfg: dict, message: str | None) -> None:
    """``message`` None: ``cfg`` validates; else it is refused with a message starting so."""
    if message is None:
        validate_config(cfg)
        return
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"synthesis": {"cases": _cases(0, 0, 0)}}, "config key synthesis.cases: every split is 0: no phantom cases"),
        ({"synthesis": {"cases": _cases(0, 4, 4)}}, "config key synthesis.cases.train: 0 cases, but the augmentation"),
        ({"synthesis": {"cases": _cases(4, 0, 4)}}, "config key synthesis.cases.val: 0 cases, but augment.policy"),
        ({"synthesis": {"cases": _cases(4, 0, 4)}, "augment": {"policy": {"modalities": []}}},
         "config key synthesis.cases.val: 0 cases, but the restoration networks validate on the val split"),
        ({"synthesis": {"cases": _cases(4, 4, 0)}}, "config key synthesis.cases.test: 0 cases, but degrade.splits"),
        ({"synthesis": {"cases": _cases(4, 4, 0)}, "degrade": {"sources": []}},
         "config key synthesis.cases.test: 0 cases, but restore.sources lists 'phantom'"),
        ({"synthesis": {"cases": _cases(4, 1, 0)}, "degrade": {"sources": []}, "restore": {"sources": []}},
         "config key synthesis.cases: val + test is 1, but augment.gan.modalities"),
        ({"synthesis": {"cases": _cases(4, 4, 4)}, "degrade": {"splits": ["test", "val"]},
          "augment": {"policy": {"modalities": []}}, "restore": {"sources": [], "denoise": {"methods": ["input"]},
                                                               "sr": {"methods": ["bicubic"]}},
          "evaluate": {"strategies": {"modalities": []}}},
         None),  # accepted: every split that is read has cases
        ({"synthesis": {"volumes": {"cases": _cases(0, 0, 0)}}},
         "config key synthesis.volumes.cases: every split is 0, but synthesis.volumes.modalities lists ['ct', 'mri']"),
        ({"synthesis": {"volumes": {"cases": _cases(0, 1, 1)}}},
         "config key synthesis.volumes.cases.train: 0 cases, but the augmentation stage"),
        ({"synthesis": {"volumes": {"cases": _cases(0, 1, 1)}}, "augment": {"volumes": False}}, None),
        ({"synthesis": {"volumes": {"cases": _cases(0, 0, 0), "modalities": []}}}, None),
        ({"modalities": ["xray"], "synthesis": {"volumes": {"cases": _cases(0, 0, 0)}}}, None),  # no volume modality
        ({"synthesis": {"volumes": {"cases": _cases(1, 1, 0)}}, "degrade": {"sources": ["phantom", "phantom3d"]}},
         "config key synthesis.volumes.cases.test: 0 cases, but degrade.splits lists 'test' for the source "
         "'phantom3d'"),
        ({"evaluate": {"strategies": {"sizes": [4, 16], "pool_per_class": 8}}},
         "config key evaluate.strategies.sizes: the largest training size 16 (cases per class) exceeds "
         "evaluate.strategies.pool_per_class 8"),
        ({"evaluate": {"strategies": {"sizes": [4, 16], "pool_per_class": 8, "modalities": []}}}, None),
    ],
)
def test_configurations_without_cases_for_a_later_rule_are_refused(cfg, message):
    _accepted_or_refused(cfg, message)


@pytest.mark.parametrize(
    "source, patch, message",
    [
        ({"split": {"train": 0.8, "test": 0.2}}, {"restore": {"train_source": "scans"}},
         "config key inputs.scans.split: the val fraction is 0, but the restoration networks"),
        ({}, {"restore": {"train_source": "scans"}},
         "config key inputs.scans.split: the train fraction is 0 (no split given: every case goes to test)"),
        ({"split": {"train": 1.0}}, {"degrade": {"sources": ["phantom", "scans"]}},
         "config key inputs.scans.split: the test fraction is 0, but degrade.splits lists 'test' for the source "
         "'scans'"),
        ({"split": {"train": 0.5, "val": 0.25, "test": 0.25}},
         {"restore": {"train_source": "scans", "sources": ["phantom", "scans"]}}, None),
    ],
)
def test_real_sources_are_checked_by_their_split_fractions(source, patch, message):
    cfg = {"inputs": {"scans": {"modality": "ct", "path": "pydicom:", **source}}, **patch}
    _accepted_or_refused(cfg, message)


def test_unknown_sources_are_left_to_the_stage_plans():
    # the degradation and restoration plans name unknown sources; the case check must not hide that
    validate_config({"degrade": {"sources": ["nowhere"]}, "restore": {"sources": ["elsewhere"], "train_source": "x"}})


def test_deep_method_names_agree_with_the_restoration_package():
    from mira.restore import METHODS

    assert set(DEEP_DENOISERS) == {n for n, m in METHODS.items() if m.deep and m.task == "denoise"}
    assert set(DEEP_SR) == {n for n, m in METHODS.items() if m.deep and m.task == "sr"}


# ---- schema of an input source -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{"spacing_mm": 0.5}, {"spacing_mm": [0.5, 0.5]}, {"spacing_mm": [2, 0.5, 0.5]}, {"on_unreadable": "skip"},
     {"on_unreadable": "error"}, {"on_modality_mismatch": "warn"}, {"ct_rescale": [1, -1024]}],
)
def test_schema_accepts_the_input_keys(extra):
    spec = {"modality": "ct", "path": "pydicom:", **extra}
    jsonschema.Draft202012Validator(load_schema()).validate({"inputs": {"mine": spec}})
    assert validate_config({"inputs": {"mine": spec}})["inputs"]["mine"] == spec  # no defaults added


@pytest.mark.parametrize(
    "extra, key",
    [({"on_unreadable": "maybe"}, "inputs.mine.on_unreadable"), ({"on_modality_mismatch": "skip"},
                                                                 "inputs.mine.on_modality_mismatch"),
     ({"ct_rescale": [1]}, "inputs.mine.ct_rescale"), ({"ct_rescale": [1, -1024, 3]}, "inputs.mine.ct_rescale"),
     ({"ct_rescale": [1, "a"]}, "inputs.mine.ct_rescale[1]"), ({"spacing_mm": [0.5]}, "inputs.mine.spacing_mm"),
     ({"spacing_mm": [1, 1, 1, 1]}, "inputs.mine.spacing_mm"), ({"spacing_mm": [0.5, 0]}, "inputs.mine.spacing_mm[1]"),
     ({"spacing_mm": -1}, "inputs.mine.spacing_mm"), ({"spacing_mm": "x"}, "inputs.mine.spacing_mm")],
)
def test_schema_refuses_bad_input_keys(extra, key):
    with pytest.raises(ConfigError, match=rf"^config key {re.escape(key)}: "):
        validate_config({"inputs": {"mine": {"modality": "ct", "path": "pydicom:", **extra}}})


def test_input_keys_are_described():
    props = load_schema()["properties"]["inputs"]["additionalProperties"]["properties"]
    for key in ("spacing_mm", "on_unreadable", "on_modality_mismatch", "ct_rescale"):
        assert props[key]["description"].strip()
        assert key in load_schema()["properties"]["inputs"]["description"]
        assert "default" not in props[key]


# ---- the workflow: snakemake -n stops with one clear line ------------------------------------------------------


def _tiny(tmp_path: Path, **patch) -> Path:
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg.update(patch)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _dry_run(tmp_path: Path, configfile: Path):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    proc = run_snakemake(work, "-n", configfile=configfile, cores=1, timeout=120)
    return proc, proc.stdout + proc.stderr, work


def _assert_one_clear_line(proc, out: str, work: Path, expected: str) -> None:
    assert proc.returncode != 0
    lines = [ln for ln in out.splitlines() if ln.startswith("mira: config error: ")]
    assert len(lines) == 1 and lines[0].startswith(f"mira: config error: {expected}"), out[-2000:]
    assert "Traceback" not in out
    assert not (work / "results").exists()


def test_dry_run_refuses_a_duplicate_key_in_a_configfile(tmp_path):
    text = TINY_CONFIG.read_text() + "seed: 8\n"
    first = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("seed:"))
    path = _write(tmp_path, text, "dup.yaml")
    proc, out, work = _dry_run(tmp_path, path)
    _assert_one_clear_line(proc, out, work, f"{path} line {len(text.splitlines())}: duplicate key 'seed' "
                                            f"(first at line {first})")


def test_dry_run_refuses_a_syntax_error_in_config_yaml(tmp_path):
    # config.yaml of the working directory is read by the Snakefile's `configfile:` (with the tiny config
    # merged over it): the strict check runs before Snakemake's loader, which would name no line
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text("seed: 1\nsynthesis: {size: 48\n")
    proc, out, work = _dry_run(tmp_path, TINY_CONFIG)
    _assert_one_clear_line(proc, out, work, "config.yaml line 3, column 1: expected ',' or '}', but got '<stream end>'")


def test_dry_run_refuses_a_syntax_error_in_a_configfile(tmp_path):
    # Snakemake reads --configfile files before any workflow code runs: it stops itself, and its message
    # names neither file nor line (a known limit, see mira.config.check_config_files)
    proc, out, work = _dry_run(tmp_path, _write(tmp_path, "seed: [1,\n", "bad.yaml"))
    assert proc.returncode != 0
    assert "not valid JSON or YAML" in out
    assert not (work / "results").exists()


@pytest.mark.parametrize(
    "inputs, expected",
    [
        ({"scans": {"modality": "ct", "path": "pydicom:", "include": ["CT_small.dcm"],
                    "split": {"train": 0.5, "val": 0.3, "test": 0.3}}},
         "inputs.scans.split: fractions sum to 1.1, expected 1"),
        ({"scans": {"modality": "ct", "path": "pydicom:", "include": ["../CT_small.dcm"]}},
         "inputs.scans.include: pattern '../CT_small.dcm' must be relative to path and stay inside it"),
    ],
)
def test_dry_run_refuses_input_specs_the_ingest_job_would_refuse(tmp_path, inputs, expected):
    proc, out, work = _dry_run(tmp_path, _tiny(tmp_path, inputs=inputs))
    _assert_one_clear_line(proc, out, work, expected)


def test_dry_run_refuses_zero_phantom_cases_and_accepts_the_tiny_config(tmp_path):
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["synthesis"]["cases"] = _cases(0, 0, 0)
    proc, out, work = _dry_run(tmp_path, _tiny(tmp_path, synthesis=cfg["synthesis"]))
    _assert_one_clear_line(proc, out, work, "config key synthesis.cases: every split is 0: no phantom cases to study")

    ok = run_snakemake(tmp_path / "ok", "-n", configfile=TINY_CONFIG, cores=1, timeout=120)
    assert ok.returncode == 0, (ok.stdout + ok.stderr)[-3000:]
    assert "mira: config error" not in ok.stdout + ok.stderr

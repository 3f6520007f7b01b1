"""The study plan (mira.study.plan): paths written once, job lists, config checks, and a Snakefile that
parses without numerics."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mira.config import validate_config
from mira.errors import ConfigError
from mira.study.plan import StudyPlan, paths
from mira.study.plan.degrade import DegradePlan, graded_degradations
from mira.study.plan.rerun import RULE_SETTINGS, wildcards_of
from mira.study.settings import Settings

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflow"
PLAN_DIR = WORKFLOW / "mira" / "study" / "plan"
RULE_FILES = [REPO / "Snakefile", *sorted((WORKFLOW / "rules").glob("*.smk"))]
NUMERICS = ("numpy", "scipy", "torch", "pandas", "skimage", "SimpleITK", "pydicom", "matplotlib")


def _plan(**config) -> StudyPlan:
    return StudyPlan.from_config(validate_config(config))


def _rules() -> dict[str, str]:
    """Rule name -> its block of text, over the Snakefile and every rule file."""
    out = {}
    for path in RULE_FILES:
        blocks = re.split(r"\n(?=(?:local)?rule \w+:)", path.read_text(encoding="utf-8"))
        out.update({m.group(1): b for b in blocks if (m := re.match(r"(?:local)?rule (\w+):", b))})
    return out


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    """String constants of a module, docstrings excluded."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


# ---- paths are written once ---------------------------------------------------------------------


def test_results_paths_are_written_only_in_the_plan():
    found = []
    for path in sorted(WORKFLOW.rglob("*.py")):
        if PLAN_DIR in path.parents:
            continue
        for node in _string_constants(ast.parse(path.read_text(encoding="utf-8"))):
            if node.value == "results" or node.value.startswith("results/"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    for path in RULE_FILES:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"""["']results(/|["'])""", line) or re.search(r"""\.split\(["']/["']\)""", line):
                found.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert found == []


def test_inside_the_plan_only_the_paths_module_writes_paths():
    """Stage plans build paths through :mod:`mira.study.plan.paths`; no path is cut apart."""
    for path in sorted(PLAN_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert ".split(\"/\")" not in text and ".split('/')" not in text, path.name
        if path.name == "paths.py":
            continue
        slashed = [n.value for n in _string_constants(ast.parse(text)) if re.fullmatch(r"\S*/\S*", n.value)]
        assert slashed == [], (path.name, slashed)


def test_paths_layout():
    assert paths.restored("phantom", "ct", "test", "low_dose", "moderate", "bm3d") == \
        "results/restored/phantom/ct/test/low_dose/moderate/bm3d"
    assert paths.network_model("edsr", "x2") == "results/models/edsr/x2/model.pt"
    assert paths.log("degrade", "source", "level") == "results/logs/degrade/{source}_{level}.log"
    assert paths.benchmark("dataset_table") == "results/benchmarks/dataset_table/dataset_table.tsv"
    assert (paths.DATASETS.csv, paths.DATASETS.md) == ("results/tables/datasets.csv", "results/tables/datasets.md")


# ---- parsing the workflow imports no numerics ---------------------------------------------------

_GUARD = textwrap.dedent("""
    import builtins, sys
    roots, blocked = (sys.argv.pop(1), sys.argv.pop(1)), set(sys.argv.pop(1).split(","))
    real_import = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        caller = sys._getframe(1).f_code.co_filename
        if level == 0 and name.split(".")[0] in blocked and caller.startswith(roots):
            raise ImportError(f"{caller} imports {name} while the workflow is parsed")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded
    sys.argv[0] = "snakemake"
    from snakemake.cli import main
    main()
""")


def _guarded_dry_run(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    """``snakemake -n`` (or ``args``) where any import of a numeric package by the Snakefile, a rule file
    or the mira package fails (Snakemake's own imports are allowed)."""
    roots = (str(WORKFLOW) + "/", str(REPO / "Snakefile"))
    cmd = [sys.executable, "-c", _GUARD, *roots, ",".join(NUMERICS), "-s", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(config)]
    cmd += list(args or ("-n", "--cores", "1", "--quiet", "rules"))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)


def test_snakefile_parses_without_numerics(tmp_path):
    proc = _guarded_dry_run(tmp_path, REPO / "config.yaml")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "restore_deep" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_numeric_import_guard_can_fail(tmp_path):
    """The guard is not vacuous: a parameter override is judged by running the library (numpy), which
    the guarded dry run refuses."""
    cfg = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    cfg["degrade"]["parameters"] = {"ct": {"low_dose": {"severe": {"incident_photons": 2000}}}}
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = _guarded_dry_run(tmp_path, path, "--list-rules")
    assert proc.returncode != 0 and "checks.py imports numpy while the workflow is parsed" in proc.stdout + proc.stderr


# ---- stage plans -------------------------------------------------------------------------------


def test_degradations_mirror_the_level_table():
    from mira.degrade import LEVELS

    assert graded_degradations() == {m: tuple(names) for m, names in LEVELS.items()}


def test_degrade_plan_lists_jobs_and_rejects_bad_config():
    cfg = validate_config({"degrade": {"degradations": {"ct": ["low_dose"], "us": []}, "sr_scales": [2]}})
    plan = DegradePlan(Settings.from_config(cfg), [("phantom", "ct"), ("phantom", "us"), ("pydicom_ct", "ct")])
    assert plan.folders("phantom", "ct", "test") == [
        "results/degraded/phantom/ct/test/low_dose/mild", "results/degraded/phantom/ct/test/low_dose/moderate",
        "results/degraded/phantom/ct/test/low_dose/severe", "results/degraded/phantom/ct/test/downsample/x2"]
    assert len(plan.all_folders()) == 5  # us: SR input only
    assert "results/figures/degrade/phantom_us.png" in plan.targets()
    for degrade, message in (
            ({"degradations": {"mri": ["metal"]}}, "degrade.degradations.mri: degradation 'metal' does not apply"),
            ({"degradations": {"ct": ["downsample"]}}, "degrade.degradations.ct: 'downsample' is set by"),
            ({"parameters": {"ct": {"low_dose": {"sever": {}}}}}, "degrade.parameters.ct.low_dose.sever: unknown"),
            ({"parameters": {"ct": {"speckle": {}}}}, "degrade.parameters.ct.speckle: degradation 'speckle' does not"),
            ({"sources": ["nowhere"]}, "degrade.sources")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            _plan(degrade=degrade)


def test_restore_plan_paths_jobs_and_config_errors():
    plan = _plan().restore
    assert plan.model_for("dncnn", "mri", "moderate") == "results/models/dncnn/mri/model.pt"
    assert plan.model_for("edsr", "mri", "x3") == "results/models/edsr/x3/model.pt"
    assert plan.classical_methods[0] == "input" and "dncnn" not in plan.classical_methods
    assert plan.interpolation_methods[0] == "bicubic" and plan.sr_deep == ["srcnn", "edsr"]
    assert set(plan.models()) == {("dncnn", m) for m in ("ct", "mri", "xray", "us")} | {
        (a, f"x{s}") for a in ("srcnn", "edsr") for s in (2, 3, 4)}
    assert plan.training_inputs("dncnn", "ct") == {"train": ["results/data/phantom/ct/train"],
                                                   "val": ["results/data/phantom/ct/val"]}
    assert all("test" not in p for p in plan.training_inputs("edsr", "x2")["train"])
    arch, training = plan.training("dncnn")
    assert arch == {"depth": 8, "width": 32, "batch_norm": True} and training["patch_size"] == 40
    assert "results/tables/restore_targets.md" in plan.targets()
    for restore, key in (({"denoise": {"degradations": {"ct": ["rician_noise"]}}}, "restore.denoise.degradations.ct"),
                         ({"sources": ["elsewhere"]}, "restore.sources"),
                         ({"train_source": "elsewhere"}, "restore.train_source"),
                         ({"sr": {"train_modalities": ["pet"]}}, "restore.sr.train_modalities")):
        with pytest.raises(ConfigError, match=re.escape(key)):
            _plan(restore=restore)


def test_restored_folders_are_structured_not_parsed():
    plan = _plan(modalities=["ct", "us"], restore={"levels": ["moderate"], "sr": {"scales": [2]}}).restore
    folders = plan.restored_folders("phantom", "us")
    assert folders and {(r.source, r.modality, r.split) for r in folders} == {("phantom", "us", "test")}
    assert {r.degradation for r in folders} == {"speckle", "downsample"}
    assert [r.path for r in plan.restored_folders()] == plan.all_restored()
    assert len(plan.all_restored()) == len(plan.restored_folders("phantom", "ct")) + len(folders)


def test_evaluate_plan_follows_the_augment_stage():
    plan = _plan(augment={"policy": {"modalities": ["mri"]}, "gan": {"modalities": []}},
                 evaluate={"strategies": {"modalities": ["ct"], "strategies": ["basic", "policy", "gan"]}})
    assert plan.evaluate.strategy_jobs() == [("ct", "none"), ("ct", "basic")]
    grid = plan.evaluate.grid_inputs("phantom", "ct", "low_dose")
    assert grid["paired"] == "results/degraded/phantom/ct/test/low_dose/moderate"
    assert grid["restored"][0] == "results/restored/phantom/ct/test/low_dose/moderate/input"
    assert "augment_policy" in plan.evaluate.collect_inputs() and "augment_gan" not in plan.evaluate.collect_inputs()
    assert set(plan.figures()) <= set(plan.targets())


def test_settings_of_a_modality_rule_holds_only_its_profile():
    plan = _plan(profiles={"ct": {"metric_window": [-160, 240]}})

    class Wildcards:
        source, modality, split = "phantom", "mri", "test"

    mri = plan.settings_of("restore_deep")(Wildcards)
    Wildcards.modality = "ct"
    ct = plan.settings_of("restore_deep")(Wildcards)
    assert mri == {"restore.denoise.guard": 1.0, "profiles.mri": None}
    assert ct == {"restore.denoise.guard": 1.0, "profiles.ct": {"metric_window": [-160, 240]}}
    assert plan.settings_of("synthesize")(Wildcards)["synthesis"]["size"] == 128
    with pytest.raises(ConfigError, match="reads no settings"):
        plan.settings_of("dataset_table")


def test_rules_declare_their_own_settings():
    """Every rule runs the job dispatcher; every rule with a settings param names itself, every listed
    rule exists and its wildcards fill the config keys."""
    rules = _rules()
    assert all('"../scripts/run_job.py"' in body for body in rules.values() if "script:" in body)
    declared = {}
    for name, body in rules.items():
        m = re.search(r'settings=PLAN\.settings_of\("(\w+)"\)', body)
        if m:
            assert m.group(1) == name, name
            declared[name] = body
    assert set(RULE_SETTINGS) == set(declared)
    for name in RULE_SETTINGS:
        output = declared[name].split("output:", 1)[1]
        assert all(f'"{{{w}}}"' in output for w in wildcards_of(name)), name


def test_figures_group_is_what_the_figures_profile_forces():
    profile = yaml.safe_load((REPO / "profiles" / "figures" / "config.yaml").read_text())
    grouped = {name for name, body in _rules().items() if re.search(r'^\s+group:\s*\n?\s*"figures"', body, re.M)}
    assert len(grouped) >= 8 and set(profile["forcerun"]) == grouped
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert "figures" in slurm["group-components"] and "groups" not in slurm


def test_library_overrides_are_checked_by_the_library():
    from mira.study.checks import check_library_overrides

    for config, message in (
            ({"degrade": {"parameters": {"ct": {"blur": {"mild": {"fwhm": 1}}}}}}, "unknown parameter"),
            ({"degrade": {"parameters": {"ct": {"low_dose": {"severe": {"incident_photons": -5}}}}}},
             "degrade.parameters.ct.low_dose.severe"),
            ({"restore": {"train_noise": {"ct": [{"degradation": "low_dose", "parameter": "dose"}]}}},
             "restore.train_noise.ct")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_library_overrides(_plan(**config))
    check_library_overrides(_plan(degrade={"parameters": {"ct": {"low_dose": {"severe": {"incident_photons": 2e3}}}}}))

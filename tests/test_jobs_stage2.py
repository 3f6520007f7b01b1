"""Jobs of the restoration and evaluation stages (mira.study.jobs.restore / .evaluate), called as the
dispatcher calls them: a Job with Snakemake-like inputs, outputs and wildcards and real Settings."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snakemake.iocontainers import Namedlist

import mira.study.jobs.evaluate as evaluate_jobs
import mira.study.jobs.restore as restore_jobs
from mira.config import validate_config
from mira.study.jobs import Job, job_for
from mira.study.plan import StudyPlan
from mira.study.settings import Settings

SMALL = {"restore": {"levels": ["moderate"], "denoise": {"methods": ["input", "gaussian", "tv", "dncnn"]},
                     "sr": {"scales": [2], "methods": ["bicubic", "srcnn"]}}}


def _settings(**extra) -> Settings:
    return Settings.from_config(validate_config({**SMALL, **extra}))


def _named(*items, **named) -> Namedlist:
    """A Snakemake-like named list: positional items, then named ones (reachable by attribute and .get)."""
    out = Namedlist(list(items))
    for key, value in named.items():
        out.append(value)
        out._set_name(key, len(out) - 1)
    return out


def _job(rule: str, settings: Settings, inputs: Namedlist, outputs: Namedlist, **wildcards) -> Job:
    return Job(input=inputs, output=outputs, wildcards=_named(**wildcards), threads=1,
               log=logging.getLogger("test-jobs"), settings=settings, rule=rule)


@pytest.fixture(scope="module")
def paired_ct(tmp_path_factory):
    """Two 2D CT phantoms of the test split and their moderate Gaussian-noise paired folder (library-made)."""
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset
    from mira.study.degrade_stage import degrade_dataset

    root = tmp_path_factory.mktemp("jobs_stage2")
    write_synthetic_dataset(root / "clean", SyntheticSpec("phantom", "ct", "test", n_cases=2, size=32), seed=7)
    degrade_dataset(root / "clean", root / "paired", degradation="gaussian_noise", level="moderate", seed=7)
    return root / "paired"


def _run_classical(settings: Settings, paired, out_root) -> dict[str, pd.DataFrame]:
    methods = StudyPlan.from_settings(settings).restore.classical_methods  # the rule's outputs, in this order
    outs = [str(out_root / m) for m in methods]
    j = _job("restore_classical", settings, _named(str(paired)), _named(*outs), source="phantom", modality="ct",
             split="test", degradation="gaussian_noise", level="moderate")
    job_for("restore_classical")(j)
    return {m: pd.read_csv(out_root / m / "metrics.csv", dtype={"case_id": str, "level": str}) for m in methods}


def test_restore_classical_job_writes_the_per_case_metrics_of_the_library(paired_ct, tmp_path):
    from mira.degrade.pairs import PairedDataset
    from mira.metrics import psnr, psnr_full_range, ssim
    from mira.restore import restore

    settings = _settings()
    tables = _run_classical(settings, paired_ct, tmp_path)
    assert list(tables) == ["input", "gaussian", "tv"]  # input always first, the network is not classical
    profile = settings.profile("ct")
    pairs = PairedDataset(paired_ct)
    for method, table in tables.items():
        assert set(table["metric"]) == {"psnr", "ssim", "mae", "psnr_full_db", "mae_full", "mae_above_window",
                                        "wall_s", "cpu_s"}
        assert (table["method"] == method).all() and (table["degradation"] == "gaussian_noise").all()
        for row in pairs.rows:
            pair = pairs.load(row)
            out = restore(method, pair.degraded, profile).astype(np.float32)
            got = table[table.case_id == pair.case_id].set_index("metric")["value"]
            assert got["psnr"] == pytest.approx(psnr(pair.reference, out, profile), abs=1e-9)
            assert got["ssim"] == pytest.approx(ssim(pair.reference, out, profile), abs=1e-12)
            assert got["psnr_full_db"] == pytest.approx(psnr_full_range(pair.reference, out, profile), abs=1e-9)
        assert (tmp_path / method / "images").is_dir() and (tmp_path / method / "restore.json").is_file()


def test_a_ct_metric_window_override_changes_the_psnr_the_job_writes(paired_ct, tmp_path):
    default = _run_classical(_settings(), paired_ct, tmp_path / "default")
    narrow = _run_classical(_settings(profiles={"ct": {"metric_window": [-160, 240]}}), paired_ct, tmp_path / "narrow")
    for method in ("input", "gaussian"):
        a = default[method].query("metric == 'psnr'")["value"].to_numpy()
        b = narrow[method].query("metric == 'psnr'")["value"].to_numpy()
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
        assert not np.allclose(a, b), method


def test_settings_derived_values_of_the_jobs():
    from mira.evaluate.cohort import CohortDesign
    from mira.study.restore_stage import DenoiseOptions

    denoise = {"sigma": "oracle", "params": {"tv": {"weight": 0.1}}}
    settings = _settings(restore={**SMALL["restore"], "denoise": denoise},
                         evaluate={"strategies": {"pool_per_class": 6, "sizes": [2, 4], "patch_size": 12}})
    opts = DenoiseOptions.from_settings(settings.restore)
    assert opts.sigma_mode == "oracle" and opts.params_for("tv") == {"weight": 0.1} and opts.params_for("nlm") == {}
    design = CohortDesign.from_settings(settings.evaluate.strategies)
    assert design.pool_per_class == 6 and design.patch.side == 12
    assert design.image_size == settings.evaluate.strategies.image_size
    assert restore_jobs.target_scale("x3") == 3 and restore_jobs.target_scale("ct") == 1
    unet = evaluate_jobs.segmentation_settings(settings)
    assert "modalities" not in unet and "threads" not in unet and unet["width"] == settings.evaluate.segmentation.width


def test_collect_tables_job_heads_each_named_input(tmp_path):
    parts = {}
    for name in ("augment_summary", "restore_models"):
        parts[name] = tmp_path / f"{name}.md"
        parts[name].write_text(f"# {name}\n\n| a |\n| --- |\n| 1 |\n")
    out = tmp_path / "earlier.md"
    j = _job("evaluate_collect_tables", _settings(), _named(**{k: str(v) for k, v in parts.items()}),
             _named(str(out)))
    job_for("evaluate_collect_tables")(j)
    text = out.read_text()
    assert text.index("## Augmentation summary") < text.index("## Restoration models")
    assert "## augment_summary" in text  # the table's own heading, demoted one level


def test_every_restoration_and_evaluation_rule_has_a_job():
    """Each rule of restore.smk and evaluate.smk that runs a script has a job registered under its name."""
    rules_dir = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    rules = []
    for smk in ("restore.smk", "evaluate.smk"):
        for block in re.split(r"^rule ", (rules_dir / smk).read_text(encoding="utf-8"), flags=re.M)[1:]:
            if "script:" in block:
                rules.append(block.split(":", 1)[0].strip())
    assert len(rules) >= 20, rules
    for rule in rules:
        assert job_for(rule).__name__ == rule

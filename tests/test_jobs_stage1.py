"""The jobs of the data, augmentation and degradation rules (mira.study.jobs), called as the dispatcher calls them.

Each test builds a :class:`~mira.study.jobs.Job` by hand (Snakemake-like named inputs/outputs, real
:class:`~mira.study.settings.Settings` from a validated small config) and checks that the job writes
what the study functions write when given the same values explicitly (the job maps settings and
wildcards correctly), plus the outputs' invariants.
"""
from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from mira.config import validate_config
from mira.dataset import Dataset
from mira.degrade.pairs import PairedDataset
from mira.errors import ConfigError, ParameterError
from mira.study.jobs import Job, job_for, registered_rules
from mira.study.settings import Settings

REPO = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("test_jobs_stage1")

#: The tiny config cut down to CT, with the cheapest augmentation settings.
SMALL = {
    "modalities": ["ct"],
    "synthesis": {"size": 48, "cases": {"train": 4, "val": 2, "test": 2},
                  "volumes": {"modalities": ["ct"], "size": 32, "slices": 4,
                              "cases": {"train": 1, "val": 1, "test": 1}}},
    "inputs": {},
    "augment": {"demo": {"cases": 1, "variants": 1}, "constraints": {"cases": 1, "draws": 1},
                "policy": {"modalities": ["ct"], "method": "randaugment", "randaugment_n": [1], "randaugment_m": [5],
                           "scorer_options": {"image_size": 16, "epochs": 1, "copies": 1, "repeats": 1},
                           "time_budget_s": 0},
                "gan": {"modalities": ["ct"], "time_budget_s": 30, "max_iterations": 2, "batch_size": 4, "width": 4,
                        "latent_dim": 8, "augment_copies": 1, "n_samples": 4}},
}


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and v else v
    return out


def small_settings(**override) -> Settings:
    cfg = _merge(yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text()), copy.deepcopy(SMALL))
    return Settings.from_config(validate_config(_merge(cfg, override)))


class Files(list):
    """Snakemake's named file list: positional and by name (``files.csv``)."""

    def __init__(self, *items, **named):
        super().__init__([str(i) for i in items] + [str(v) for v in named.values()])
        for k, v in named.items():
            setattr(self, k, str(v))


def run_job(rule: str, settings: Settings, inputs: Files | None = None, outputs: Files | None = None,
            **wildcards) -> None:
    job_for(rule)(Job(input=inputs or Files(), output=outputs or Files(), wildcards=SimpleNamespace(**wildcards),
                      threads=1, log=LOG, settings=settings, rule=rule))


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return small_settings()


@pytest.fixture(scope="module")
def data(tmp_path_factory, settings) -> Path:
    """The synthesize job's 2D CT phantoms (train 4, val 2, test 2 of 48 px) and the 3D CT volumes (train 1)."""
    root = tmp_path_factory.mktemp("jobs")
    for split in ("train", "val", "test"):
        run_job("synthesize", settings, outputs=Files(root / "phantom" / "ct" / split), source="phantom", modality="ct",
                split=split)
    run_job("synthesize", settings, outputs=Files(root / "phantom3d" / "ct" / "train"), source="phantom3d",
            modality="ct", split="train")
    return root


def test_every_rule_of_the_first_stages_has_a_job():
    rules = set()
    for name in ("data", "augment", "degrade"):
        text = (REPO / "workflow" / "rules" / f"{name}.smk").read_text()
        rules |= set(re.findall(r"^rule (\w+):", text, re.MULTILINE))
    assert rules and rules <= set(registered_rules())


def test_synthesize_job_writes_what_the_settings_say(data, settings, tmp_path):
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset

    explicit = SyntheticSpec("phantom", "ct", "test", n_cases=2, ndim=2, size=48, lesion_fraction=0.5, tissues={},
                             mri_contrast="T1")
    write_synthetic_dataset(tmp_path / "direct", explicit, seed=7)
    assert tree(tmp_path / "direct") == tree(data / "phantom" / "ct" / "test")
    ds = Dataset(data / "phantom" / "ct" / "train")
    assert len(ds) == 4 and sum(r.class_label for r in ds.records) == 2 and ds.records[0].shape == (48, 48)
    vol = Dataset(data / "phantom3d" / "ct" / "train")
    assert len(vol) == 1 and vol.records[0].shape == (4, 32, 32) and vol.records[0].source == "phantom3d"


def test_degrade_job_passes_seed_overrides_and_profile(data, tmp_path):
    from mira.study.degrade_stage import degrade_dataset

    override = {"degrade": {"parameters": {"ct": {"low_dose": {"moderate": {"incident_photons": 5000}}}}}}
    s = small_settings(**override)
    out = tmp_path / "job"
    run_job("degrade", s, Files(data / "phantom" / "ct" / "test"), Files(out), source="phantom", modality="ct",
            split="test", degradation="low_dose", level="moderate")
    degrade_dataset(data / "phantom" / "ct" / "test", tmp_path / "direct", degradation="low_dose", level="moderate",
                    seed=7, source="phantom", split="test", overrides=override["degrade"]["parameters"])
    job_files, direct_files = tree(out), tree(tmp_path / "direct")
    info = json.loads(job_files.pop("degradation.json"))
    assert info["parameters"]["incident_photons"] == 5000 and info["seed"] == 7
    direct_files.pop("degradation.json")
    assert job_files == direct_files
    pairs = PairedDataset(out)
    assert len(pairs) == 2 and {r["level"] for r in pairs.rows} == {"moderate"}
    with pytest.raises(ParameterError, match="mri profile"):
        degrade_dataset(data / "phantom" / "ct" / "test", tmp_path / "bad", degradation="low_dose", level="mild",
                        seed=7, profile=s.profile("mri"))
    assert not (tmp_path / "bad").exists()


def test_degrade_job_refuses_a_degradation_of_another_modality(data, settings, tmp_path):
    with pytest.raises(ConfigError, match="does not apply to ct"):
        run_job("degrade", settings, Files(data / "phantom" / "ct" / "test"), Files(tmp_path / "x"), source="phantom",
                modality="ct", split="test", degradation="speckle", level="mild")


def test_dataset_stats_and_table_jobs(data, settings, tmp_path):
    splits = Files(*(data / "phantom" / "ct" / s for s in ("train", "val", "test")))
    run_job("dataset_stats", settings, splits, Files(tmp_path / "phantom_ct.csv"), source="phantom", modality="ct")
    stats = pd.read_csv(tmp_path / "phantom_ct.csv")
    assert set(stats["source"]) == {"phantom"} and len(stats) > 1
    out = Files(csv=tmp_path / "datasets.csv", md=tmp_path / "datasets.md")
    run_job("dataset_table", settings, Files(tmp_path / "phantom_ct.csv"), out)
    assert pd.read_csv(out.csv).equals(stats)
    assert (tmp_path / "datasets.md").read_text().startswith("# Datasets: cases, sizes, spacing")


def test_augment_jobs_write_their_outputs(data, settings, tmp_path):
    train, val, test = (str(data / "phantom" / "ct" / s) for s in ("train", "val", "test"))
    o = tmp_path
    run_job("augment_demo", settings, Files(train), Files(figure=o / "demo.png", csv=o / "s.csv", md=o / "s.md"),
            source="phantom", modality="ct")
    summary = pd.read_csv(o / "s.csv")
    assert (o / "demo.png").stat().st_size > 10000 and summary["variants"].eq(1).all()
    run_job("augment_constraints", settings, Files(train), Files(csv=o / "c.csv", draws=o / "d.csv", md=o / "c.md"),
            source="phantom", modality="ct")
    table = pd.read_csv(o / "c.csv")
    assert {"rotation", "elastic", "standard_pipeline"} <= set(table["transform"]) and table["in_range"].all()
    assert {"dice", "lesion_cnr_ratio", "violations"} <= set(pd.read_csv(o / "d.csv").metric)
    run_job("augment_constraints_table", settings, Files(o / "c.csv"), Files(csv=o / "ct.csv", md=o / "ct.md"))
    assert "elastic_textbook" in (o / "ct.md").read_text() and "Dice >= 0.9" in (o / "ct.md").read_text()
    run_job("augment_summary_table", settings, Files(o / "s.csv"), Files(csv=o / "st.csv", md=o / "st.md"))
    assert len(pd.read_csv(o / "st.csv")) == len(summary)
    run_job("augment_policy", settings, Files(train=train, val=val), Files(json=o / "p.json", csv=o / "p.csv"),
            modality="ct")
    best = json.loads((o / "p.json").read_text())
    assert best["evaluated"] == 1 and len(best["candidates"]) == 2 and best["scorer"] == "tiny_segmenter"
    assert best["scorer_options"]["image_size"] == 16 and best["seed"] == 7
    run_job("augment_gan", settings, Files(train=train, val=val, test=test),
            Files(model=o / "g.pt", sidecar=o / "g.json", samples=o / "samples", figure=o / "gan.png"), modality="ct")
    side = json.loads((o / "g.json").read_text())
    assert side["iterations"] <= 2 and side["latent_dim"] == 8 and "mmd2" in side["statistics"]
    assert side["base_channels"] == 32 and side["image_size"] == 64  # width 4 at 64 px: 4x4x32
    assert side["statistics"]["fid"] > side["statistics"]["fid_reference"]  # 2 iterations: far from real
    assert len(Dataset(o / "samples")) == 4
    run_job("augment_gan_table", settings, Files(o / "g.json"), Files(csv=o / "gan.csv", md=o / "gan.md"))
    assert "mmd2" in (o / "gan.md").read_text() and "kid_std" in (o / "gan.md").read_text()

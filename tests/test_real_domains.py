"""Real scans beside phantoms (issue 15): real sources are degraded and restored by default, networks
train on a weighted mix of sources, and every restoration table says which results come from
phantoms and which from real scans, calling out a method that does harm on a source."""
from __future__ import annotations

import pandas as pd
import pytest

from mira.config import validate_config
from mira.errors import ConfigError
from mira.sources import domain_of, training_sources
from mira.study.plan import StudyPlan, paths
from mira.study.report.findings import domain_findings
from mira.study.report.restoration_domains import harmful_groups, verdict_table, verdicts_markdown
from mira.study.report.restoration_tables import restoration_markdown, restoration_table
from mira.study.report.restoration_targets import targets_markdown, targets_table

SCANS = {"modality": "ct", "path": "pydicom:", "include": ["CT_small.dcm"]}


def _cfg(**config) -> dict:
    return validate_config(config)


# ---- configuration and plan ------------------------------------------------------------------------------


def test_real_sources_are_degraded_and_restored_by_default():
    cfg = _cfg(inputs={"scans": SCANS, "trainonly": {**SCANS, "split": {"train": 0.5, "val": 0.5}}})
    # a source without test cases cannot be restored; the default leaves it out instead of failing
    assert cfg["degrade"]["sources"] == ["phantom", "scans"]
    assert cfg["restore"]["sources"] == ["phantom", "scans"]
    plan = StudyPlan.from_config(cfg)
    restored = {r.source for r in plan.restore.restored_folders()}
    assert restored == {"phantom", "scans"}
    assert any(p.startswith(paths.degraded("scans", "ct", "test", "low_dose", "moderate")) for p in
               plan.degrade.all_folders())


def test_an_explicit_source_list_is_kept():
    cfg = _cfg(inputs={"scans": SCANS}, degrade={"sources": ["phantom"]}, restore={"sources": ["phantom"]})
    assert cfg["degrade"]["sources"] == ["phantom"] and cfg["restore"]["sources"] == ["phantom"]
    assert {r.source for r in StudyPlan.from_config(cfg).restore.restored_folders()} == {"phantom"}


def test_training_sources_are_mixed_by_weight():
    split = {"train": 0.5, "val": 0.25, "test": 0.25}
    cfg = _cfg(inputs={"scans": {**SCANS, "split": split}},
               restore={"train_source": [{"source": "phantom", "weight": 3}, {"source": "scans"}]})
    plan = StudyPlan.from_config(cfg).restore
    assert plan.train_sources == [("phantom", 3.0), ("scans", 1.0)]
    # the CT denoiser trains on both sources; the MRI one only on the phantoms (the scans are CT)
    assert plan.training_inputs("dncnn", "ct")["train"] == [paths.dataset("phantom", "ct", "train"),
                                                            paths.dataset("scans", "ct", "train")]
    assert plan.training_inputs("dncnn", "mri")["val"] == [paths.dataset("phantom", "mri", "val")]
    assert plan.source_weights("dncnn", "ct") == {"phantom": 3.0, "scans": 1.0}
    assert plan.source_weights("dncnn", "mri") is None
    # the kept weights are those that do best on the real scans, when they are in the mix
    assert plan.selection_source("dncnn", "ct") == "scans"
    assert plan.selection_source("dncnn", "mri") is None
    # SR networks pool the modalities of restore.sr.train_modalities over both sources
    assert paths.dataset("scans", "ct", "train") in plan.training_inputs("srcnn", "x2")["train"]


def test_validate_on_names_a_training_source():
    split = {"train": 0.5, "val": 0.25, "test": 0.25}
    inputs = {"scans": {**SCANS, "split": split}}
    mix = [{"source": "phantom"}, {"source": "scans"}]
    plan = StudyPlan.from_config(_cfg(inputs=inputs, restore={"train_source": mix, "validate_on": "phantom"}))
    assert plan.restore.selection_source("dncnn", "ct") == "phantom"
    with pytest.raises(ConfigError, match="restore.validate_on: 'nowhere' is not a training source"):
        StudyPlan.from_config(_cfg(inputs=inputs, restore={"train_source": mix, "validate_on": "nowhere"}))


@pytest.mark.parametrize("train_source, message", [
    ([{"source": "phantom"}, {"source": "phantom"}], "restore.train_source: a source is listed twice"),
    ([{"source": "phantom", "weight": 0}], "restore.train_source"),
    ([{"source": "phantom", "share": 1}], "restore.train_source"),
    ([], "restore.train_source"),
])
def test_bad_training_source_lists_are_refused(train_source, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(restore={"train_source": train_source})


def test_scans_as_acquired_must_not_be_phantoms():
    split = {"train": 0.5, "val": 0.25, "test": 0.25}
    as_acquired = {"dncnn": {"mode": "neighbor2neighbor", "noisy_input": "as_acquired"}}
    with pytest.raises(ConfigError, match="restore.models.dncnn.noisy_input: 'as_acquired'.*clean phantoms"):
        StudyPlan.from_config(_cfg(restore={"models": as_acquired}))
    plan = StudyPlan.from_config(_cfg(inputs={"scans": {**SCANS, "split": split}},
                                      restore={"train_source": "scans", "models": as_acquired,
                                               "denoise": {"degradations": {"mri": [], "xray": [], "us": []}},
                                               "sr": {"scales": []}}))
    assert plan.restore.training("dncnn")[1]["mode"] == "neighbor2neighbor"
    # a CT-only training source cannot train the MRI denoiser the default restoration needs
    with pytest.raises(ConfigError, match=r"restore.train_source: no training source \['scans'\] has \['mri'\]"):
        StudyPlan.from_config(_cfg(inputs={"scans": {**SCANS, "split": split}}, restore={"train_source": "scans"}))


def test_a_self_supervised_mode_for_every_network_is_refused_at_parse_time():
    with pytest.raises(ConfigError, match="restore.training.mode: 'noise2self' is for the denoiser"):
        StudyPlan.from_config(_cfg(restore={"training": {"mode": "noise2self"}}))
    with pytest.raises(ConfigError, match="restore.models.srcnn"):
        _cfg(restore={"models": {"srcnn": {"mode": "noise2self"}}})
    plan = StudyPlan.from_config(_cfg(restore={"training": {"mode": "noise2self"}, "sr": {"scales": []}}))
    assert plan.restore.training("dncnn")[1]["mode"] == "noise2self"


def test_a_mix_needs_a_training_split_of_each_source():
    with pytest.raises(ConfigError, match="inputs.scans.split: the train fraction is 0"):
        _cfg(inputs={"scans": SCANS}, restore={"train_source": [{"source": "phantom"}, {"source": "scans"}]})


def test_training_sources_and_domains():
    assert training_sources("phantom") == [("phantom", 1.0)]
    assert training_sources([{"source": "a", "weight": 2}, {"source": "b"}]) == [("a", 2.0), ("b", 1.0)]
    assert [domain_of(s) for s in ("phantom", "phantom3d", "pydicom_ct")] == ["phantom", "phantom", "real"]


# ---- tables ------------------------------------------------------------------------------------------------


def _metrics(values: dict) -> pd.DataFrame:
    """Tidy metrics: {(source, degradation, level, method): [psnr per case]}."""
    rows = []
    for (src, deg, lvl, meth), psnrs in values.items():
        for i, v in enumerate(psnrs):
            for metric, value in (("psnr", v), ("ssim", 0.5), ("mae", 1.0), ("wall_s", 0.1), ("cpu_s", 0.1)):
                rows.append(dict(source=src, modality="mri", split="test", degradation=deg, level=lvl, method=meth,
                                 case_id=f"c{i}", metric=metric, value=value))
    return pd.DataFrame(rows)


# DnCNN wins on phantoms but paints phantom statistics onto the real scans; BM3D helps on both
METRICS = _metrics({
    ("phantom", "rician_noise", "moderate", "input"): [30.0, 31.0],
    ("phantom", "rician_noise", "moderate", "bm3d"): [34.0, 35.0],
    ("phantom", "rician_noise", "moderate", "dncnn"): [36.0, 37.0],
    ("scans", "rician_noise", "moderate", "input"): [29.0, 29.5],
    ("scans", "rician_noise", "moderate", "bm3d"): [33.0, 33.5],
    ("scans", "rician_noise", "moderate", "dncnn"): [19.0, 20.0],
    ("scans", "rician_noise", "mild", "input"): [33.0],
    ("scans", "rician_noise", "mild", "bm3d"): [36.0],
    ("scans", "rician_noise", "mild", "dncnn"): [34.0],
    ("scans", "downsample", "x2", "bicubic"): [28.0],
    ("scans", "downsample", "x2", "srcnn"): [29.3],
})


def test_verdicts_put_phantom_and_real_side_by_side_and_name_the_harm():
    table = restoration_table(METRICS)
    assert set(table["domain"]) == {"phantom", "real"}
    v = verdict_table(table).set_index(["domain", "method"])
    assert v.loc[("phantom", "dncnn"), "verdict"] == "helps"
    assert v.loc[("phantom", "dncnn"), "wins"] == 1
    assert v.loc[("real", "dncnn"), "verdict"] == "harmful on scans"
    assert "rician_noise moderate -9.75 dB" in v.loc[("real", "dncnn"), "harmful_on"]
    assert "mild" not in v.loc[("real", "dncnn"), "harmful_on"]  # +1 dB there: not harmful
    assert v.loc[("real", "bm3d"), "verdict"] == "helps" and v.loc[("real", "srcnn"), "verdict"] == "helps"
    assert v.loc[("real", "dncnn"), "gain_mean_db"] == pytest.approx((-9.75 + 1.0) / 2)
    harm = harmful_groups(table)
    assert list(zip(harm["source"], harm["method"], harm["level"])) == [("scans", "dncnn", "moderate")]
    md = verdicts_markdown(verdict_table(table))
    assert "**harmful on scans**" in md and "| mri | denoise | dncnn |" in md
    assert "| phantom |" in restoration_markdown(table) and "| real |" in restoration_markdown(table)


def test_findings_call_out_a_method_harmful_on_real_scans():
    lines = domain_findings(restoration_table(METRICS))
    dncnn = next(ln for ln in lines if "denoise dncnn" in ln)
    assert "phantoms +6.00 dB (helps)" in dncnn and "**harmful on scans**" in dncnn
    phantom_only = METRICS[METRICS["source"] == "phantom"]
    assert "Only phantoms were restored" in domain_findings(restoration_table(phantom_only))[0]


def test_targets_hold_real_scans_to_their_own_bar():
    t = targets_table(METRICS)
    real = t[(t["domain"] == "real") & (t["target"] == "dncnn - bm3d PSNR (dB), real scans")].iloc[0]
    assert real["required"] == -1.0 and not real["met"]
    phantom = t[(t["domain"] == "phantom") & (t["target"] == "dncnn - bm3d PSNR (dB)")].iloc[0]
    assert phantom["required"] == 0.3 and phantom["met"]
    never = t[t["target"] == "dncnn - input PSNR (dB), never below"].set_index(["source", "level"])["met"]
    # every level, not only the benchmark level
    assert never.to_dict() == {("phantom", "moderate"): True, ("scans", "moderate"): False, ("scans", "mild"): True}
    assert t[t["target"] == "srcnn - bicubic PSNR (dB), never below"]["met"].all()
    md = targets_markdown(t)
    assert "| scans | real | mri |" in md and ">= -1.0" in md

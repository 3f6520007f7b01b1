"""The chapter's DCGAN as a configurable size, and GAN sample quality on a learned feature space (FID, KID)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from mira.augment.gan import (
    CHAPTER_DCGAN,
    base_channels_for,
    dcgan_generator,
    dcgan_nets,
    parameter_count,
    resize_images,
    to_unit,
)
from mira.augment.gan_quality import (
    FEATURE_DIM,
    frechet_distance,
    kernel_distance,
    label_grid_fractions,
    sample_quality,
    train_feature_network,
)
from mira.config import validate_config
from mira.errors import ParameterError
from mira.modalities import get_profile
from mira.study.settings import Settings
from mira.synthesis import synthesize_case

REPO = Path(__file__).resolve().parents[1]


# ---- the chapter's architecture ------------------------------------------------------------------


def test_chapter_dcgan_makes_4x4x512_from_a_100d_latent_and_256px_images():
    gen = dcgan_generator(**CHAPTER_DCGAN, seed=0)
    same = dcgan_generator(**CHAPTER_DCGAN, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(gen.state_dict().values(), same.state_dict().values()))
    z = torch.randn(2, 100, 1, 1)
    with torch.no_grad():
        first = gen[0](z)
        out = gen(z)
    assert first.shape == (2, 512, 4, 4) and out.shape == (2, 1, 256, 256)
    assert out.abs().max() <= 1.0
    convs = [m for m in gen if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [512, 256, 128, 64, 32, 16, 1]
    assert parameter_count(gen) == 3_614_944  # stated in the docstrings and docs/stages/augment.md
    _, disc = dcgan_nets(**CHAPTER_DCGAN)
    assert parameter_count(disc) == 2_803_920 and disc(out).shape == (2, 1)


def test_dcgan_sizes_and_the_compact_default():
    for size in (32, 64, 128):
        g = dcgan_generator(latent_dim=8, base_channels=base_channels_for(4, size), image_size=size, seed=1)
        assert g(torch.randn(1, 8, 1, 1)).shape == (1, 1, size, size)
    assert base_channels_for(16, 64) == 128 and base_channels_for(16, 256) == CHAPTER_DCGAN["base_channels"]
    with pytest.raises(ParameterError):
        dcgan_nets(100, 512, 48)
    with pytest.raises(ParameterError):
        dcgan_nets(100, 24, 256)  # 24 cannot be halved five times


# ---- FID and KID -----------------------------------------------------------------------------------


def test_frechet_distance_is_zero_for_a_set_and_grows_with_a_mean_shift():
    x = np.random.default_rng(0).normal(size=(300, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shifts = [0.25, 0.5, 1.0]
    fids = [frechet_distance(x, x + s) for s in shifts]
    assert fids == sorted(fids)
    assert fids == pytest.approx([8 * s ** 2 for s in shifts], rel=1e-6)  # same covariance: |shift|^2
    y = np.random.default_rng(1).normal(size=(300, 8)) * 2.0  # a wider spread also counts
    assert frechet_distance(x, y) > 1.0


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    c = rng.normal(0.5, 1.0, size=(200, 16))
    same, same_sd = kernel_distance(a, b, np.random.default_rng(1), n_subsets=20, subset_size=100)
    diff, _ = kernel_distance(a, c, np.random.default_rng(1), n_subsets=20, subset_size=100)
    assert abs(same) < 3 * same_sd + 0.02 and diff > 0.2 and diff > 10 * abs(same)
    again = kernel_distance(a, b, np.random.default_rng(1), n_subsets=20, subset_size=100)
    assert again == (same, same_sd)


# ---- the feature network ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phantoms():
    """CT phantoms (32 px) in GAN units with their label maps: 16 training, 8 held out."""
    cases = [synthesize_case("ct", np.random.default_rng(i), size=32) for i in range(24)]
    x = to_unit(resize_images([c.image for c in cases], 32), get_profile("ct"))
    return x[:16], [c.label for c in cases[:16]], x[16:]


@pytest.fixture(scope="module")
def feature_net(phantoms):
    x, labels, _ = phantoms
    return train_feature_network(x, labels, seed=3, steps=80)


def test_label_grid_fractions_sum_to_one_per_cell():
    lab = np.zeros((8, 8), np.int64)
    lab[:4, :4] = 2
    f = label_grid_fractions([lab], 3, grid=2)
    assert f.shape == (1, 3, 2, 2) and np.allclose(f.sum(1), 1.0)
    assert f[0, 2, 0, 0] == 1.0 and f[0, 0, 1, 1] == 1.0


def test_feature_network_is_deterministic_and_its_features_are_fixed(phantoms, feature_net):
    x, labels, ho = phantoms
    again = train_feature_network(x, labels, seed=3, steps=80)
    other = train_feature_network(x, labels, seed=4, steps=80)
    f = feature_net.features(ho)
    assert feature_net.task == "label_grid" and f.shape == (len(ho), FEATURE_DIM)
    assert f.tobytes() == again.features(ho).tobytes()
    assert f.tobytes() != other.features(ho).tobytes()
    assert np.allclose(feature_net.features(x).mean(0), 0, atol=1e-6)  # standardised on the training images
    assert not any(p.requires_grad for p in feature_net.model.parameters())


def test_sample_quality_puts_real_images_at_the_floor_and_noise_far_above(phantoms, feature_net):
    x, _, ho = phantoms
    noise = np.random.default_rng(0).uniform(-0.9, 0.9, x.shape).astype(np.float32)
    q = sample_quality(noise, x, ho, feature_net, np.random.default_rng(0), n_subsets=20)
    assert set(q) == {"fid", "fid_reference", "kid", "kid_std", "kid_reference", "kid_reference_std"}
    assert q["fid"] > 3 * q["fid_reference"] and q["kid"] > q["kid_reference"] + 3 * q["kid_std"]


def test_rotation_task_without_labels(phantoms):
    x, _, _ = phantoms
    net = train_feature_network(x, None, seed=0, steps=10)
    assert net.task == "rotation" and net.features(x[:3]).shape == (3, FEATURE_DIM)


# ---- the config key reaches the job; the GAN table ---------------------------------------------------


def _settings(gan: dict) -> Settings:
    cfg = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    cfg["modalities"] = ["ct"]
    cfg["augment"]["gan"].update(gan)
    return Settings.from_config(validate_config(cfg))


def test_architecture_chapter_key_reaches_the_gan_job(tmp_path, monkeypatch):
    from mira.study import augment_stage
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset
    from mira.study.jobs import Job, job_for

    assert augment_stage.gan_architecture(_settings({}).augment.gan) == dict(latent_dim=64, base_channels=128,
                                                                             image_size=64)
    settings = _settings({"architecture": "chapter"})
    folders = {}
    for split in ("train", "val", "test"):
        folders[split] = tmp_path / split
        write_synthetic_dataset(folders[split], SyntheticSpec("phantom", "ct", split, n_cases=2, size=32), seed=1)
    seen = {}

    def fake_train(x, **kw):
        seen.update(kw, shape=x.shape)
        raise RuntimeError("stop here")

    monkeypatch.setattr(augment_stage, "train_dcgan", fake_train)
    inputs = SimpleNamespace(**{k: str(v) for k, v in folders.items()})
    outputs = SimpleNamespace(model="m.pt", sidecar="s.json", samples="s", figure="f.png")
    with pytest.raises(RuntimeError, match="stop here"):
        job_for("augment_gan")(Job(input=inputs, output=outputs, wildcards=SimpleNamespace(modality="ct"), threads=1,
                                   log=logging.getLogger("test"), settings=settings, rule="augment_gan"))
    assert seen["latent_dim"] == 100 and seen["base_channels"] == 512 and seen["shape"][1:] == (256, 256)


def test_gan_table_reports_the_gan_vs_none_effect_with_its_interval(tmp_path):
    from mira.study.plan.augment import AugmentPlan
    from mira.study.plan.data import DataPlan
    from mira.study.report.augmentation import write_gan_table

    side = {"modality": "ct", "architecture": "DCGAN, compact", "image_size": 64, "generator_parameters": 303840,
            "iterations": 10, "cpu_s": 1.0, "stopped_by": "iterations", "n_training_images": 8,
            "statistics": {"mmd2": 0.1, "fid": 5.0, "fid_reference": 1.0, "kid": 0.2, "kid_std": 0.01}}
    (tmp_path / "g.json").write_text(json.dumps(side))
    pd.DataFrame([
        {"modality": "ct", "strategy": "none", "size_per_class": 2, "seeds": 3, "delta_accuracy": 0.0},
        {"modality": "ct", "strategy": "gan", "size_per_class": 4, "seeds": 3, "accuracy_mean": 0.7,
         "delta_accuracy": 0.01, "delta_accuracy_lo": -0.05, "delta_accuracy_hi": 0.07, "auc_mean": 0.8,
         "delta_auc": 0.02, "delta_auc_lo": -0.01, "delta_auc_hi": 0.05, "ci": "t over 3 seeds"},
        {"modality": "ct", "strategy": "gan", "size_per_class": 2, "seeds": 3, "accuracy_mean": 0.6,
         "delta_accuracy": 0.04, "delta_accuracy_lo": 0.01, "delta_accuracy_hi": 0.07, "auc_mean": 0.7,
         "delta_auc": 0.03, "delta_auc_lo": 0.0, "delta_auc_hi": 0.06, "ci": "t over 3 seeds"},
    ]).to_csv(tmp_path / "strategies.csv", index=False)
    n = write_gan_table([tmp_path / "g.json"], tmp_path / "t.csv", tmp_path / "t.md",
                        strategies=tmp_path / "strategies.csv")
    row = pd.read_csv(tmp_path / "t.csv").iloc[0]
    assert n == 1 and row["fid"] == 5.0 and row["downstream_size_per_class"] == 2  # the smallest size
    assert row["downstream_delta_accuracy_lo"] == 0.01 and row["downstream_delta_accuracy_hi"] == 0.07
    md = (tmp_path / "t.md").read_text()
    assert "+0.040 [+0.010, +0.070]" in md and "+0.010 [-0.050, +0.070]" in md and "fid_reference" in md
    write_gan_table([tmp_path / "g.json"], tmp_path / "u.csv", tmp_path / "u.md")  # without the strategy study
    assert "downstream_delta_accuracy" not in pd.read_csv(tmp_path / "u.csv") and "Downstream" not in (
        tmp_path / "u.md").read_text()
    settings = _settings({})
    plan = AugmentPlan(settings, DataPlan(settings))
    assert plan.gan_table_inputs([("ct", "none"), ("ct", "gan")]) == {
        "strategies": "results/tables/evaluation/strategies.csv"}
    assert plan.gan_table_inputs([("ct", "none"), ("ct", "basic")]) == {}


def test_findings_state_the_gan_effect_with_its_interval():
    from mira.study.report.findings import gan_findings

    claims = pd.DataFrame([
        {"modality": "ct", "strategy": "basic", "size_per_class": 2, "accuracy_none": 0.6, "accuracy": 0.7,
         "delta_accuracy_ci": "[+0.050, +0.150]", "auc_none": 0.7, "auc": 0.8, "delta_auc_ci": "[+0.050, +0.150]"},
        {"modality": "ct", "strategy": "gan", "size_per_class": 2, "accuracy_none": 0.6, "accuracy": 0.64,
         "delta_accuracy_ci": "[+0.010, +0.070]", "auc_none": 0.7, "auc": 0.73, "delta_auc_ci": "[+0.000, +0.060]"}])
    lines = gan_findings(claims)
    assert len(lines) == 1 and "accuracy change +0.040 [+0.010, +0.070]" in lines[0]
    assert "AUC change +0.030 [+0.000, +0.060]" in lines[0]
    assert gan_findings(claims[claims.strategy == "basic"]) == [] and gan_findings(pd.DataFrame()) == []

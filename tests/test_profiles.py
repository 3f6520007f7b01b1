"""``profiles:`` overrides reach every stage (issue 14): metrics, degradation, the denoisers' noise
domain, training normalisation, augmentation and the strategy study take the resolved profile the
caller passes instead of looking the modality up in the built-in table."""
from __future__ import annotations

import numpy as np
import pytest

from mira.config import validate_config
from mira.modalities import ModalityProfile, as_profile, get_profile
from mira.study.settings import Settings

CT = get_profile("ct")
#: A soft-tissue window and a tight augmentation noise range, as a user would set them in config.yaml.
OVERRIDES = {"ct": {"metric_window": [-160, 240], "noise_sigma_range": [1, 2]}}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_config(validate_config({"profiles": OVERRIDES}))


@pytest.fixture(scope="module")
def ct(settings) -> ModalityProfile:
    return settings.profile("ct")


def _pair(seed: int = 0, shape=(48, 48)) -> tuple[np.ndarray, np.ndarray]:
    """A soft-tissue CT image (-100..100 HU with a bone block) and a noisy copy, HU."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape)
    ref[8:40, 8:40] = 60.0
    ref[20:28, 20:28] = 700.0
    ref += np.linspace(-100, 0, shape[1])[None, :]
    return ref, ref + rng.normal(0.0, 25.0, shape)


# ---- (c) settings ---------------------------------------------------------------------------------


def test_settings_resolve_the_overrides_once_and_keep_other_fields(settings, ct):
    assert ct.metric_window == (-160, 240) and ct.noise_sigma_range == (1, 2)
    assert ct.data_range == 400.0
    assert (ct.value_range, ct.fill_value, ct.rotation_deg) == (CT.value_range, CT.fill_value, CT.rotation_deg)
    assert settings.profile("mri") == get_profile("mri")  # no override: the built-in profile
    assert settings.profile("CT") is ct  # resolved once, shared


def test_strict_functions_refuse_a_modality_string():
    from mira.metrics import psnr
    from mira.restore.noise_models import window_normalise

    ref, img = _pair()
    with pytest.raises(TypeError, match="ModalityProfile"):
        psnr(ref, img, "ct")
    with pytest.raises(TypeError, match="ModalityProfile"):
        window_normalise(img, "ct")
    assert as_profile("ct") == CT and as_profile(CT) is CT


# ---- (a) metrics ----------------------------------------------------------------------------------


def test_metric_window_override_changes_psnr_ssim_mae(ct):
    from mira.metrics import mae, psnr, ssim

    ref, img = _pair()
    assert psnr(ref, img, ct) != pytest.approx(psnr(ref, img, CT), abs=0.1)
    assert ssim(ref, img, ct) != pytest.approx(ssim(ref, img, CT), abs=1e-3)
    # the window is the data range: the same error in HU is a larger fraction of a 400 HU window
    # (the bone block lies outside both windows' upper edges only for the soft-tissue one)
    lo, hi = ct.metric_window
    r, t = np.clip(ref, lo, hi), np.clip(img, lo, hi)
    expected = 10 * np.log10(400.0 ** 2 / np.mean((r - t) ** 2))
    assert psnr(ref, img, ct) == pytest.approx(expected, abs=1e-9)
    assert mae(ref, img, ct) == pytest.approx(float(np.mean(np.abs(r - t))), abs=1e-9)


def test_metric_window_override_reaches_the_restoration_stage_metrics(tmp_path, ct):
    """The per-case metrics written by the restoration stage use the profile the job passes."""
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset
    from mira.study.degrade_stage import degrade_dataset
    from mira.study.restore_stage import restore_folder

    write_synthetic_dataset(tmp_path / "ct", SyntheticSpec("phantom", "ct", "test", n_cases=2, size=32), seed=3)
    degrade_dataset(tmp_path / "ct", tmp_path / "deg", degradation="gaussian_noise", level="moderate", seed=3)
    tables = {name: restore_folder(tmp_path / "deg", tmp_path / name, "input", prof)
              for name, prof in (("default", CT), ("override", ct))}
    psnrs = {k: t[t.metric == "psnr"].set_index("case_id")["value"] for k, t in tables.items()}
    ssims = {k: t[t.metric == "ssim"].set_index("case_id")["value"] for k, t in tables.items()}
    assert (psnrs["default"] - psnrs["override"]).abs().min() > 0.1
    assert (ssims["default"] - ssims["override"]).abs().min() > 1e-4


# ---- (b) degradation ------------------------------------------------------------------------------


def test_degradation_runs_with_the_profile_it_is_given():
    """degrade.apply clips to the given profile's value range and records the profile on the result;
    the grading reads its window (MTF edge) and background (SNR) from that profile."""
    from mira.degrade import apply
    from mira.degrade.grading import _edge_values, regions

    narrow = CT.with_overrides({"value_range": [-200.0, 200.0]})
    img = np.zeros((32, 32))
    img[8:24, 8:24] = 150.0

    def rng():
        return np.random.default_rng(5)

    default = apply("gaussian_noise", img, "severe", rng(), profile=CT, spacing=(1.0, 1.0))
    clipped = apply("gaussian_noise", img, "severe", rng(), profile=narrow, spacing=(1.0, 1.0))
    assert default.profile is CT and clipped.profile is narrow
    assert default.image.max() > 200.0 and clipped.image.max() <= 200.0
    np.testing.assert_array_equal(clipped.image, np.clip(default.image, -200.0, 200.0))
    assert apply("gaussian_noise", img, "severe", rng(), modality="ct", spacing=(1.0, 1.0)).image.tobytes() \
        == default.image.tobytes()  # transitional alias: same as the built-in profile
    assert _edge_values(CT.with_overrides({"metric_window": [-160, 240]})) == (-80.0, 160.0)
    # the SNR signal region is chosen above the profile's background level
    lab = np.zeros((32, 32), np.uint8)
    lab[:, :16], lab[:, 16:] = 1, 2
    im = np.where(lab == 1, 100.0, -900.0)
    legend = {1: "water", 2: "lung"}
    assert regions(lab, legend, im, CT)["signal_name"] == "water"  # 1100 HU above air vs 100 HU
    dark_bg = CT.with_overrides({"fill_value": 100.0})
    assert regions(lab, legend, im, dark_bg)["signal_name"] == "lung"  # now water is at the background


def test_noise_domain_uses_the_given_window(ct):
    """The denoisers' working scale (and so their noise level in working units) follows the window."""
    from mira.restore import restore
    from mira.restore.noise_models import (
        noise_domain,
        window_denormalise,
        window_normalise,
    )

    _, img = _pair(1)
    u = window_normalise(img, ct)
    np.testing.assert_allclose(u, (img + 160.0) / 400.0)
    np.testing.assert_allclose(window_denormalise(u, ct), img, atol=1e-9)
    dom = noise_domain(ct)
    dom.forward(img, sigma=20.0)
    assert dom.sigma == pytest.approx(20.0 / 400.0) and dom.modality == "ct"
    # a parameter given in working units means another strength in HU under another window
    # (with the default sigma-tied parameters the denoisers are scale-equivariant: same output)
    assert not np.allclose(restore("tv", img, ct, weight=0.05), restore("tv", img, CT, weight=0.05))
    np.testing.assert_allclose(restore("tv", img, ct, sigma=20.0), restore("tv", img, CT, sigma=20.0), atol=1e-6)


# ---- (b) training ---------------------------------------------------------------------------------


def test_training_normalisation_follows_the_profile(ct, tmp_path):
    """restore.training normalises with window_normalise(deg.image, deg.profile): the profile the
    degradation ran with; a network is applied only with the window it was trained with."""
    import torch

    from mira.degrade import apply
    from mira.errors import ParameterError
    from mira.restore.inference import apply_model, load_model, prepare_input
    from mira.restore.models import build_model
    from mira.restore.noise_models import window_normalise
    from mira.restore.training import save_checkpoint

    _, img = _pair(2, (32, 32))
    deg = apply("gaussian_noise", img, "moderate", np.random.default_rng(1), profile=ct, spacing=(1.0, 1.0))
    lo, hi = ct.metric_window
    np.testing.assert_allclose(window_normalise(deg.image, deg.profile), (deg.image - lo) / (hi - lo))
    np.testing.assert_allclose(prepare_input("dncnn", deg.image, ct), (deg.image - lo) / (hi - lo))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_model("dncnn", {"depth": 3, "width": 4})
    meta = {"architecture": "dncnn", "params": {"depth": 3, "width": 4}, "task": "denoise", "modalities": ["ct"],
            "normalisation": {"ct": list(ct.metric_window)}}
    save_checkpoint(net, meta, tmp_path / "m" / "model.pt")
    model = load_model(tmp_path / "m" / "model.pt", device="cpu")
    out = apply_model(model, deg.image, ct)
    assert out.shape == deg.image.shape
    with pytest.raises(ParameterError, match="window"):
        apply_model(model, deg.image, CT)


# ---- (b) augmentation and the strategy study ------------------------------------------------------


def test_augmentation_noise_draws_stay_inside_the_overridden_range(ct):
    from mira.augment import RandomNoise, Sample, standard_pipeline
    from mira.errors import ParameterError
    from mira.evaluate.strategies import build_strategy

    img = np.zeros((24, 24))
    sample = Sample(image=img, spacing=(1.0, 1.0), modality="ct")
    t = RandomNoise(modality=ct)
    sigmas = [t(sample, np.random.default_rng(i)).history[-1]["params"]["sigma"] for i in range(40)]
    assert min(sigmas) >= 1.0 and max(sigmas) <= 2.0
    assert RandomNoise(modality=CT)(sample, np.random.default_rng(0)).history[-1]["params"]["sigma"] >= 10.0
    with pytest.raises(ParameterError):  # wider than the overridden limit: refused
        RandomNoise(sigma_range=(1.0, 5.0), modality=ct)

    def drawn(transform) -> list[float]:
        out = []
        for i in range(30):
            hist = transform(sample, np.random.default_rng(i)).history
            out += [h["params"]["sigma"] for h in hist if h["transform"] == "RandomNoise"]
        return out

    for transform in (standard_pipeline(ct, p_noise=1.0), build_strategy("intensity", ct).transform):
        vals = drawn(transform)
        assert vals and min(vals) >= 1.0 and max(vals) <= 2.0


def test_strategy_cohort_keeps_the_profile(tmp_path, ct):
    from mira.evaluate.cohort import CohortDesign, PatchSpec, load_cohort, make_cohort

    out = tmp_path / "c.npz"
    make_cohort(out, ct, CohortDesign(2, 1, 48, PatchSpec(12, 1.5)), seed=1)
    assert load_cohort(out, ct).profile is ct
    assert load_cohort(out).profile == CT


def test_restore_training_records_and_uses_the_overridden_window(tmp_path, ct):
    """train_restorer normalises with the profile it is given and records its window in the sidecar."""
    from mira.errors import ParameterError
    from mira.restore.inference import apply_model, load_model
    from mira.restore.training import train_restorer
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset

    for split, n in (("train", 2), ("val", 1)):
        write_synthetic_dataset(tmp_path / split, SyntheticSpec("phantom", "ct", split, n_cases=n, size=32), seed=5)
    tiny = {"epochs": 1, "steps_per_epoch": 2, "patch_size": 16, "batch_size": 2, "budget_s": 0, "copies": 1,
            "val_cases": 1, "threads": 1, "device": "cpu", "patience": 5}
    meta = train_restorer("dncnn", [tmp_path / "train"], [tmp_path / "val"], tmp_path / "m" / "model.pt", seed=1,
                          profiles={"ct": ct}, arch_params={"depth": 3, "width": 4}, settings=tiny)
    assert meta["normalisation"] == {"ct": [-160, 240]}
    model = load_model(tmp_path / "m" / "model.pt", device="cpu")
    img = np.zeros((16, 16))
    assert apply_model(model, img, ct).shape == img.shape
    with pytest.raises(ParameterError, match="window"):
        apply_model(model, img, CT)

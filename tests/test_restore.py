"""mira.restore: classical denoisers, noise models, interpolation, networks, evaluation, plan, bad inputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import polygamma

from mira.config import validate_config
from mira.degrade import apply
from mira.errors import ConfigError, InputError, ParameterError
from mira.metrics import psnr
from mira.modalities import get_profile as P
from mira.restore import METHODS, get_method, methods, restore
from mira.restore.classical import DENOISERS, _gaussian_sure, _median_sure
from mira.restore.interpolation import KERNELS, upscale
from mira.restore.noise_models import (
    log_speckle_mean_db,
    log_speckle_std_db,
    looks_from_sigma,
    noise_domain,
    rician_bias_correct,
    sector_mask,
    window_denormalise,
    window_normalise,
)
from mira.seeding import rng_for
from mira.synthesis import synthesize_case

CLASSICAL = tuple(DENOISERS)


@pytest.fixture(scope="module")
def ct_case():
    return synthesize_case("ct", rng_for(3, "test-restore", "ct"), ndim=2, size=64)


def _noisy(case, modality, degradation, params, key="n"):
    out = apply(degradation, case.image, params, rng_for(3, "test-restore", key), modality=modality,
                spacing=case.spacing)
    return out.image, out.reference


# ---- classical -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shepp_logan_ct():
    """The Shepp-Logan phantom in HU (-1000..1000), 96 x 96, with white noise of 300 HU."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    ref = -1000.0 + 2000.0 * resize(shepp_logan_phantom(), (96, 96), anti_aliasing=True)
    return ref + rng_for(3, "shepp-logan").normal(0.0, 300.0, ref.shape), ref


@pytest.mark.parametrize("method", CLASSICAL)
def test_every_classical_denoiser_raises_psnr_on_a_noisy_phantom(shepp_logan_ct, method):
    noisy, ref = shepp_logan_ct
    before = psnr(ref, noisy, P("ct"))
    out = restore(method, noisy, "ct")
    assert out.shape == noisy.shape and np.all(np.isfinite(out))
    assert psnr(ref, out, P("ct")) > before + 1.0, method


@pytest.mark.parametrize("modality,degradation,params", [
    ("mri", "rician_noise", {"sigma": 0.1}),
    ("xray", "quantum_noise", {"photons_per_pixel": 100.0, "electronic_sigma": 1.0}),
    ("us", "speckle", {"looks": 1}),
])
@pytest.mark.parametrize("method", ["nlm", "bm3d", "tv", "wavelet_bayesshrink"])
def test_noise_model_aware_denoisers_raise_psnr_on_every_modality(modality, degradation, params, method):
    case = synthesize_case(modality, rng_for(3, "test-restore", modality), ndim=2, size=64)
    noisy, ref = _noisy(case, modality, degradation, params, key=modality)
    out = restore(method, noisy, modality)
    assert psnr(ref, out, P(modality)) > psnr(ref, noisy, P(modality)) + 0.5
    lo, hi = get_profile_range(modality)
    assert out.min() >= lo and out.max() <= hi


def get_profile_range(modality):
    from mira.modalities import get_profile

    return get_profile(modality).value_range


def test_rician_bias_correction_beats_plain_denoising_on_mri():
    case = synthesize_case("mri", rng_for(3, "test-restore", "mri-bias"), ndim=2, size=64)
    noisy, ref = _noisy(case, "mri", "rician_noise", {"sigma": 0.08}, key="mri-bias")
    aware = psnr(ref, restore("nlm", noisy, "mri", sigma=0.08), P("mri"))
    plain = psnr(ref, restore("nlm", noisy, "mri", sigma=0.08, noise_model=False), P("mri"))
    assert aware > plain + 1.0


def test_denoisers_handle_volumes_and_given_sigma(ct_case):
    vol = np.stack([ct_case.image] * 3)
    noisy = vol + rng_for(1, "vol").normal(0, 60.0, vol.shape)
    for method in ("gaussian", "bilateral", "bm3d", "median"):
        out = restore(method, noisy, "ct", sigma=60.0)
        assert out.shape == vol.shape
        assert psnr(vol, out, P("ct")) > psnr(vol, noisy, P("ct"))


def test_sure_picks_a_small_width_at_low_noise_and_a_large_one_at_high_noise(ct_case):
    u = window_normalise(ct_case.image, P("ct"))
    rng = rng_for(1, "sure")
    low = _gaussian_sure(u + rng.normal(0, 0.002, u.shape), 0.002)
    high = _gaussian_sure(u + rng.normal(0, 0.2, u.shape), 0.2)
    assert low < high
    name_low, _ = _median_sure(u + rng.normal(0, 0.002, u.shape), 0.002)
    name_high, _ = _median_sure(u + rng.normal(0, 0.3, u.shape), 0.3)
    assert name_low == "cross3" and name_high != "cross3"


# ---- noise models -------------------------------------------------------------------------------------------


def test_ct_window_normalisation_round_trips_hu_exactly():
    hu = np.array([-1024.0, -1000.0, 0.0, 40.0, 1000.0, 3071.0])
    u = window_normalise(hu, P("ct"))
    assert u[1] == 0.0 and u[4] == 1.0 and u[-1] > 1.0  # outside the window: kept, not clipped
    np.testing.assert_allclose(window_denormalise(u, P("ct")), hu, rtol=0, atol=1e-9)


def test_ct_noise_domain_round_trip_is_identity_for_the_identity_denoiser():
    img = np.linspace(-1024, 3071, 64 * 64).reshape(64, 64)
    dom = noise_domain(P("ct"))
    np.testing.assert_allclose(dom.inverse(dom.forward(img, sigma=10.0)), img, atol=1e-9)
    assert dom.sigma == pytest.approx(10.0 / 2000.0)


def test_rician_bias_correction_inverts_the_rician_mean():
    from mira.degrade.noise import rician_mean

    amplitude = np.array([0.0, 0.02, 0.05, 0.1, 0.5, 1.0, 3.0])
    sigma = 0.05
    corrected = rician_bias_correct(rician_mean(amplitude, sigma), sigma)
    np.testing.assert_allclose(corrected[1:], amplitude[1:], rtol=2e-3, atol=2e-4)
    assert corrected[0] < 0.01 * sigma
    # below the Rayleigh floor: 0
    assert rician_bias_correct(np.array([0.5 * sigma]), sigma)[0] == 0.0
    # simulated: the mean magnitude of Rician data maps back to the amplitude
    rng = rng_for(1, "rice")
    m = np.hypot(0.1 + rng.normal(0, sigma, 200_000), rng.normal(0, sigma, 200_000)).mean()
    assert rician_bias_correct(np.array([m]), sigma)[0] == pytest.approx(0.1, abs=1e-3)


def test_log_speckle_statistics_match_simulated_speckle():
    from mira.degrade.ultrasound import speckle_field

    for looks in (1, 4):
        f = speckle_field((256, 256), looks, rng_for(1, "speckle", looks))
        db = 10 * np.log10(f)
        assert db.mean() == pytest.approx(log_speckle_mean_db(looks), abs=0.05)
        assert db.std() == pytest.approx(log_speckle_std_db(looks), rel=0.02)
    assert log_speckle_mean_db(1) == pytest.approx(-2.507, abs=1e-3)
    assert log_speckle_std_db(1) == pytest.approx(10 / np.log(10) * np.sqrt(polygamma(1, 1)))
    for looks in (1.0, 2.5, 20.0):
        assert looks_from_sigma(log_speckle_std_db(looks) / 60.0) == pytest.approx(looks, rel=1e-6)


def test_sector_mask_keeps_the_scan_sector():
    case = synthesize_case("us", rng_for(3, "test-restore", "us-mask"), ndim=2, size=64)
    mask = sector_mask(case.image)
    assert mask[case.image > 0].all()
    assert 0.2 < mask.mean() < 0.9
    noisy, _ = _noisy(case, "us", "speckle", {"looks": 2}, key="us-mask")
    out = restore("bm3d", noisy, "us")
    assert np.all(out[~sector_mask(noisy)] == 0)


# ---- interpolation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("kernel", KERNELS)
def test_interpolation_shapes_and_constant_images(kernel, scale):
    lr = np.full((10, 7), 123.0)
    out = restore(kernel, lr, "ct", scale=scale)
    assert out.shape == (10 * scale, 7 * scale)
    np.testing.assert_allclose(out, 123.0, atol=1e-3)
    vol = upscale(np.zeros((3, 5, 6)), scale, kernel)
    assert vol.shape == (3, 5 * scale, 6 * scale)


def test_bicubic_beats_nearest_on_a_downsampled_phantom(ct_case):
    deg = apply("downsample", ct_case.image, "x2", None, modality="ct", spacing=ct_case.spacing)
    scores = {k: psnr(deg.reference, restore(k, deg.image, "ct", scale=2), P("ct")) for k in KERNELS}
    assert scores["bicubic"] > scores["nearest"] and scores["bilinear"] > scores["nearest"]


# ---- bad inputs ------------------------------------------------------------------------------------------------


def test_unknown_method_wrong_scale_and_missing_model_give_clear_errors(tmp_path, ct_case):
    with pytest.raises(ParameterError, match="unknown restoration method 'bm4d'"):
        restore("bm4d", ct_case.image, "ct")
    with pytest.raises(ParameterError, match="scale must be an integer"):
        restore("bicubic", ct_case.image, "ct", scale=1)
    with pytest.raises(ParameterError, match="scale must be an integer"):
        restore("lanczos", ct_case.image, "ct", scale=2.5)
    with pytest.raises(ParameterError, match="needs a scale"):
        restore("bicubic", ct_case.image, "ct")
    with pytest.raises(ParameterError, match="is a denoiser"):
        restore("bm3d", ct_case.image, "ct", scale=2)
    with pytest.raises(ParameterError, match="needs a trained model"):
        restore("dncnn", ct_case.image, "ct")
    missing = tmp_path / "nowhere" / "model.pt"
    with pytest.raises(InputError, match="no such model checkpoint"):
        restore("dncnn", ct_case.image, "ct", model=missing)
    with pytest.raises(ConfigError, match="unknown modality"):
        restore("tv", ct_case.image, "pet")
    with pytest.raises(ParameterError, match="bad parameters"):
        restore("tv", ct_case.image, "ct", strength=3)
    with pytest.raises(ParameterError, match="median size|footprint"):
        restore("median", ct_case.image, "ct", footprint="hexagon")
    with pytest.raises(ParameterError, match="NaN"):
        restore("nlm", np.full((8, 8), np.nan), "ct")


def test_registry_lists_methods_by_task():
    assert set(methods("denoise", "classical")) == set(CLASSICAL)
    assert set(methods("sr", "interpolation")) == set(KERNELS)
    assert get_method("edsr").deep and get_method("edsr").task == "sr"
    assert METHODS["input"].family == "baseline"


# ---- evaluation on a paired folder ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Tiny phantom datasets (train/val/test of ct and mri, 48 px) and degraded test folders."""
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset
    from mira.study.degrade_stage import degrade_dataset

    root = tmp_path_factory.mktemp("restore")
    n = {"train": 3, "val": 2, "test": 2}
    for m in ("ct", "mri"):
        for split, k in n.items():
            write_synthetic_dataset(root / "data" / m / split, SyntheticSpec("phantom", m, split, n_cases=k, size=48),
                                    seed=7)
    degrade_dataset(root / "data" / "ct" / "test", root / "deg" / "ct" / "gaussian_noise" / "moderate",
                    degradation="gaussian_noise", level="moderate", seed=7)
    degrade_dataset(root / "data" / "ct" / "test", root / "deg" / "ct" / "downsample" / "x2",
                    degradation="downsample", level="x2", seed=7)
    return root


def test_restore_folder_writes_a_dataset_and_tidy_metrics(tiny_data, tmp_path):
    from mira.dataset import Dataset
    from mira.study.restore_stage import METRIC_COLUMNS, METRICS, DenoiseOptions, restore_folder

    table = restore_folder(tiny_data / "deg" / "ct" / "gaussian_noise" / "moderate", tmp_path / "tv", "tv", P("ct"))
    assert list(table.columns) == list(METRIC_COLUMNS)
    assert set(table["metric"]) == set(METRICS) and len(table) == 2 * len(METRICS)
    assert (table["method"] == "tv").all() and (table["level"] == "moderate").all()
    ds = Dataset(tmp_path / "tv")
    assert len(ds) == 2 and ds.load(ds.records[0]).label is not None
    on_disk = pd.read_csv(tmp_path / "tv" / "metrics.csv")
    assert len(on_disk) == len(table)
    info = json.loads((tmp_path / "tv" / "restore.json").read_text())
    assert info["method"] == "tv" and info["noise_model"] is True
    oracle = restore_folder(tiny_data / "deg" / "ct" / "gaussian_noise" / "moderate", tmp_path / "tv_o", "tv", P("ct"),
                            options=DenoiseOptions(sigma_mode="oracle"))
    assert json.loads((tmp_path / "tv_o" / "restore.json").read_text())["sigma_mode"] == "oracle"
    assert not oracle[oracle.metric == "psnr"]["value"].equals(table[table.metric == "psnr"]["value"])
    sr = restore_folder(tiny_data / "deg" / "ct" / "downsample" / "x2", tmp_path / "bicubic", "bicubic", P("ct"))
    assert Dataset(tmp_path / "bicubic").records[0].shape == (48, 48)
    assert sr[sr["metric"] == "psnr"]["value"].min() > 15
    with pytest.raises(ParameterError, match="is a denoiser"):
        restore_folder(tiny_data / "deg" / "ct" / "downsample" / "x2", tmp_path / "bad", "bm3d", P("ct"))
    with pytest.raises(ParameterError, match="super-resolution method"):
        restore_folder(tiny_data / "deg" / "ct" / "gaussian_noise" / "moderate", tmp_path / "bad", "bicubic", P("ct"))
    assert not (tmp_path / "bad").exists()


def test_targets_table_measures_paired_differences():
    from mira.study.report.restoration_targets import targets_markdown, targets_table

    rows = []
    for case, base in (("a", 30.0), ("b", 32.0)):
        for method, gain, cpu in (("input", 0.0, 0.0), ("tv", 1.0, 0.01), ("bm3d", 2.0, 1.0), ("dncnn", 2.5, 0.1)):
            rows.append(dict(source="phantom", modality="ct", split="test", degradation="low_dose", level="moderate",
                             method=method, case_id=case, metric="psnr", value=base + gain))
            rows.append(dict(source="phantom", modality="ct", split="test", degradation="low_dose", level="moderate",
                             method=method, case_id=case, metric="cpu_s", value=cpu))
        for method, val in (("bicubic", 30.0), ("srcnn", 31.5), ("edsr", 31.4)):
            rows.append(dict(source="phantom", modality="ct", split="test", degradation="downsample", level="x2",
                             method=method, case_id=case, metric="psnr", value=val))
    t = targets_table(pd.DataFrame(rows)).set_index("target")
    assert t.loc["tv - input PSNR (dB)", "met"] and t.loc["bm3d - input PSNR (dB)", "measured"] == pytest.approx(2.0)
    assert t.loc["dncnn - bm3d PSNR (dB)", "measured"] == pytest.approx(0.5) and t.loc["dncnn - bm3d PSNR (dB)", "met"]
    assert t.loc["bm3d / dncnn CPU time", "measured"] == pytest.approx(10.0)
    assert t.loc["srcnn - bicubic PSNR (dB)", "met"]
    assert not t.loc["edsr - srcnn PSNR (dB)", "met"]
    assert "short by 0.10 dB" in targets_markdown(t.reset_index())


# ---- plan and config --------------------------------------------------------------------------------------------


def _config(**restore):
    return validate_config({"restore": restore})


def test_restore_config_errors():
    """Job lists and config checks of the plan: tests/test_study_plan.py."""
    with pytest.raises(ConfigError, match="did you mean 'depth'"):
        _config(models={"dncnn": {"depht": 4}})
    with pytest.raises(ConfigError, match="restore.sr.methods"):
        _config(sr={"methods": ["bm3d"]})

"""Degradation simulation (mira.degrade) and its grading metrics (MTF, artifact index)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from scipy.special import erf

from mira.config import validate_config
from mira.dataset import Dataset, DatasetWriter
from mira.degrade import LEVEL_NAMES, LEVELS, all_models, apply, degradations_for, get_model, level_params
from mira.degrade import ct_projection as ctp
from mira.degrade import mri_kspace as mk
from mira.degrade.grading import band, grade_case, regions
from mira.degrade.motion import linear_motion_blur
from mira.degrade.noise import poisson_counts, rician_mean, rician_noise
from mira.degrade.pairs import PairedDataset
from mira.degrade.resolution import aliasing, downsample, psf_blur
from mira.degrade.ultrasound import speckle_field
from mira.degrade.xray import quantize, quantum_noise
from mira.errors import ConfigError, ParameterError
from mira.metrics.artifact import artifact_index
from mira.metrics.mtf import FWHM_PER_SIGMA, _signed_distance, edge_phantom, gaussian_mtf, measure_mtf, relative_mtf
from mira.metrics.quality import snr_db
from mira.modalities import get_profile
from mira.study.degrade_stage import degrade_dataset

LEGEND = {0: "background", 1: "tissue", 2: "organ", 3: "lesion"}


def toy_case(modality: str, n: int = 64):
    """A disk 'body' with an organ and a lesion inside, in the modality's units, and its label map."""
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2, xx - n / 2)
    lab = np.zeros((n, n), np.uint8)
    lab[r < 0.42 * n] = 1
    lab[np.hypot(yy - 0.4 * n, xx - 0.55 * n) < 0.16 * n] = 2
    lab[np.hypot(yy - 0.4 * n, xx - 0.55 * n) < 0.06 * n] = 3
    values = {"ct": (-1000.0, 40.0, 90.0, 150.0), "mri": (0.0, 0.7, 0.4, 0.9), "xray": (1.0, 0.45, 0.3, 0.2),
              "us": (0.0, 0.55, 0.35, 0.8)}[modality]
    img = np.choose(lab, values).astype(np.float64)
    return img, lab


# ---- noise physics ---------------------------------------------------------------------------------


def test_rician_mean_bias_at_low_snr_matches_theory():
    rng = np.random.default_rng(1)
    sigma = 0.1
    for amplitude in (0.0, 0.05, 0.1, 0.2, 0.5):
        samples = rician_noise(np.full(200_000, amplitude), sigma, rng)
        assert samples.mean() == pytest.approx(float(rician_mean(amplitude, sigma)), rel=0.01)
    # background bias: sigma sqrt(pi/2); high SNR: nearly unbiased
    assert float(rician_mean(0.0, sigma)) == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=1e-9)
    assert float(rician_mean(10.0, sigma)) == pytest.approx(10.0, rel=1e-3)
    assert (rician_noise(np.zeros(1000), sigma, rng) >= 0).all()


def test_poisson_variance_tracks_the_mean():
    rng = np.random.default_rng(2)
    for lam in (3.0, 30.0, 300.0, 3000.0):
        c = poisson_counts(np.full(100_000, lam), rng)
        assert c.var() == pytest.approx(c.mean(), rel=0.03)
        assert c.mean() == pytest.approx(lam, rel=0.01)
    n0 = 500.0  # X-ray: var(I/I0) = I / N0 on detector counts
    for intensity in (0.05, 0.3, 0.9):
        out = quantum_noise(np.full(100_000, intensity), n0, rng)
        assert out.var() == pytest.approx(intensity / n0, rel=0.04)


def test_ct_snr_falls_monotonically_with_dose():
    img, lab = toy_case("ct")
    snrs, sds = [], []
    for i0 in (1e6, 1e5, 1e4, 1e3):
        out = ctp.low_dose_ct(img, (1.5, 1.5), i0, np.random.default_rng(3))
        snrs.append(snr_db(out, lab == 1, get_profile("ct"), reference=img))
        sds.append(np.std((out - img)[lab == 1]))
    assert all(a > b for a, b in zip(snrs, snrs[1:])), snrs
    # quantum-limited: noise SD scales as 1/sqrt(I0), so a decade of dose costs ~10 dB
    ratios = np.array(sds[1:]) / np.array(sds[:-1])
    assert np.all((ratios > 2.4) & (ratios < 4.0)), ratios


def test_ct_projection_trick_keeps_pairs_registered():
    img, _ = toy_case("ct")
    assert np.allclose(ctp.mu_to_hu(ctp.hu_to_mu(img)), np.maximum(img, -1000))
    # huge dose, no electronic noise: the degraded image is the clean one up to tiny noise
    out = ctp.low_dose_ct(img, (1.0, 1.0), 1e12, np.random.default_rng(0))
    assert np.abs(out - img).max() < 1.0
    # metal: the reference carries the metal, degraded - reference is streaks (large), none inside air far away
    deg, ref = ctp.metal_artifact_ct(img, (1.0, 1.0), [[32.0, 20.0]], 3.0, np.random.default_rng(0),
                                     metal_mu_per_mm=0.3)
    metal = ctp.metal_mask(img.shape, (1.0, 1.0), [[32.0, 20.0]], 3.0)
    assert (ref[metal] == 3071.0).all() and np.array_equal(ref[~metal], img[~metal])
    assert np.sqrt(np.mean((deg - ref)[~metal] ** 2)) > 20.0
    mild, mild_ref = ctp.metal_artifact_ct(img, (1.0, 1.0), [[32.0, 20.0]], 1.0, np.random.default_rng(0),
                                           metal_mu_per_mm=0.1)
    assert artifact_index(mild, mild_ref, img) < artifact_index(deg, ref, img) / 3


def test_sparse_views_and_ct_motion_add_more_artifact_with_severity():
    img, _ = toy_case("ct")
    ai = [artifact_index(ctp.sparse_view_ct(img, (1.0, 1.0), v), img) for v in (90, 30, 10)]
    assert ai[0] < ai[1] < ai[2]
    mo = [artifact_index(ctp.motion_ct(img, (1.0, 1.0), a, 30.0, n_views=60), img) for a in (0.5, 2.0, 6.0)]
    assert mo[0] < mo[1] < mo[2]
    assert np.allclose(ctp.motion_ct(img, (1.0, 1.0), 0.0, 30.0, n_views=30), img, atol=1e-6)


def test_speckle_statistics():
    rng = np.random.default_rng(4)
    for looks in (1, 4, 16):
        f = speckle_field((256, 256), looks, rng)
        assert f.mean() == pytest.approx(1.0, rel=0.02)
        assert f.std() == pytest.approx(1.0 / np.sqrt(looks), rel=0.06)  # intensity contrast 1/sqrt(L)


# ---- resolution and MTF ------------------------------------------------------------------------------


def test_measured_mtf_of_a_gaussian_psf_matches_the_analytic_mtf():
    spacing = (0.8, 0.8)
    freqs = np.array([0.05, 0.1, 0.2, 0.3])
    for sigma in (0.6, 1.2, 2.0):
        sharp, geom = edge_phantom((128, 128), spacing, normal_deg=5.0)
        # analytic edge: the ideal step convolved with the Gaussian PSF, sampled at pixel centres
        analytic = 0.5 * (1 + erf(_signed_distance((128, 128), spacing, geom) / (np.sqrt(2) * sigma)))
        res = measure_mtf(analytic, geom, spacing)
        assert np.allclose([res.at(f) for f in freqs], gaussian_mtf(freqs, sigma), atol=0.03)
        # the blur degradation (FWHM in mm) measured on the edge phantom
        blurred = psf_blur(sharp, spacing, sigma * FWHM_PER_SIGMA)
        got = [relative_mtf(sharp, blurred, geom, spacing, f) for f in freqs]
        assert np.allclose(got, gaussian_mtf(freqs, sigma), atol=0.03)


def test_motion_blur_mtf_is_a_sinc_along_the_motion():
    spacing = (1.0, 1.0)
    sharp, geom = edge_phantom((96, 96), spacing, normal_deg=35.0)
    blurred = linear_motion_blur(sharp, spacing, 5.0, 30.0)
    for f in (0.05, 0.1, 0.15):
        assert relative_mtf(sharp, blurred, geom, spacing, f) == pytest.approx(
            abs(np.sinc(5.0 * f * np.cos(np.deg2rad(5.0)))), abs=0.04)


def test_downsample_contract_and_aliasing():
    img = np.random.default_rng(0).random((50, 47))
    lr, lr_sp, hr = downsample(img, (0.5, 0.5), 3)
    assert lr.shape == (16, 15) and hr.shape == (48, 45) and lr_sp == (1.5, 1.5)
    assert np.array_equal(hr, img[:48, :45])
    # a flat image is unchanged by anti-aliased downsampling
    assert np.allclose(downsample(np.full((32, 32), 7.0), (1, 1), 2)[0], 7.0)
    # aliasing: a fine grating survives point sampling as a low-frequency moire, integer pitch is exact on samples
    x = np.arange(64)
    grating = np.tile(np.cos(2 * np.pi * 0.45 * x), (64, 1))
    al = aliasing(grating, (1, 1), 2.0)
    assert np.allclose(al[:, ::2], grating[:, ::2], atol=1e-9)
    assert artifact_index(al, grating) > 50.0


# ---- MRI k-space ------------------------------------------------------------------------------------


def test_kspace_undersampling_leaves_sampled_lines_unchanged():
    img, _ = toy_case("mri")
    mask = mk.cartesian_mask(img.shape[0], 3, 0.1, pattern="random", rng=np.random.default_rng(5))
    assert 0.3 < mask.mean() < 0.4 and mask[img.shape[0] // 2]
    k_full = mk.to_kspace(img)
    k_under = mk.to_kspace(mk.undersample(img, mask, return_complex=True))
    assert np.allclose(k_under[mask], k_full[mask], atol=1e-10)
    assert np.allclose(k_under[~mask], 0, atol=1e-10)
    eq = mk.cartesian_mask(64, 4, 0.0)
    assert np.array_equal(np.flatnonzero(eq), np.arange(0, 64, 4))
    assert np.allclose(mk.undersample(img, np.ones(64, bool)), img)


def test_gibbs_ringing_and_motion_ghosts():
    step = np.zeros((64, 64))
    step[:, 32:] = 1.0
    ring = mk.gibbs_truncation(step, (1.0, 0.5))
    assert ring.max() > 1.05  # Gibbs overshoot (~9 %) at the edge
    assert np.allclose(mk.gibbs_truncation(step, 1.0), step)
    img, _ = toy_case("mri")
    ghost = mk.motion_ghosting(img, (1, 1), np.random.default_rng(0), corrupted_fraction=0.3, max_shift_mm=3.0)
    outside = img == 0
    assert ghost[outside].mean() > 0.005  # ghosts land outside the object
    field = mk.smooth_bias_field((64, 64), 0.3, np.random.default_rng(0))
    assert field.max() <= 1.3 + 1e-9 and field.min() >= 1 / 1.3 - 1e-9
    assert max(field.max(), 1 / field.min()) == pytest.approx(1.3)


# ---- registry, levels, grading -------------------------------------------------------------------


def test_every_level_entry_has_a_model_and_valid_parameters():
    for modality, table in LEVELS.items():
        assert degradations_for(modality) == tuple(table)
        for name, levels in table.items():
            model = get_model(name, modality)
            assert set(levels) == set(LEVEL_NAMES)
            for params in levels.values():
                assert set(params) <= set(model.defaults)
    assert {m for m, _ in all_models()} == {"ct", "mri", "xray", "us"}


@pytest.mark.parametrize("modality", ["ct", "mri", "xray", "us"])
def test_levels_get_worse_and_stay_in_range(modality):
    img, lab = toy_case(modality, 48)
    lo, hi = {"ct": (-1024, 3071), "mri": (0, np.inf), "xray": (0, 1), "us": (0, 1)}[modality]
    for name in degradations_for(modality):
        values = []
        for level in LEVEL_NAMES:
            out = apply(name, img, level, np.random.default_rng(9), modality=modality, spacing=(1.5, 1.5))
            assert out.image.shape == img.shape and np.isfinite(out.image).all()
            assert out.image.min() >= lo and out.image.max() <= hi
            g = grade_case(out, img, lab, LEGEND)
            values.append(g[g["measure"]])
        worse = np.diff(values) < 0 if g["measure"] in ("snr_db", "mtf_pct") else np.diff(values) > 0
        assert worse.all(), (modality, name, values)


def test_determinism_and_replay():
    img, _ = toy_case("ct")
    for name in ("low_dose", "metal", "motion"):
        a = apply(name, img, "moderate", np.random.default_rng(11), modality="ct", spacing=(1.0, 1.0))
        b = apply(name, img, "moderate", np.random.default_rng(11), modality="ct", spacing=(1.0, 1.0))
        assert np.array_equal(a.image, b.image) and a.params == b.params
        replay = apply(name, img, json.loads(json.dumps(a.params)), None, modality="ct", spacing=(1.0, 1.0))
        assert np.array_equal(replay.image, a.image)
    x = apply("low_dose", img, "moderate", np.random.default_rng(11), modality="ct", spacing=(1.0, 1.0))
    y = apply("low_dose", img, "moderate", np.random.default_rng(12), modality="ct", spacing=(1.0, 1.0))
    assert not np.array_equal(x.image, y.image)
    d1 = apply("rician_noise", np.ones((4, 16, 16)), "severe", np.random.default_rng(1), modality="mri")
    d2 = apply("rician_noise", np.ones((4, 16, 16)), "severe", np.random.default_rng(2), modality="mri")
    assert d1.image.shape == (4, 16, 16) and not np.array_equal(d1.image, d2.image)


def test_volumes_are_degraded_slice_by_slice():
    img, _ = toy_case("ct", 32)
    vol = np.stack([img, img])
    out = apply("sparse_view", vol, "severe", None, modality="ct", spacing=(2.0, 1.0, 1.0))
    assert out.image.shape == vol.shape and np.allclose(out.image[0], out.image[1])


def test_bad_parameters_give_clear_errors():
    img, _ = toy_case("ct", 32)
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="dose"):
        ctp.low_dose_ct(img, (1, 1), 0, rng)
    with pytest.raises(ParameterError, match="dose"):
        apply("low_dose", img, {"incident_photons": -5}, rng, modality="ct", spacing=(1, 1))
    with pytest.raises(ParameterError, match="dose"):
        quantum_noise(np.ones(4), 0.0, rng)
    with pytest.raises(ConfigError, match="does not apply to mri"):
        apply("metal", img, "mild", rng, modality="mri")
    with pytest.raises(ConfigError, match="unknown degradation"):
        apply("lens_flare", img, "mild", rng, modality="ct")
    with pytest.raises(ConfigError, match="unknown modality"):
        apply("blur", img, "mild", rng, modality="pet")
    with pytest.raises(ParameterError, match="unknown level"):
        apply("blur", img, "extreme", rng, modality="ct")
    with pytest.raises(ParameterError, match="unknown parameter"):
        apply("blur", img, {"fwhm_mm": 1, "fwhm": 2}, rng, modality="ct")
    with pytest.raises(ParameterError, match="fwhm_mm"):
        apply("blur", img, {"fwhm_mm": -1}, rng, modality="ct")
    with pytest.raises(ParameterError, match="bits"):
        quantize(np.ones(3), 0)
    with pytest.raises(ParameterError, match="rng"):
        apply("gaussian_noise", img, "mild", None, modality="ct")
    with pytest.raises(ConfigError, match="degrade.parameters.ct.low_dose.mild"):
        level_params("low_dose", "ct", "mild", {"ct": {"low_dose": {"mild": {"dose": 3}}}})
    assert level_params("low_dose", "ct", "mild", {"ct": {"low_dose": {"mild": {"incident_photons": 7}}}})[
        "incident_photons"] == 7


def test_bands_follow_the_table():
    assert [band("snr_db", v) for v in (35, 30, 25, 20, 10)] == ["mild", "moderate", "moderate", "moderate", "severe"]
    assert [band("mtf_pct", v) for v in (90, 60, 40)] == ["mild", "moderate", "severe"]
    assert [band("artifact_pct", v) for v in (2, 5, 10, 15.1)] == ["mild", "moderate", "moderate", "severe"]
    assert [band("cnr", v) for v in (12, 7, 3)] == ["mild", "moderate", "severe"]
    assert band("cnr", float("nan")) == ""


def test_artifact_index_definition():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 2.0, (64, 64))
    assert artifact_index(ref, ref) == 0.0
    err = rng.normal(0, 1.0, ref.shape)
    a1, a2 = artifact_index(ref + err, ref), artifact_index(ref + 2 * err, ref)
    assert a2 == pytest.approx(2 * a1) and a1 == pytest.approx(50.0, rel=0.05)


def test_grading_regions_and_snr_band():
    img, lab = toy_case("mri")
    reg = regions(lab, LEGEND)
    assert reg["names"] == "lesion/organ" and reg["signal"].sum() == (lab == 1).sum()
    out = apply("rician_noise", img, {"sigma": 0.7 / 10 ** (25 / 20)}, np.random.default_rng(0), modality="mri")
    g = grade_case(out, img, lab, LEGEND, intended="moderate")
    assert g["snr_db"] == pytest.approx(25.0, abs=0.5) and g["grade"] == "moderate" and g["landed"] is True
    blur = apply("blur", img, "moderate", None, modality="mri", spacing=(1.0, 1.0))
    gb = grade_case(blur, img, lab, LEGEND)
    assert gb["measure"] == "mtf_pct" and gb["mtf_pct"] == pytest.approx(gb["mtf_expected_pct"], abs=3.0)


# ---- paired datasets on disk ----------------------------------------------------------------------


@pytest.fixture
def toy_dataset(tmp_path):
    folder = tmp_path / "clean"
    w = DatasetWriter(folder, "toy", "ct", "test", LEGEND)
    for i in range(2):
        img, lab = toy_case("ct", 40)
        w.add(f"ct_test_{i:04d}", img + 10 * i, (1.2, 1.2), label=lab, class_label=1)
    w.close()
    return folder


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".gz", ".csv")}


def test_paired_dataset_contract_and_determinism(toy_dataset, tmp_path):
    out = tmp_path / "deg" / "low_dose" / "moderate"
    table = degrade_dataset(toy_dataset, out, degradation="low_dose", level="moderate", seed=5)
    assert len(table) == 2 and set(table["intended"]) == {"moderate"}
    ds = Dataset(out)  # a valid mira dataset of the degraded images
    assert len(ds) == 2 and ds.legend == LEGEND
    pairs = PairedDataset(out)
    p = next(iter(pairs))
    clean = Dataset(toy_dataset).load(Dataset(toy_dataset).records[0])
    assert np.allclose(p.reference, clean.image) and np.array_equal(p.label, clean.label)
    assert p.degraded.shape == p.reference.shape and not np.allclose(p.degraded, p.reference)
    assert p.params["incident_photons"] == LEVELS["ct"]["low_dose"]["moderate"]["incident_photons"]
    assert pairs.info["measure"] == "snr"
    again = tmp_path / "again"
    degrade_dataset(toy_dataset, again, degradation="low_dose", level="moderate", seed=5)
    assert _digest(out) == _digest(again)
    # super-resolution pairs: LR input, HR reference and labels on both grids
    sr = tmp_path / "deg" / "downsample" / "x3"
    degrade_dataset(toy_dataset, sr, degradation="downsample", level="x3", seed=5)
    q = next(iter(PairedDataset(sr)))
    assert q.degraded.shape == (13, 13) and q.reference.shape == (39, 39)
    assert q.spacing == pytest.approx((3.6, 3.6)) and q.reference_spacing == pytest.approx((1.2, 1.2))
    assert q.label.shape == (13, 13) and q.reference_label.shape == (39, 39)
    g = PairedDataset(sr).grading()
    assert g["measure"].iloc[0] == "mtf_pct" and g["landed"].isna().all()
    with pytest.raises(ConfigError):
        degrade_dataset(toy_dataset, tmp_path / "bad", degradation="gibbs", level="mild", seed=5)
    assert not (tmp_path / "bad").exists()


def test_config_section_defaults_and_errors():
    cfg = validate_config({})
    assert cfg["degrade"]["splits"] == ["test"] and cfg["degrade"]["sr_scales"] == [2, 3, 4]
    with pytest.raises(ConfigError, match="degrade"):
        validate_config({"degrade": {"scales": [2]}})
    with pytest.raises(ConfigError):
        validate_config({"degrade": {"degradations": {"pet": ["blur"]}}})


def test_grading_table_and_figure_grid(toy_dataset, tmp_path):
    from figure_checks import check_png
    from mira.study.report.degradation import combine_grading, degradation_figure, write_grading_tables

    folders = []
    for name, level in (("gaussian_noise", "mild"), ("gaussian_noise", "severe"), ("blur", "moderate"),
                        ("downsample", "x2")):
        folders.append(tmp_path / "deg" / name / level)
        degrade_dataset(toy_dataset, folders[-1], degradation=name, level=level, seed=1)
    df = combine_grading(folders)
    summary = write_grading_tables(df, tmp_path / "g.csv", tmp_path / "g.md", tmp_path / "s.csv")
    assert len(df) == 8 and len(summary) == 4
    assert summary.set_index(["degradation", "level"]).loc[("gaussian_noise", "severe"), "landed"] == 1.0
    assert "Landing rate" in (tmp_path / "g.md").read_text()
    case = degradation_figure(folders, tmp_path / "grid.png")
    assert case == "ct_test_0000"
    # 3 degradations x (clean + up to 2 levels), 2.1 x 2.3 in per panel
    check_png(tmp_path / "grid.png", approx_size=(2.1 * 3 * 110, (2.3 * 3 + 0.3) * 110), grid=(3, 3))


def test_calibrated_levels_land_on_the_phantoms():
    """Regression guard of the calibration in levels.py on one synthetic lesion case per modality."""
    synthesis = pytest.importorskip("mira.synthesis")
    if not hasattr(synthesis, "synthesize_case"):
        pytest.skip("mira.synthesis.synthesize_case not available")
    from mira.seeding import rng_for

    for modality in ("ct", "mri", "xray", "us"):
        landed = []
        for i in range(1):
            case = synthesis.synthesize_case(modality, rng_for(3, "calibration", modality, i), ndim=2, size=128,
                                             lesion=True)
            for name in degradations_for(modality):
                for level in LEVEL_NAMES:
                    out = apply(name, case.image, level, rng_for(3, name, level, i), modality=modality,
                                spacing=case.spacing)
                    landed.append(grade_case(out, case.image, case.label, case.legend)["landed"])
        assert np.mean(landed) >= 0.85, (modality, np.mean(landed))

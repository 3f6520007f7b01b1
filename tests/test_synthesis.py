"""Phantom synthesis: anatomy present, tissue means as configured, physics of X-ray and ultrasound,
determinism, class labels, co-registered MRI sequences and parameter errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mira.errors import ConfigError, ParameterError
from mira.synthesis import DEFAULT_TISSUES, LEGENDS, MRI_SEQUENCES, SyntheticCase, synthesize_case

MODALITIES = ("ct", "mri", "xray", "us")


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def lab(modality: str, name: str) -> int:
    return {v: k for k, v in LEGENDS[modality].items()}[name]


def label_means(case: SyntheticCase, image: np.ndarray | None = None, min_pixels: int = 20) -> dict[str, float]:
    img = case.image if image is None else image
    out = {}
    for k, name in case.legend.items():
        m = case.label == k
        if m.sum() >= min_pixels:
            out[name] = float(img[m].mean())
    return out


# ---------------------------------------------------------------------------------------------
# public constants and the common contract
# ---------------------------------------------------------------------------------------------
def test_legends_and_defaults_are_consistent():
    for m in MODALITIES:
        legend = LEGENDS[m]
        assert legend[0] == "background"
        assert legend[max(legend)] == "lesion"
        assert sorted(legend) == list(range(len(legend)))
    for m in ("ct", "us"):
        assert set(DEFAULT_TISSUES[m]) <= set(LEGENDS[m].values())
    assert set(DEFAULT_TISSUES["xray"]) <= set(LEGENDS["ct"].values())  # HU of the underlying CT
    assert set(DEFAULT_TISSUES["xray"]) >= {n for n in LEGENDS["xray"].values() if n not in ("background", "lesion")}
    assert MRI_SEQUENCES == ("T1", "T2", "FLAIR")
    for c in MRI_SEQUENCES:
        assert set(DEFAULT_TISSUES["mri"][c]) == set(LEGENDS["mri"].values()) - {"lesion"}


@pytest.mark.parametrize("modality", MODALITIES)
def test_case_contract(modality):
    case = synthesize_case(modality, rng(3), size=64)
    assert isinstance(case, SyntheticCase)
    assert case.image.dtype == np.float32 and case.label.dtype == np.uint8
    assert case.image.shape == case.label.shape == (64, 64)
    assert np.all(np.isfinite(case.image))
    assert len(case.spacing) == case.image.ndim
    assert case.legend == LEGENDS[modality]
    assert set(np.unique(case.label)) <= set(case.legend)
    json.dumps(case.meta)  # JSON-serialisable
    assert case.meta["n_lesions"] == len(case.meta["lesions"]) >= 1
    if modality == "mri":
        assert set(case.sequences) == set(MRI_SEQUENCES)
    else:
        assert case.sequences == {}


@pytest.mark.parametrize("modality, fov", [("ct", 380.0), ("mri", 220.0), ("xray", 400.0), ("us", 120.0)])
def test_default_spacing_is_field_of_view_over_size(modality, fov):
    for size in (32, 96):
        case = synthesize_case(modality, rng(0), size=size)
        assert case.spacing == pytest.approx((fov / size, fov / size))
    case = synthesize_case(modality, rng(0), size=48, spacing_mm=2.5)
    assert case.spacing == pytest.approx((2.5, 2.5))


@pytest.mark.parametrize("modality", MODALITIES)
def test_determinism_and_seed_dependence(modality):
    a = synthesize_case(modality, rng(11), size=64)
    b = synthesize_case(modality, rng(11), size=64)
    c = synthesize_case(modality, rng(12), size=64)
    assert a.image.tobytes() == b.image.tobytes() and a.label.tobytes() == b.label.tobytes()
    assert a.meta == b.meta
    for k in a.sequences:
        assert a.sequences[k].tobytes() == b.sequences[k].tobytes()
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.label, c.label)  # different anatomy, not only different texture
    assert a.meta["lesions"] != c.meta["lesions"]


@pytest.mark.parametrize("modality", MODALITIES)
def test_global_numpy_random_state_is_untouched(modality):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    synthesize_case(modality, rng(0), size=48)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("modality", MODALITIES)
def test_class_label_matches_lesion_label(modality):
    les = lab(modality, "lesion")
    counts = set()
    for seed in range(5):
        for size in (32, 64):
            pos = synthesize_case(modality, rng(seed), size=size, lesion=True)
            assert pos.class_label == 1 and np.any(pos.label == les), (seed, size)
            assert 1 <= pos.meta["n_lesions"] <= 3
            counts.add(pos.meta["n_lesions"])
            neg = synthesize_case(modality, rng(seed), size=size, lesion=False)
            assert neg.class_label == 0 and not np.any(neg.label == les)
            assert neg.meta["n_lesions"] == 0
    assert len(counts) > 1  # the lesion count is drawn


@pytest.mark.parametrize("modality, size", [("ct", 96), ("mri", 192)])
def test_2d_lesions_are_cut_near_their_centre(modality, size):
    """A requested lesion is not merely grazed by the slice: its in-slice area is a good part of its
    central cross-section (the centre lies within 0.3 radii of the slice plane)."""
    ratios = []
    for seed in range(6):
        case = synthesize_case(modality, rng(seed), size=size)
        px = case.spacing[0] * case.spacing[1]
        for les in case.meta["lesions"]:
            r = float(np.mean(les["radii_mm"][1:]))
            ratios.append(les["voxels"] * px / (np.pi * r * r))
    assert np.percentile(ratios, 25) > 0.6


@pytest.mark.parametrize("modality", ["ct", "mri"])
def test_volumes_have_requested_shape_spacing_and_lesions(modality):
    vol = synthesize_case(modality, rng(4), ndim=3, size=48, slices=12)
    s = {"ct": 380.0, "mri": 220.0}[modality] / 48
    assert vol.image.shape == vol.label.shape == (12, 48, 48)
    assert vol.spacing == pytest.approx((s, s, s))
    assert vol.class_label == 1 and np.any(vol.label == lab(modality, "lesion"))
    default = synthesize_case(modality, rng(4), ndim=3, size=32)
    assert default.image.shape == (16, 32, 32)
    for k in vol.sequences:
        assert vol.sequences[k].shape == vol.image.shape
    # a 2D case is a slice through the same kind of anatomy: same organs appear
    flat = synthesize_case(modality, rng(4), size=48)
    names_2d = {flat.legend[k] for k in np.unique(flat.label)}
    names_3d = {vol.legend[k] for k in np.unique(vol.label)}
    assert names_2d - {"lesion"} <= names_3d


# ---------------------------------------------------------------------------------------------
# CT
# ---------------------------------------------------------------------------------------------
def test_ct_slice_shows_thorax_and_upper_abdomen():
    for seed in range(6):
        case = synthesize_case("ct", rng(seed), size=128, lesion=False)
        names = {case.legend[k] for k in np.unique(case.label)}
        assert {"background", "fat", "muscle", "lung", "vessel", "liver", "bone", "cancellous_bone"} <= names, seed
        # air outside, lungs dark, bone bright
        m = label_means(case)
        assert m["background"] == pytest.approx(-1000, abs=5)
        assert m["lung"] < -700 < 0 < m["liver"] < m["bone"]
        # body is surrounded by air: border pixels are background
        assert np.all(case.label[0] == 0) and np.all(case.label[:, 0] == 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ct_label_means_match_configured_hu(seed):
    case = synthesize_case("ct", rng(seed), size=128)
    means = label_means(case)
    for name, hu in DEFAULT_TISSUES["ct"].items():
        if name in means:
            assert means[name] == pytest.approx(hu, abs=2.0), name
    # there is texture: not a piecewise-constant image
    liver = case.image[case.label == lab("ct", "liver")]
    assert 1.0 < liver.std() < 25.0
    # lesions: the lesion label mean is the voxel-weighted mean of the drawn lesion HU
    les = case.meta["lesions"]
    w = np.array([x["voxels"] for x in les], float)
    expect = float(np.sum(w * np.array([x["hu"] for x in les])) / w.sum())
    assert means.get("lesion", float(case.image[case.label == lab("ct", "lesion")].mean())) == pytest.approx(
        expect, abs=2.0)
    for x in les:
        if x["organ"] in ("liver", "kidney"):
            assert 20.0 <= abs(x["contrast_hu"]) <= 60.0


def test_ct_tissue_override_moves_the_liver_mean():
    base = synthesize_case("ct", rng(5), size=96, lesion=False)
    over = synthesize_case("ct", rng(5), size=96, lesion=False, tissues={"liver": 80.0, "lung": -800.0})
    liver = lab("ct", "liver")
    assert np.array_equal(base.label, over.label)
    assert float(over.image[over.label == liver].mean()) == pytest.approx(80.0, abs=2.0)
    assert float(base.image[base.label == liver].mean()) == pytest.approx(60.0, abs=2.0)
    assert float(over.image[over.label == lab("ct", "lung")].mean()) == pytest.approx(-800.0, abs=2.0)
    fixed = synthesize_case("ct", rng(5), size=96, tissues={"lesion": 150.0})
    assert float(fixed.image[fixed.label == lab("ct", "lesion")].mean()) == pytest.approx(150.0, abs=3.0)


def test_ct_anatomy_scales_with_resolution():
    areas = []
    for size in (64, 128):
        case = synthesize_case("ct", rng(9), size=size, lesion=False)
        pix = case.spacing[0] * case.spacing[1]
        areas.append([np.count_nonzero(case.label == lab("ct", n)) * pix for n in ("liver", "lung")]
                     + [np.count_nonzero(case.label > 0) * pix])
    np.testing.assert_allclose(areas[0], areas[1], rtol=0.12)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(32, 80), lesion=st.booleans())
def test_ct_and_mri_invariants_hold_for_any_seed(seed, size, lesion):
    ct = synthesize_case("ct", rng(seed), size=size, lesion=lesion)
    assert ct.class_label == int(lesion) == int(np.any(ct.label == lab("ct", "lesion")))
    assert -1024.0 <= ct.image.min() and ct.image.max() <= 3071.0
    means = label_means(ct, min_pixels=1)
    assert means["liver" if "liver" in means else "lung"] == pytest.approx(
        DEFAULT_TISSUES["ct"]["liver" if "liver" in means else "lung"], abs=2.0)
    mr = synthesize_case("mri", rng(seed), size=size, lesion=lesion)
    assert mr.class_label == int(lesion)
    assert all(s.min() >= 0.0 for s in mr.sequences.values())


# ---------------------------------------------------------------------------------------------
# MRI
# ---------------------------------------------------------------------------------------------
def test_mri_brain_labels_and_contrast_values():
    case = synthesize_case("mri", rng(2), size=128)
    names = {case.legend[k] for k in np.unique(case.label)}
    assert {"scalp", "skull", "csf", "grey_matter", "white_matter", "lesion"} <= names
    for c in MRI_SEQUENCES:
        means = label_means(case, case.sequences[c])
        for name, value in DEFAULT_TISSUES["mri"][c].items():
            if name in means:
                assert means[name] == pytest.approx(value, abs=0.01), (c, name)
        assert case.sequences[c].min() >= 0.0
    t1, t2, fl = (label_means(case, case.sequences[c]) for c in MRI_SEQUENCES)
    assert t1["csf"] < t1["grey_matter"] < t1["white_matter"]        # T1: CSF dark, WM bright
    assert t2["csf"] > t2["grey_matter"] > t2["white_matter"]        # T2: CSF bright
    assert fl["csf"] < fl["white_matter"] < fl["grey_matter"]        # FLAIR: CSF suppressed
    assert t1["scalp"] > t1["white_matter"] and t1["skull"] < t1["csf"] + 0.05
    assert t2["lesion"] > t2["white_matter"] and fl["lesion"] > fl["white_matter"]
    assert t1["lesion"] < t1["white_matter"]
    # the grey-matter cortex is a ribbon near the surface: most GM lies in the outer brain shell
    gm = case.label == lab("mri", "grey_matter")
    assert gm.sum() > 0.15 * np.isin(case.label, [lab("mri", n) for n in ("grey_matter", "white_matter")]).sum()


def test_mri_sequences_are_co_registered_and_primary_contrast_selectable():
    cases = {c: synthesize_case("mri", rng(6), size=64, mri_contrast=c) for c in MRI_SEQUENCES}
    ref = cases["T1"]
    for c, case in cases.items():
        assert np.array_equal(case.label, ref.label)
        assert np.array_equal(case.image, case.sequences[c])
        for k in MRI_SEQUENCES:
            assert np.array_equal(case.sequences[k], ref.sequences[k])
    assert not np.allclose(ref.sequences["T1"], ref.sequences["T2"])
    # same anatomy: the CSF mask is where T2 is bright and FLAIR dark
    csf = ref.label == lab("mri", "csf")
    assert ref.sequences["T2"][csf].mean() > 2 * ref.sequences["FLAIR"][csf].mean()


def test_mri_tissue_overrides_nested_and_flat():
    nested = synthesize_case("mri", rng(1), size=96, tissues={"T2": {"csf": 0.7}})
    csf = nested.label == lab("mri", "csf")
    assert float(nested.sequences["T2"][csf].mean()) == pytest.approx(0.7, abs=0.01)
    assert float(nested.sequences["T1"][csf].mean()) == pytest.approx(DEFAULT_TISSUES["mri"]["T1"]["csf"], abs=0.01)
    flat = synthesize_case("mri", rng(1), size=96, tissues={"white_matter": 0.9}, mri_contrast="FLAIR")
    wm = flat.label == lab("mri", "white_matter")
    assert float(flat.image[wm].mean()) == pytest.approx(0.9, abs=0.01)
    assert float(flat.sequences["T1"][wm].mean()) == pytest.approx(DEFAULT_TISSUES["mri"]["T1"]["white_matter"],
                                                                   abs=0.01)


# ---------------------------------------------------------------------------------------------
# X-ray
# ---------------------------------------------------------------------------------------------
def test_xray_lung_fields_brighter_than_spine_and_heart():
    for seed in range(3):
        case = synthesize_case("xray", rng(seed), size=96)
        m = label_means(case)
        assert m["background"] == pytest.approx(1.0)
        assert m["lung"] > 2 * m["bone"] and m["lung"] > 2 * m["heart"] and m["lung"] > m["soft_tissue"]
        assert 0.0 < case.image.min() and case.image.max() <= 1.0
        # orientation: row 0 is cranial -> lung fields in the upper part, abdomen at the bottom
        lung = case.label == lab("xray", "lung")
        assert lung[: 48].sum() > 5 * lung[-12:].sum()


def test_xray_is_beer_lambert_of_the_underlying_ct():
    from mira.synthesis.xray import MU_WATER, chest_volume

    case = synthesize_case("xray", rng(21), size=64)
    hu, region, grid, lesions, _ = chest_volume(rng(21), size=64)
    dy = float(grid.y[1] - grid.y[0])
    mu = MU_WATER * np.clip(1.0 + hu.astype(np.float64) / 1000.0, 0.0, None)
    integral = (mu.sum(axis=1) * dy)[::-1]  # rays along y (antero-posterior), row 0 cranial
    np.testing.assert_allclose(case.image, np.exp(-integral), rtol=1e-5, atol=1e-7)
    # less material on the ray -> brighter: intensity is strictly decreasing in the line integral
    order = np.argsort(integral.ravel(), kind="stable")
    i_sorted = case.image.ravel()[order].astype(np.float64)
    distinct = np.diff(integral.ravel()[order]) > 1e-6
    assert np.all(np.diff(i_sorted)[distinct] < 0)
    # denser bone darkens exactly the pixels whose rays cross bone
    dense = synthesize_case("xray", rng(21), size=64, tissues={"bone": 1800.0})
    crosses_bone = np.any(region == lab("ct", "bone"), axis=1)[::-1]
    assert np.all(dense.image[crosses_bone] < case.image[crosses_bone])
    np.testing.assert_array_equal(dense.image[~crosses_bone], case.image[~crosses_bone])


def test_xray_lesion_label_where_a_nodule_lies_on_the_ray():
    case = synthesize_case("xray", rng(8), size=64, lesion=True)
    assert case.meta["lesions"] and all(x["organ"] == "lung" for x in case.meta["lesions"])
    from mira.synthesis.xray import chest_volume

    _, region, *_ = chest_volume(rng(8), size=64, lesion=True)
    on_ray = np.any(region >= 200, axis=1)[::-1]
    np.testing.assert_array_equal(case.label == lab("xray", "lesion"), on_ray)


# ---------------------------------------------------------------------------------------------
# Ultrasound
# ---------------------------------------------------------------------------------------------
def test_us_sector_geometry_and_zero_outside():
    case = synthesize_case("us", rng(0), size=128)
    outside = case.label == 0
    assert np.all(case.image[outside] == 0.0)
    assert outside.mean() > 0.2 and (~outside).mean() > 0.4
    # apex at the top centre: the first row is inside only near the middle column; a fan widens down
    width = (~outside).sum(axis=1)
    assert width[0] <= 4 and np.all(np.flatnonzero(~outside[0]) >= 60) and np.all(np.flatnonzero(~outside[0]) <= 67)
    assert width[60] > 3 * max(width[5], 1)
    assert 60.0 <= case.meta["geometry"]["opening_deg"] <= 75.0
    assert 0.0 <= case.image.min() and case.image.max() <= 1.0


def test_us_cysts_darker_than_parenchyma_and_lesion_kinds():
    for seed in range(4):
        case = synthesize_case("us", rng(seed), size=128)
        m = label_means(case)
        assert m["cyst"] < 0.5 * m["parenchyma"], seed
        if case.meta["n_lesions"] == 1 and "lesion" in m:
            kind = case.meta["lesions"][0]["kind"]
            assert (m["lesion"] > m["parenchyma"]) == (kind == "hyperechoic")


def test_us_configured_echogenicity_ordering_is_respected():
    for tissues in ({"fat": 0.3, "muscle": 0.8, "parenchyma": 2.0}, {"fat": 2.0, "muscle": 0.8, "parenchyma": 0.3}):
        case = synthesize_case("us", rng(4), size=128, tissues=tissues, lesion=False)
        m = label_means(case)
        order_cfg = sorted(tissues, key=tissues.get)
        order_img = sorted(tissues, key=m.get)
        assert order_cfg == order_img, (tissues, m)


def test_us_posterior_acoustic_enhancement_behind_cysts():
    gains = []
    for seed in range(6):
        case = synthesize_case("us", rng(seed), size=128, lesion=False)
        s = case.spacing[0]
        yy, xx = np.mgrid[0:128, 0:128]
        y, x = (yy + 0.5) * s, (xx + 0.5 - 64) * s
        r, th = np.hypot(y, x), np.arctan2(x, y)
        par = case.label == lab("us", "parenchyma")
        for cyst in case.meta["cysts"]:
            cy, cx = cyst["center_mm"]
            rc, tc = np.hypot(cy, cx), np.arctan2(cx, cy)
            half = 0.6 * min(cyst["radii_mm"]) / rc
            band = (r > rc + max(cyst["radii_mm"]) + 2) & (r < rc + max(cyst["radii_mm"]) + 15) & par
            behind = band & (np.abs(th - tc) < half)
            beside = band & (np.abs(th - tc) > 3 * half)
            if behind.sum() > 20 and beside.sum() > 20:
                gains.append(case.image[behind].mean() - case.image[beside].mean())
    assert len(gains) >= 3 and np.mean(gains) > 0.02


def test_us_speckle_envelope_is_rayleigh_before_log_compression():
    from scipy import signal

    from mira.synthesis.us_physics import analytic_signal, envelope, rf_lines, rms_envelope

    kw = dict(dr_mm=0.055, wavelength_mm=0.44, sigma_axial_mm=0.3, sigma_lateral_lines=2.0)
    amp = np.ones((3000, 200), np.float32)
    env = envelope(rf_lines(amp, rng(0), **kw))[200:-200, 20:-20]  # away from the edges
    snr = env.mean() / env.std()
    assert snr == pytest.approx(np.sqrt(np.pi / (4 - np.pi)), abs=0.08)  # 1.91 for fully developed speckle
    rms = np.sqrt(np.mean(env.astype(np.float64) ** 2))
    assert rms == pytest.approx(rms_envelope(**kw), rel=0.05)
    x = np.sort(env.ravel()) / rms
    for q in (0.1, 0.5, 0.9):  # Rayleigh CDF with E[x^2] = 1: 1 - exp(-x^2)
        assert 1 - np.exp(-x[int(q * x.size)] ** 2) == pytest.approx(q, abs=0.02)
    # twice the echogenicity -> twice the envelope (linear before log compression)
    env2 = envelope(rf_lines(2 * amp, rng(0), **kw))[200:-200, 20:-20]
    np.testing.assert_allclose(env2, 2 * env, rtol=1e-4, atol=1e-4)
    rf = rng(1).standard_normal((257, 3))
    np.testing.assert_allclose(analytic_signal(rf), signal.hilbert(rf, axis=0), atol=1e-10)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_bad_parameters_raise_mira_errors():
    with pytest.raises(ConfigError, match="pet"):
        synthesize_case("pet", rng(0))
    for m in ("us", "xray"):
        with pytest.raises(ParameterError, match="ndim=3"):
            synthesize_case(m, rng(0), ndim=3)
    with pytest.raises(ParameterError, match="size"):
        synthesize_case("ct", rng(0), size=16)
    with pytest.raises(ParameterError, match="size"):
        synthesize_case("mri", rng(0), size=31)
    with pytest.raises(ParameterError, match="ndim"):
        synthesize_case("ct", rng(0), ndim=4)
    with pytest.raises(ParameterError, match="spacing_mm"):
        synthesize_case("ct", rng(0), spacing_mm=-1.0)
    with pytest.raises(ParameterError, match="Generator"):
        synthesize_case("ct", 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="livr"):
        synthesize_case("ct", rng(0), tissues={"livr": 60.0})
    with pytest.raises(ConfigError, match="grey_mater"):
        synthesize_case("mri", rng(0), tissues={"T2": {"grey_mater": 0.5}})
    with pytest.raises(ConfigError, match="liver"):
        synthesize_case("us", rng(0), tissues={"liver": 1.0})
    with pytest.raises(ConfigError, match="liver"):
        synthesize_case("ct", rng(0), tissues={"liver": "dense"})
    with pytest.raises(ConfigError, match="T3"):
        synthesize_case("mri", rng(0), mri_contrast="T3")
    with pytest.raises(ConfigError, match="csf"):
        synthesize_case("mri", rng(0), tissues={"csf": -0.1})

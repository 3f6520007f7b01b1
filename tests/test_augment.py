"""mira.augment: registration of masks, label sets, limits, HU range, determinism, 3D, mixing, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from mira.augment import (
    TRANSFORMS,
    Compose,
    CutMix,
    ElasticDeformation,
    Mixup,
    OneOf,
    RandomAffine,
    RandomBiasField,
    RandomBlur,
    RandomBrightness,
    RandomContrast,
    RandomFlip,
    RandomGamma,
    RandomNoise,
    RandomOcclusion,
    RandomRotation,
    RandomScaling,
    RandomSectorAngle,
    RandomSpeckle,
    RandomTranslation,
    Sample,
    bias_field,
    cutmix,
    elastic_deform_simard,
    estimate_sector,
    mixup,
    replay,
    sector_mask,
    speckle_factor,
    standard_pipeline,
)
from mira.augment.constraints import Tolerances, check_constraints, measure, violations
from mira.augment.policy import (
    OPS,
    Policy,
    RandAugment,
    operation_record,
    policy_from_dict,
    random_policy,
    search_policy,
)
from mira.augment.spatial import Geometry, bspline_field
from mira.errors import ConfigError, ParameterError
from mira.modalities import MODALITIES, get_profile
from mira.seeding import rng_for

LEGEND = {0: "background", 1: "body", 2: "right_lung", 3: "left_lung", 4: "heart", 5: "lesion"}


def body_phantom(n: int = 64, seed: int = 0, modality: str = "ct", noise: float = 10.0) -> Sample:
    """A small torso: body, two lungs, heart, one lesion; values in the modality's units."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n] * (64.0 / n)
    lab = np.zeros((n, n), np.uint8)
    lab[((yy - 32) / 26) ** 2 + ((xx - 32) / 29) ** 2 < 1] = 1
    lab[(yy - 30) ** 2 + (xx - 18) ** 2 < 9 ** 2] = 2
    lab[(yy - 30) ** 2 + (xx - 46) ** 2 < 9 ** 2] = 3
    lab[(yy - 44) ** 2 + (xx - 34) ** 2 < 6 ** 2] = 4
    lab[(yy - 28) ** 2 + (xx - 20) ** 2 < 3 ** 2] = 5
    if modality == "ct":
        vals, lo, hi = np.array([-1000, 40, -850, -850, 60, 120], np.float32), -1024, 3071
    else:
        vals, lo, hi = np.array([0.0, 0.5, 0.1, 0.1, 0.7, 0.9], np.float32), 0.0, 1.0
        noise = noise / 1000.0
    img = np.clip(vals[lab] + rng.normal(0, noise, lab.shape).astype(np.float32), lo, hi)
    return Sample(img, lab, modality=modality, legend=LEGEND, meta={"case_id": f"c{seed}", "class_label": seed % 2})


def disc(n, cy, cx, r):
    yy, xx = np.mgrid[:n, :n]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)


def centroid(mask):
    return np.array(ndi.center_of_mass(mask.astype(float)))


# ---- masks stay registered with images (analytic expectations) -------------------------------


def test_rotation_moves_image_and_label_to_the_analytic_position():
    n, r = 65, 5
    lab = disc(n, 32, 48, r)  # 16 px right of the centre
    s = Sample(lab * 100.0, lab, modality="ct")
    out = RandomRotation(degrees=(5.0, 5.0))(s, np.random.default_rng(0))
    th = math.radians(5.0)
    # counter-clockwise on screen (y down): (dy, dx) = (0, 16) -> (-16 sin, 16 cos)
    expected = np.array([32 - 16 * math.sin(th), 32 + 16 * math.cos(th)])
    assert np.allclose(centroid(out.label), expected, atol=0.3)
    assert np.allclose(centroid(out.image > 50), expected, atol=0.3)
    assert out.history[0]["params"]["rotation_deg"] == 5.0


def test_translation_in_mm_respects_anisotropic_spacing():
    n = 48
    lab = disc(n, 24, 24, 6)
    s = Sample(np.where(lab, 40.0, -1000.0), lab, spacing=(2.0, 1.0), modality="ct")
    t = RandomTranslation(translation_mm=(6.0, 6.0))  # +6 mm on both axes
    out = t(s, np.random.default_rng(0))
    assert np.allclose(centroid(out.label) - centroid(lab), [3.0, 6.0], atol=0.05)  # 6 mm / (2, 1) mm
    assert np.array_equal(out.label.astype(bool), out.image > -480)


def test_elastic_deformation_matches_its_displacement_field_exactly():
    s = body_phantom(48)
    t = ElasticDeformation(max_displacement_mm=4.0, control_spacing_mm=16.0)
    out = t(s, np.random.default_rng(3))
    params = out.history[0]["params"]
    geom = Geometry(s.shape, s.spacing)
    src = geom.to_index(geom.grid_points() + ElasticDeformation.displacement(params, geom))
    idx = np.rint(src).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(s.shape)[:, None, None]), axis=0)
    expected = np.zeros_like(s.label)
    expected[inside] = s.label[idx[0][inside], idx[1][inside]]
    # nearest-neighbour ties may round either way: allow a handful of pixels
    assert (expected != out.label).sum() <= 3
    # the image moved with the label: every organ's interior still has its own intensity
    for value, hu in ((2, -850), (4, 60)):
        core = ndi.binary_erosion(out.label == value, iterations=2)
        assert abs(float(np.median(out.image[core])) - hu) < 15


def test_bspline_grid_and_point_evaluation_agree_and_respect_the_bound():
    geom = Geometry((20, 24, 28), (2.0, 1.0, 1.5))
    t = ElasticDeformation(max_displacement_mm=3.0, control_spacing_mm=10.0)
    s = Sample(np.zeros(geom.shape, np.float32), modality="ct", spacing=geom.spacing)
    params = t.draw(s, np.random.default_rng(1))
    on_grid = bspline_field(np.asarray(params["displacements_mm"]), params["control_spacing_mm"], geom)
    at_points = bspline_field(np.asarray(params["displacements_mm"]), params["control_spacing_mm"], geom,
                              geom.grid_points())
    assert np.allclose(on_grid, at_points, atol=1e-4)
    assert np.sqrt((on_grid ** 2).sum(axis=0)).max() <= 3.0 + 1e-5


def test_affine_and_elastic_are_resampled_once_and_replay_identically():
    s = body_phantom(48)
    comp = Compose([RandomAffine(), ElasticDeformation()])
    out = comp(s, rng_for(1, "fuse"))
    assert out.history[0].get("fused_with_next") is True
    again = replay(s, out.history)
    assert again.image.tobytes() == out.image.tobytes() and np.array_equal(again.label, out.label)
    # two separate resamplings blur more than one fused resampling
    twice = ElasticDeformation.apply(RandomAffine.apply(s, out.history[0]["params"]), out.history[1]["params"])
    core = ndi.binary_erosion(out.label == 1, iterations=2)
    assert np.std(out.image[core]) > np.std(twice.image[core])


def test_flip_swaps_paired_left_right_labels():
    s = body_phantom(48)
    out = RandomFlip(flip_probability=1.0)(s, np.random.default_rng(0))
    assert out.history[0]["params"]["label_swaps"] == [[2, 3]]
    flipped = s.label[:, ::-1]
    assert np.array_equal(out.label == 2, flipped == 3) and np.array_equal(out.label == 3, flipped == 2)
    assert np.array_equal(out.image, np.clip(s.image[:, ::-1], -1024, 3071))


def test_mri_sequences_share_the_spatial_transform_and_bias_field():
    s = body_phantom(48, modality="mri")
    s = s.replace(sequences={"T2": s.image * 0.5 + 0.1})
    out = Compose([RandomAffine(), ElasticDeformation(), RandomBiasField()])(s, np.random.default_rng(5))
    core = ndi.binary_erosion(out.label > 0, iterations=2)
    # T2 = 0.5 T1 + 0.1 before; the same grid and the same multiplicative field keep T2 / (0.5 T1 + 0.1 field)
    field = bias_field(s.shape, np.asarray(out.history[-1]["params"]["coefficients"]),
                       out.history[-1]["params"]["log_amplitude"])
    assert np.allclose(out.sequences["T2"][core], (0.5 * out.image + 0.1 * field)[core], atol=2e-3)


# ---- labels, limits, ranges ------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31), modality=st.sampled_from(["ct", "mri", "xray", "us"]))
def test_standard_pipeline_keeps_label_set_and_value_range(seed, modality):
    s = body_phantom(32, seed=seed % 7, modality="ct" if modality == "ct" else "mri")
    s = s.replace(modality=modality)
    out = standard_pipeline(modality)(s, np.random.default_rng(seed))
    assert set(np.unique(out.label)) <= set(np.unique(s.label))
    lo, hi = get_profile(modality).value_range
    assert out.image.min() >= lo and out.image.max() <= hi
    assert out.image.dtype == np.float32 and out.label.dtype == s.label.dtype


@pytest.mark.parametrize("modality", MODALITIES)
def test_drawn_parameters_never_exceed_the_profile_limits(modality):
    prof = get_profile(modality)
    s = body_phantom(16).replace(modality=modality)
    rng = np.random.default_rng(11)
    aff, con, bri, noi = RandomAffine(), RandomContrast(), RandomBrightness(), RandomNoise()
    for _ in range(300):
        p = aff.draw(s, rng)
        assert abs(p["rotation_deg"]) <= prof.rotation_deg <= prof.rotation_hard_limit_deg
        assert max(abs(v) for v in p.get("translation_mm", [0])) <= prof.translation_max_mm
        assert prof.scale_range[0] <= p["scale"][0] <= prof.scale_range[1]
        assert max(abs(v) for v in p.get("shear_deg", [0])) <= prof.shear_max_deg
        assert prof.contrast_range[0] <= con.draw(s, rng)["factor"] <= prof.contrast_range[1]
        assert abs(bri.draw(s, rng)["offset"]) <= prof.brightness_max
        assert prof.noise_sigma_range[0] <= noi.draw(s, rng)["sigma"] <= prof.noise_sigma_range[1]


def test_issue_defaults_of_the_profiles():
    ct, mri, xr = get_profile("ct"), get_profile("mri"), get_profile("xray")
    assert (ct.rotation_deg, ct.rotation_hard_limit_deg, mri.rotation_deg, xr.rotation_deg) == (5, 10, 3, 2)
    assert (ct.contrast_range, mri.contrast_range, xr.contrast_range) == ((0.8, 1.2), (0.7, 1.0), (0.9, 1.1))
    assert ct.brightness_max == 30 and ct.noise_sigma_range == (10, 20) and ct.value_range == (-1024, 3071)


def test_rotation_within_hard_limit_allowed_but_never_beyond():
    rng = np.random.default_rng(0)
    s = body_phantom(16)
    t = RandomRotation(degrees=9.0, modality="ct")  # above the default 5, below the hard 10
    assert all(abs(t.draw(s, rng)["rotation_deg"]) <= 9.0 for _ in range(100))
    with pytest.raises(ParameterError, match="hard limit rotation_deg=10"):
        RandomRotation(degrees=12.0, modality="ct")
    with pytest.raises(ParameterError, match="hard limit"):
        RandomRotation(degrees=(-3, 6), modality="xray")
    with pytest.raises(ConfigError):
        get_profile("ct", {"rotation_deg": 15})


def test_ct_stays_in_hu_range_at_extremes():
    img = np.full((32, 32), 3071.0, np.float32)
    img[:, :16] = -1024.0
    s = Sample(img, modality="ct")
    rng = np.random.default_rng(2)
    ts = [RandomContrast(), RandomBrightness(), RandomGamma(), RandomNoise(), RandomBlur(), RandomOcclusion(),
          RandomAffine(image_order=3), ElasticDeformation(image_order=3)]
    for t in ts:
        for _ in range(10):
            out = t(s, rng)
            assert out.image.min() >= -1024.0 and out.image.max() <= 3071.0, type(t).__name__


def test_elastic_limit_and_fold_free_condition():
    rng = np.random.default_rng(4)
    s = body_phantom(32)
    with pytest.raises(ParameterError, match="exceeds the ct profile"):
        ElasticDeformation(max_displacement_mm=6.0, modality="ct")
    with pytest.raises(ParameterError, match="fold"):
        ElasticDeformation(max_displacement_mm=4.0, control_spacing_mm=8.0, modality="ct")
    t = ElasticDeformation(alpha=800, sigma=6, modality="ct")  # textbook field, limited by the profile
    geom = Geometry(s.shape, s.spacing)
    for _ in range(5):
        p = t.draw(s, rng)
        d = ElasticDeformation.displacement(p, geom)
        assert np.sqrt((d ** 2).sum(0)).max() <= 4.0 + 1e-4


def test_textbook_simard_setting_is_reproducible():
    img = body_phantom(64).image
    a = elastic_deform_simard(img, np.random.default_rng(9), alpha=800, sigma=6)
    b = elastic_deform_simard(img, np.random.default_rng(9), alpha=800, sigma=6)
    assert a[0].tobytes() == b[0].tobytes()
    rms = float(np.sqrt((a[2] ** 2).sum(0).mean() / 2))
    assert 30 < rms < 60  # 37.6 px per component in theory (Gaussian noise), more near the reflected border


# ---- determinism, 3D, modality-specific ------------------------------------------------------


def test_same_seed_same_bytes_and_replay():
    s = body_phantom(32, modality="mri")
    pipe = standard_pipeline("mri", p_elastic=1.0, p_modality=1.0, p_noise=1.0)
    a = pipe(s, rng_for(42, "aug", "case1"))
    b = pipe(s, rng_for(42, "aug", "case1"))
    c = pipe(s, rng_for(42, "aug", "case2"))
    assert a.image.tobytes() == b.image.tobytes() and a.label.tobytes() == b.label.tobytes()
    assert a.image.tobytes() != c.image.tobytes()
    json.dumps(a.history)  # recorded parameters are JSON-serialisable, to log them
    r = replay(s, json.loads(json.dumps(a.history)))
    assert r.image.tobytes() == a.image.tobytes()


def test_3d_volume_with_sequences():
    s2 = body_phantom(32)
    vol = np.repeat(s2.image[None], 8, axis=0)
    lab = np.repeat(s2.label[None], 8, axis=0)
    s = Sample(vol, lab, sequences={"T2": vol * 2.0}, spacing=(3.0, 1.0, 1.0), modality="ct", legend=LEGEND)
    out = standard_pipeline("ct", p_elastic=1.0)(s, np.random.default_rng(0))
    assert out.image.shape == (8, 32, 32) and out.label.shape == (8, 32, 32)
    assert set(np.unique(out.label)) <= set(np.unique(lab))
    assert out.history[0]["params"]["rotation_axis"] and len(out.history[0]["params"]["translation_mm"]) == 3
    flip = RandomFlip(axes=(-1,), flip_probability=1.0)(s, np.random.default_rng(0))
    assert np.array_equal(flip.label[3] == 2, lab[3, :, ::-1] == 3)
    rot = RandomRotation(degrees=(4, 4), in_plane=True)(s, np.random.default_rng(0))
    rot2d = RandomRotation(degrees=(4, 4))(s2, np.random.default_rng(0))
    assert np.array_equal(rot.label[4], rot2d.label)  # a z-axis 3D rotation equals the 2D rotation


def test_xray_is_2d_in_plane_only_and_elastic_is_refused():
    with pytest.raises(ParameterError, match="not allowed for xray"):
        ElasticDeformation(modality="xray")
    vol = Sample(np.zeros((4, 16, 16), np.float32), modality="xray")
    with pytest.raises(ParameterError, match="2D"):
        RandomAffine()(vol, np.random.default_rng(0))


def test_bias_field_and_speckle_statistics():
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = RandomBiasField(modality="mri")
        s = Sample(np.ones((24, 24, 24), np.float32), modality="mri")
        out = t(s, rng)
        assert 1 / 1.3 - 1e-5 <= out.image.min() and out.image.max() <= 1.3 + 1e-5
    f = speckle_factor((256, 256), 0.3, np.random.default_rng(1))
    assert abs(f.mean() - 1) < 0.01 and abs(f.std() - 0.3) < 0.02 and f.min() > 0


def fan_image(n=96, half_deg=30.0):
    sector = {"apex_mm": [-(n - 1) / 2.0 - 5.0, 0.0], "radius_mm": [10.0, 90.0], "half_angle_deg": half_deg}
    m = sector_mask((n, n), (1.0, 1.0), sector)
    img = np.where(m, 0.5 + 0.2 * np.sin(np.arange(n) / 3.0)[:, None], 0.0).astype(np.float32)
    return img, sector


def test_sector_geometry_is_estimated_and_kept():
    img, sector = fan_image()
    est = estimate_sector(img, (1.0, 1.0))
    assert abs(est["half_angle_deg"] - 30.0) < 1.5 and abs(est["apex_mm"][0] - sector["apex_mm"][0]) < 4
    s = Sample(img, (img > 0).astype(np.uint8), modality="us", meta={"sector": sector})
    t = RandomSectorAngle(max_change_deg=(4.0, 4.0))
    out = t(s, np.random.default_rng(0))
    new = out.meta["sector"]
    assert new["half_angle_deg"] == pytest.approx(32.0) and new["apex_mm"] == sector["apex_mm"]
    inside = sector_mask(s.shape, s.spacing, new)
    assert (out.image[~inside] == 0).all() and (out.image[ndi.binary_erosion(inside, iterations=2)] > 0).all()
    with pytest.raises(ParameterError, match="sector_angle_max_deg"):
        RandomSectorAngle(max_change_deg=8.0, modality="us")
    sp = RandomSpeckle()(s, np.random.default_rng(0))
    assert (sp.image[~(img > 0)] == 0).all() and sp.image.max() <= 1.0


def test_occlusion_fill_values_follow_the_modality():
    rng = np.random.default_rng(0)
    ct = RandomOcclusion()(body_phantom(32), rng)
    assert ct.image.max() == 3071.0 and np.array_equal(ct.label, body_phantom(32).label)
    img, sector = fan_image()
    us = RandomOcclusion(max_boxes=1)(Sample(img, modality="us", meta={"sector": sector}), rng)
    hidden = RandomOcclusion.mask(img.shape, (1.0, 1.0), us.history[0]["params"])
    assert (us.image[hidden] == 0).all() and hidden[-1].any()  # the shadow reaches the far edge


# ---- composition, bad parameters -------------------------------------------------------------


def test_compose_oneof_probabilities():
    s = body_phantom(16)
    rng = np.random.default_rng(0)
    never = Compose([RandomNoise(p=0.0), RandomAffine(p=0.0)])
    assert never(s, rng).history == []
    one = OneOf([RandomContrast(), RandomBrightness()], weights=[1, 0])
    assert all(one(s, rng).history[0]["transform"] == "RandomContrast" for _ in range(5))
    counts = sum(bool(RandomNoise(p=0.3)(s, rng).history) for _ in range(400))
    assert 80 < counts < 160
    d = RandomNoise()({"image": s.image, "modality": "ct", "case": 7}, rng)
    assert d["case"] == 7 and d["history"][0]["transform"] == "RandomNoise"


def test_bad_parameters_give_clear_errors():
    with pytest.raises(ParameterError, match="sigma_range.*>= 0"):
        RandomNoise(sigma_range=(-1.0, 2.0))
    with pytest.raises(ParameterError, match="blur"):
        RandomBlur(sigma_mm_range=-0.5)
    with pytest.raises(ParameterError, match="outside the ct profile's contrast_range"):
        RandomContrast(factor_range=(0.5, 1.5), modality="ct")
    with pytest.raises(ParameterError, match="explicit numpy Generator"):
        RandomNoise(modality="ct")(body_phantom(16), 42)
    with pytest.raises(ParameterError, match="p=1.5"):
        RandomNoise(p=1.5)
    with pytest.raises(ParameterError, match="needs a modality"):
        RandomNoise()(np.zeros((8, 8), np.float32), np.random.default_rng(0))
    with pytest.raises(ParameterError, match="label shape"):
        Sample(np.zeros((8, 8)), np.zeros((4, 4), np.uint8))
    with pytest.raises(ParameterError, match="built for ct"):
        RandomNoise(modality="ct")(body_phantom(16, modality="mri"), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="scale_range"):
        get_profile("ct", {"scale_range": [1.2, 0.8]})


def test_profile_overrides_widen_limits():
    prof = get_profile("ct", {"translation_max_mm": 20.0})
    t = RandomTranslation(translation_mm=15.0, modality=prof)
    assert abs(t.draw(body_phantom(16), np.random.default_rng(0))["translation_mm"][0]) <= 15.0
    with pytest.raises(ParameterError, match="translation_max_mm"):
        RandomTranslation(translation_mm=15.0, modality="ct")


# ---- Mixup / CutMix --------------------------------------------------------------------------


def test_mixup_and_cutmix_weights_sum_to_one():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 16, 16)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    mb = mixup(x, y, alpha=0.4, generator=g)
    assert sum(mb.weights) == pytest.approx(1.0)
    assert torch.allclose(mb.inputs, mb.lam * x + (1 - mb.lam) * x[mb.index])
    assert torch.allclose(mb.soft_targets(3).sum(1), torch.ones(6))
    masks = torch.randint(0, 3, (6, 16, 16))
    cm = CutMix(1.0)(x, y, g, masks=masks)
    moved = cm.index != torch.arange(6)  # a sample paired with itself is unchanged
    pasted = (cm.inputs != x)[moved].float().mean().item()
    assert sum(cm.weights) == pytest.approx(1.0) and cm.lam == pytest.approx(1 - pasted, abs=1e-6)
    changed = (cm.masks != masks)
    assert changed.sum() <= (1 - cm.lam) * masks.numel() + 1
    loss = cm.loss(torch.nn.functional.cross_entropy, torch.randn(6, 3))
    assert torch.isfinite(loss)
    x3 = torch.rand(4, 2, 8, 8, 8)
    c3 = cutmix(x3, torch.arange(4), generator=np.random.default_rng(0))
    assert 0.0 <= c3.lam <= 1.0
    with pytest.raises(ParameterError):
        Mixup(alpha=-1)
    with pytest.raises(ParameterError, match="explicit"):
        mixup(x, y)


def test_mixup_is_deterministic_per_generator():
    x, y = torch.rand(4, 1, 8, 8), torch.arange(4)
    a = mixup(x, y, generator=torch.Generator().manual_seed(3))
    b = mixup(x, y, generator=torch.Generator().manual_seed(3))
    assert a.lam == b.lam and torch.equal(a.inputs, b.inputs)


# ---- policies --------------------------------------------------------------------------------


def test_policy_operations_stay_within_the_profile():
    s = body_phantom(16)
    prof = get_profile("ct")
    for op in OPS:
        for sign in (-1, 1):
            cls, p = operation_record(op, 10, sign, s, prof)
            if op == "rotate":
                assert abs(p["rotation_deg"]) == prof.rotation_deg
            if op == "contrast":
                assert prof.contrast_range[0] <= p["factor"] <= prof.contrast_range[1]
            if op == "noise":
                assert p["sigma"] == prof.noise_sigma_range[1]
    mri = get_profile("mri")
    assert operation_record("contrast", 10, 1, s, mri)[1]["factor"] <= 1.0
    with pytest.raises(ParameterError):
        operation_record("solarize", 5, 1, s, prof)


def test_policy_roundtrip_and_replay():
    rng = np.random.default_rng(0)
    pol = random_policy(rng, 4)
    again = policy_from_dict(json.loads(json.dumps(pol.to_dict())))
    assert again.to_dict() == pol.to_dict()
    s = body_phantom(24)
    out = Policy([[("rotate", 1.0, 10), ("noise", 1.0, 5)]])(s, rng)
    assert [h["transform"] for h in out.history] == ["RandomAffine", "RandomNoise"]
    assert replay(s, out.history).image.tobytes() == out.image.tobytes()
    ra = RandAugment(2, 9)(s, rng)
    assert len(ra.history) == 2


def test_search_ranks_candidates_with_a_pluggable_scorer():
    train = [body_phantom(16, seed=i) for i in range(4)]
    val = [body_phantom(16, seed=10 + i) for i in range(2)]

    def scorer(policy, tr, va, rng):  # prefers RandAugment with large magnitude
        return {"score": 0.0 if policy is None else float(getattr(policy, "m", 0))}

    res = search_policy(train, val, scorer, np.random.default_rng(0), method="both", n_random=3)
    scores = [c["score"] for c in res.candidates]
    assert scores == sorted(scores, reverse=True) and res.best.to_dict()["name"] == "randaugment_n1_m9"
    assert res.baseline["name"] == "no_augmentation" and res.evaluated == 3 + 6


def test_built_in_scorers_run_and_share_initialisation():
    from mira.augment.scorers import TinyCNNScorer, TinySegmenterScorer

    train = [body_phantom(32, seed=i) for i in range(4)]
    val = [body_phantom(32, seed=10 + i) for i in range(2)]
    res = TinyCNNScorer(image_size=16, epochs=2, copies=1, repeats=1)(RandAugment(1, 5), train, val,
                                                                       np.random.default_rng(0))
    assert np.isfinite(res["score"]) and 0 <= res["val_accuracy"] <= 1
    seg = TinySegmenterScorer(image_size=24, epochs=5, copies=2, lr=1e-2, batch_size=2)
    a = seg(None, train, val, np.random.default_rng(0))
    b = seg(None, train, val, np.random.default_rng(1))  # no augmentation: the generator is unused
    assert 0 < a["val_dice"] <= 1 and a["score"] == b["score"]


# ---- constraint checks -----------------------------------------------------------------------


def test_constraint_metrics_and_flags():
    s = body_phantom(48)
    prof = get_profile("ct")
    same = measure(s, s, [], prof)
    assert same["dice"] == 1.0 and same["volume_error"] == 0.0 and same["positions_kept"] == 1.0
    assert same["lesion_cnr_ratio"] == pytest.approx(1.0) and violations(same, Tolerances()) == []
    rot = RandomRotation(degrees=(4, 4))(s, np.random.default_rng(0))
    recs = [(TRANSFORMS[h["transform"]], h["params"]) for h in rot.history]
    m = measure(s, rot, recs, prof)
    assert m["dice"] > 0.95 and m["volume_error"] < 0.05 and m["in_range"] == 1.0
    big = body_phantom(96)
    sc = RandomScaling(scales=(1.1, 1.1))(big, np.random.default_rng(0))
    recs = [(TRANSFORMS[h["transform"]], h["params"]) for h in sc.history]
    m = measure(big, sc, recs, prof)
    assert m["volume_change"] > 0.15 and m["volume_error"] < 0.05  # 1.1^2 expected, so no error
    per_draw, agg = check_constraints([s], prof, np.random.default_rng(0), draws=1)
    rows = {r["transform"]: r for r in agg}
    assert rows["contrast"]["dice_mean"] == 1.0 and rows["rotation"]["in_range"]
    assert "dice" in rows["elastic_textbook"]["flags"]  # the textbook setting breaks the anatomy
    assert not rows["elastic_textbook"]["within_profile"]


def test_demo_figure_and_summary(tmp_path):
    from figure_checks import check_png
    from mira.augment.demo import summary_rows
    from mira.study.report.augmentation import demo_figure

    s = body_phantom(32)
    path = tmp_path / "demo.png"
    n = demo_figure(s, get_profile("ct"), np.random.default_rng(0), path)
    assert n >= 15
    check_png(path, grid=(3, 3))  # rows basic / intensity / advanced
    rows = summary_rows([s], get_profile("ct"), np.random.default_rng(0), variants=2)
    assert all(r["value_range_kept"] for r in rows if r["within_profile"])


# ---- GAN -------------------------------------------------------------------------------------


def test_dcgan_trains_deterministically_and_statistics_are_sane():
    from mira.augment.gan import gan_statistics, generate, resize_images, to_unit, train_dcgan

    imgs = to_unit(resize_images([body_phantom(48, seed=i).image for i in range(6)], 64), get_profile("ct"))
    a = train_dcgan(imgs, seed=1, max_iterations=2, batch_size=4, width=4, latent_dim=8)
    b = train_dcgan(imgs, seed=1, max_iterations=2, batch_size=4, width=4, latent_dim=8)
    fa, fb = generate(a.generator, 6, 8, 0), generate(b.generator, 6, 8, 0)
    assert fa.shape == (6, 64, 64) and fa.tobytes() == fb.tobytes() and a.iterations == 2
    assert np.abs(fa).max() <= 1.0
    st_real = gan_statistics(imgs[:3], imgs[:3], imgs[3:], get_profile("ct"), permutations=20)
    st_fake = gan_statistics(fa, imgs[:3], imgs[3:], get_profile("ct"), permutations=20)
    assert st_fake["mmd2"] > st_real["mmd2"] and st_fake["intensity_w1"] > st_real["intensity_w1"]
    with pytest.raises(ParameterError):
        train_dcgan(imgs[:, :48, :48], seed=0, max_iterations=1)  # 48 px: not a DCGAN size

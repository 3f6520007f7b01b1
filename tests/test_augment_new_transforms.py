"""MRI multi-sequence fusion, X-ray projection geometry and adversarial augmentation (mira.augment)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.transform import ProjectiveTransform

from mira.augment import (
    AdversarialPerturbation,
    Compose,
    MultiSequenceFusion,
    ProjectionGeometry,
    RandomRotation,
    Sample,
    adversarial_perturbation,
    fuse_sequences,
    projection_homography,
    replay,
)
from mira.augment.catalogue import catalogue_for
from mira.augment.constraints import Tolerances, check_constraints
from mira.errors import ConfigError, ParameterError
from mira.modalities import get_profile
from mira.nn.device import resolve_device
from mira.synthesis import synthesize_case

MRI, XRAY, CT = get_profile("mri"), get_profile("xray"), get_profile("ct")


@pytest.fixture(scope="module")
def mri_case() -> Sample:
    c = synthesize_case("mri", np.random.default_rng(3), size=48)
    return Sample(image=c.image, label=c.label, sequences=c.sequences, spacing=c.spacing, modality="mri",
                  legend=c.legend, meta={"class_label": c.class_label})


@pytest.fixture(scope="module")
def xray_case() -> Sample:
    c = synthesize_case("xray", np.random.default_rng(3), size=64)
    return Sample(image=c.image, label=c.label, spacing=c.spacing, modality="xray", legend=c.legend,
                  meta={"class_label": c.class_label})


def smooth_xray(n: int = 96) -> Sample:
    """Smooth blobs (I/I0 in 0.2..0.9) with a disc label, 1 mm pixels."""
    yy, xx = (np.mgrid[:n, :n] - (n - 1) / 2.0) / n
    img = 0.2 + 0.5 * np.exp(-((yy - 0.1) ** 2 + (xx + 0.15) ** 2) / 0.03) + 0.2 * np.exp(-(yy + xx) ** 2 / 0.05)
    lab = (((yy + 0.1) ** 2 + (xx - 0.1) ** 2) < 0.15 ** 2).astype(np.uint8)
    return Sample(image=img.astype(np.float32), label=lab, spacing=(1.0, 1.0), modality="xray")


def fixed_projection(sid: float, oid: float, tilt: float = 0.0) -> ProjectionGeometry:
    return ProjectionGeometry(sid_range_mm=(sid, sid), oid_range_mm=(oid, oid), tilt_deg=(tilt, tilt), modality=XRAY)


# ---- MRI multi-sequence fusion ---------------------------------------------------------------------


def test_fusion_is_a_convex_combination_within_range_with_the_label_map_unchanged(mri_case):
    rng = np.random.default_rng(0)
    stack = np.stack([mri_case.sequences[k] for k in ("T1", "T2", "FLAIR")])
    for _ in range(5):
        out = MultiSequenceFusion(modality=MRI)(mri_case, rng)
        p = out.history[-1]["params"]
        w = np.asarray(p["weights"])
        assert p["channels"] == "T1,T2,FLAIR"  # the image duplicates T1, so it is not combined twice
        assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.array_equal(out.label, mri_case.label) and out.spacing == mri_case.spacing
        assert all(np.array_equal(out.sequences[k], mri_case.sequences[k]) for k in mri_case.sequences)
        assert out.image.min() >= 0.0 and np.isfinite(out.image).all()
        tol = 1e-6
        assert np.all(out.image <= stack.max(0) + tol) and np.all(out.image >= stack.min(0) - tol)
        assert not np.array_equal(out.image, mri_case.image)
        assert replay(mri_case, out.history).image.tobytes() == out.image.tobytes()
    # per-sequence gamma within the profile's gamma_range: still non-negative, still within [0, inf)
    out = MultiSequenceFusion(gamma_range=None, modality=MRI)(mri_case, rng)
    g = np.asarray(out.history[-1]["params"]["gammas"])
    assert np.all((g >= MRI.gamma_range[0]) & (g <= MRI.gamma_range[1])) and np.ptp(g) > 0
    assert out.image.min() >= 0.0 and np.isfinite(out.image).all()


def test_fusion_with_one_hot_weights_returns_that_sequence(mri_case):
    rec = MultiSequenceFusion(modality=MRI).draw(mri_case, np.random.default_rng(1))
    for k, name in enumerate(("T1", "T2", "FLAIR")):
        w = [0.0, 0.0, 0.0]
        w[k] = 1.0
        out = MultiSequenceFusion.apply(mri_case, dict(rec, weights=w))
        assert out.image.tobytes() == mri_case.sequences[name].tobytes()
    same = fuse_sequences({"a": mri_case.sequences["T2"], "b": mri_case.sequences["FLAIR"]}, [0.0, 1.0])
    assert same.tobytes() == mri_case.sequences["FLAIR"].tobytes()


def test_fusion_refuses_sequences_that_are_not_coregistered(mri_case):
    t2 = mri_case.sequences["T2"]
    with pytest.raises(ParameterError, match="not co-registered"):
        fuse_sequences({"T1": mri_case.image, "T2": t2[:-1]}, [0.5, 0.5])
    with pytest.raises(ParameterError, match="spacings"):
        fuse_sequences({"T1": mri_case.image, "T2": t2}, [0.5, 0.5], spacings={"T1": (1.0, 1.0), "T2": (1.0, 1.2)})
    with pytest.raises(ParameterError, match="simplex"):
        fuse_sequences({"T1": mri_case.image, "T2": t2}, [0.7, 0.7])
    with pytest.raises(ParameterError, match="shape"):  # a sample holds one grid
        Sample(image=mri_case.image, sequences={"T2": t2[:, :-2]}, modality="mri")
    lone = Sample(image=mri_case.image, sequences={"T1": mri_case.image}, modality="mri")
    with pytest.raises(ParameterError, match="at least two"):
        MultiSequenceFusion(modality=MRI)(lone, np.random.default_rng(0))
    with pytest.raises(ParameterError, match="no sequence"):
        MultiSequenceFusion(sequences=["T1", "PD"], modality=MRI)(mri_case, np.random.default_rng(0))


def test_fusion_is_bounded_by_the_mri_profile():
    with pytest.raises(ParameterError, match="gamma_range"):
        MultiSequenceFusion(gamma_range=(0.5, 1.5), modality=MRI)
    with pytest.raises(ParameterError, match="not allowed for ct"):
        MultiSequenceFusion(modality=CT)
    MultiSequenceFusion(gamma_range=(0.9, 1.1), modality=get_profile("mri", {"gamma_range": [0.9, 1.1]}))


# ---- X-ray projection geometry -----------------------------------------------------------------


def test_reference_geometry_without_tilt_is_the_identity(xray_case):
    out = fixed_projection(1800.0, 150.0)(xray_case, np.random.default_rng(0))
    assert np.allclose(projection_homography(out.history[-1]["params"]), np.eye(3), atol=1e-12)
    assert out.image.tobytes() == xray_case.image.tobytes() and np.array_equal(out.label, xray_case.label)
    assert out.spacing == pytest.approx(xray_case.spacing, rel=1e-12)


@pytest.mark.parametrize("sid, oid", [(1500.0, 200.0), (1800.0, 100.0)])
def test_magnification_scales_an_object_as_sid_over_sod_predicts(sid, oid):
    s = smooth_xray(128)
    out = fixed_projection(sid, oid)(s, np.random.default_rng(0))
    k = (sid / (sid - oid)) / (1800.0 / 1650.0)  # magnification over the stored images' M0
    assert out.history[-1]["params"]["magnification_ratio"] == pytest.approx(k)
    radius_ratio = np.sqrt((out.label == 1).sum() / (s.label == 1).sum())
    assert radius_ratio == pytest.approx(k, abs=0.01)
    # the detector pitch is fixed: the spacing at the object shrinks by k and the organ keeps its size in mm
    assert out.spacing == pytest.approx([1.0 / k, 1.0 / k], rel=1e-9)
    area_mm2 = (out.label == 1).sum() * np.prod(out.spacing)
    assert area_mm2 == pytest.approx((s.label == 1).sum(), rel=0.02)


def test_label_and_image_move_to_where_the_homography_maps_a_point():
    n = 96
    img = np.full((n, n), 0.3, np.float32)
    lab = np.zeros((n, n), np.uint8)
    r, c = 22, 70
    img[r - 1:r + 2, c - 1:c + 2] = 0.9
    lab[r - 1:r + 2, c - 1:c + 2] = 1
    s = Sample(image=img, label=lab, spacing=(0.8, 0.8), modality="xray")
    out = fixed_projection(1500.0, 200.0, tilt=3.0)(s, np.random.default_rng(4))
    params = out.history[-1]["params"]
    centre = (n - 1) / 2.0
    expected = ProjectiveTransform(matrix=projection_homography(params))(np.array([[r - centre, c - centre]]))[0]
    expected += centre
    ys, xs = np.nonzero(out.label == 1)
    assert np.hypot(ys.mean() - expected[0], xs.mean() - expected[1]) < 0.5
    w = np.clip(out.image - 0.3, 0, None)
    yy, xx = np.mgrid[:n, :n]
    assert np.hypot((w * yy).sum() / w.sum() - expected[0], (w * xx).sum() / w.sum() - expected[1]) < 0.5
    # a pure magnification moves the point radially by exactly M / M0
    mag = fixed_projection(1500.0, 200.0).draw(s, np.random.default_rng(0))
    q = ProjectiveTransform(matrix=projection_homography(mag))(np.array([[r - centre, c - centre]]))[0]
    assert q == pytest.approx(np.array([r - centre, c - centre]) * mag["magnification_ratio"], rel=1e-9)


def test_tilt_is_a_keystone_not_a_scaling():
    s = smooth_xray(64)
    rec = fixed_projection(1800.0, 150.0, tilt=3.0).draw(s, np.random.default_rng(0))
    h = projection_homography(dict(rec, tilt_axis_deg=0.0))  # axis along the columns: rows are keystoned
    tf = ProjectiveTransform(matrix=h)
    top, bottom = tf(np.array([[-30.0, 0.0], [30.0, 0.0]]))
    assert abs(top[0]) != pytest.approx(abs(bottom[0]), abs=1e-3)  # one half magnified more than the other
    assert h[2, 0] != 0 and h[2, 1] == pytest.approx(0.0, abs=1e-15)


def test_invert_maps_the_output_back_onto_the_input():
    s = smooth_xray(96)
    out = fixed_projection(1500.0, 200.0, tilt=3.0)(s, np.random.default_rng(2))
    params = out.history[-1]["params"]
    back = ProjectionGeometry.invert(out, params)
    assert back.spacing == s.spacing and back.shape == s.shape
    inner = (slice(20, 76), slice(20, 76))
    assert np.abs(back.image[inner] - s.image[inner]).max() < 0.01
    a, b = back.label == 1, s.label == 1
    assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.95


def test_projection_in_compose_replays_and_passes_the_constraint_checks(xray_case):
    aug = Compose([RandomRotation(modality=XRAY), ProjectionGeometry(modality=XRAY)])
    out = aug(xray_case, np.random.default_rng(5))
    assert [h["transform"] for h in out.history] == ["RandomRotation", "ProjectionGeometry"]
    assert not any(h.get("fused_with_next") for h in out.history)  # applied on its own: the spacing changes
    again = replay(xray_case, out.history)
    assert again.image.tobytes() == out.image.tobytes() and again.spacing == out.spacing
    assert out.spacing == pytest.approx(out.history[-1]["params"]["spacing_out_mm"])
    ents = [e for e in catalogue_for(XRAY, [xray_case]) if e.name == "projection_geometry"]
    assert len(ents) == 1 and ents[0].family == "projection"
    _, agg = check_constraints([xray_case], XRAY, np.random.default_rng(0), draws=2, entries=ents,
                               tolerances=Tolerances(volume_error_max=1.0))
    assert agg[0]["in_range"] and agg[0]["dice_mean"] > 0.9


def test_projection_is_bounded_by_the_xray_profile():
    with pytest.raises(ParameterError, match="detector_tilt_max_deg"):
        ProjectionGeometry(tilt_deg=5.0, modality=XRAY)
    with pytest.raises(ParameterError, match="source_image_distance_range_mm"):
        ProjectionGeometry(sid_range_mm=(1000.0, 1800.0), modality=XRAY)
    with pytest.raises(ParameterError, match="object_image_distance_range_mm"):
        ProjectionGeometry(oid_range_mm=(50.0, 150.0), modality=XRAY)
    with pytest.raises(ParameterError, match="not allowed for ct"):
        ProjectionGeometry(modality=CT)
    with pytest.raises(ConfigError, match="object_image_distance_mm"):
        get_profile("xray", {"object_image_distance_mm": 1900.0})
    with pytest.raises(ConfigError, match="detector_tilt_max_deg"):
        get_profile("xray", {"detector_tilt_max_deg": -1.0})
    wide = get_profile("xray", {"detector_tilt_max_deg": 6.0})
    ProjectionGeometry(tilt_deg=5.0, modality=wide)


# ---- adversarial perturbation -------------------------------------------------------------------


class HU(torch.nn.Module):
    """Input normalisation of the tiny networks: HU / 1000."""

    def forward(self, x):
        return x / 1000.0


def tiny_classifier(seed: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(HU(), torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(64, 2)).to(device)


def tiny_segmenter(seed: int, device: torch.device, classes: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(HU(), torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, classes, 3, padding=1)).to(device)


@pytest.fixture(scope="module")
def ct_case() -> Sample:
    c = synthesize_case("ct", np.random.default_rng(3), size=48)
    return Sample(image=c.image, label=c.label, spacing=c.spacing, modality="ct", legend=c.legend,
                  meta={"class_label": c.class_label})


def model_loss(model, sample, image, target="class"):
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).to(next(model.parameters()).device)[None, None]
    with torch.no_grad():
        out = model(x)
    y = (torch.tensor([sample.meta["class_label"]]) if target == "class"
         else torch.from_numpy(sample.label.astype(np.int64))[None]).to(out.device)
    return float(torch.nn.functional.cross_entropy(out, y))


@pytest.mark.parametrize("steps", [1, 5])
def test_adversarial_perturbation_raises_the_loss_within_the_bounds(ct_case, steps):
    device = resolve_device("auto")
    model = tiny_classifier(0, device)
    model.train()
    aug = AdversarialPerturbation(model, steps=steps, random_start=steps > 1, modality=CT)
    out = aug(ct_case, np.random.default_rng(0))
    p = out.history[-1]["params"]
    eps = CT.adversarial_epsilon_max
    assert p["epsilon"] == eps and p["steps"] == steps and p["target"] == "auto"
    delta = out.image.astype(np.float64) - ct_case.image
    ulp = float(np.spacing(np.float32(np.abs(ct_case.image).max())))  # float32 rounding of the image values
    assert np.abs(delta).max() <= eps + ulp and eps - ulp <= p["linf"] <= eps + ulp
    assert out.image.min() >= CT.value_range[0] and out.image.max() <= CT.value_range[1]
    assert model_loss(model, ct_case, out.image) > model_loss(model, ct_case, ct_case.image)
    assert np.array_equal(out.label, ct_case.label)
    assert model.training and all(q.grad is None for q in model.parameters())  # mode kept, weights untouched
    again = aug(ct_case, np.random.default_rng(0))
    assert again.image.tobytes() == out.image.tobytes() and again.history[-1]["params"]["sha256"] == p["sha256"]
    assert aug.replay(ct_case, p).image.tobytes() == out.image.tobytes()
    with pytest.raises(ParameterError, match="without its model"):
        replay(ct_case, out.history)


def test_adversarial_segmentation_target_and_random_start(ct_case):
    device = resolve_device("auto")
    model = tiny_segmenter(1, device, int(ct_case.label.max()) + 1)
    aug = AdversarialPerturbation(model, epsilon=10.0, steps=3, random_start=True, modality=CT)
    a = aug(ct_case, np.random.default_rng(0))
    b = aug(ct_case, np.random.default_rng(1))
    assert a.image.tobytes() != b.image.tobytes()  # the random start comes from the generator
    for out in (a, b):
        assert np.abs(out.image.astype(np.float64) - ct_case.image).max() <= 10.0 + 1e-4
        assert model_loss(model, ct_case, out.image, "label") > model_loss(model, ct_case, ct_case.image, "label")
    # the library function: epsilon 0 changes nothing; the physical range is kept at its edges
    img = np.full((16, 16), CT.value_range[0], np.float32)
    zero = adversarial_perturbation(img, model, np.zeros((16, 16), int), epsilon=0.0, value_range=CT.value_range)
    assert not zero.any()
    edge = adversarial_perturbation(img, model, np.ones((16, 16), int), epsilon=20.0, value_range=CT.value_range)
    assert (img + edge).min() >= CT.value_range[0]


def test_adversarial_is_bounded_by_the_profile(ct_case):
    model = tiny_classifier(0, torch.device("cpu"))
    with pytest.raises(ParameterError, match="adversarial_epsilon_max"):
        AdversarialPerturbation(model, epsilon=50.0, modality=CT)
    with pytest.raises(ParameterError, match="adversarial_epsilon_max"):
        AdversarialPerturbation(model, epsilon=0.05, modality=XRAY)
    AdversarialPerturbation(model, epsilon=50.0, modality=get_profile("ct", {"adversarial_epsilon_max": 50.0}))
    no_class = ct_case.replace(meta={}, label=None)
    with pytest.raises(ParameterError, match="class_label"):
        AdversarialPerturbation(model, modality=CT)(no_class, np.random.default_rng(0))


# ---- catalogue -------------------------------------------------------------------------------------


def test_catalogue_lists_fusion_only_with_sequences_and_projection_only_for_xray(mri_case, xray_case):
    names = {e.name for e in catalogue_for(MRI, [mri_case])}
    assert "sequence_fusion" in names and "projection_geometry" not in names
    bare = mri_case.replace(sequences={})
    assert "sequence_fusion" not in {e.name for e in catalogue_for(MRI, [bare])}
    assert "projection_geometry" in {e.name for e in catalogue_for(XRAY, [xray_case])}
    assert not any(e.family == "adversarial" for p in (CT, MRI, XRAY) for e in catalogue_for(p, [xray_case]))

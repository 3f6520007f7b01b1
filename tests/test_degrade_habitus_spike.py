"""Body habitus (CT, X-ray, ultrasound) and MRI k-space spikes (mira.degrade): physics, grading, replay."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mira.degrade import LEVEL_NAMES, apply, degradations_for
from mira.degrade import ct_projection as ctp
from mira.degrade import mri_kspace as mk
from mira.degrade.grading import grade_case
from mira.degrade.ultrasound import body_habitus_us
from mira.degrade.xray import body_habitus_xray
from mira.errors import ParameterError
from mira.modalities import get_profile

NEW = [("ct", "body_habitus"), ("xray", "body_habitus"), ("us", "body_habitus"), ("mri", "spike")]


def _disk(n: int, inside: float, outside: float, radius: float = 0.4) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return np.where(np.hypot(yy - n / 2, xx - n / 2) < radius * n, inside, outside).astype(np.float64)


def _centre(n: int, radius: float = 0.12) -> np.ndarray:
    return _disk(n, 1.0, 0.0, radius) > 0


# ---- registry, levels, schema ----------------------------------------------------------------------


def test_new_degradations_are_graded_like_the_others():
    from mira.config import validate_config

    for modality, name in NEW:
        assert name in degradations_for(modality)
    defaults = validate_config({})["degrade"]["degradations"]
    assert all(name in defaults[modality] for modality, name in NEW)
    restored = validate_config({})["restore"]["denoise"]["degradations"]
    assert not any(name in restored.get(modality, []) for modality, name in NEW)  # restoration is opt-in
    ok = validate_config({"degrade": {"degradations": {"mri": ["spike"], "us": ["body_habitus"]}}})
    assert ok["degrade"]["degradations"]["mri"] == ["spike"]


@pytest.mark.parametrize("modality,name", NEW)
def test_levels_land_in_their_bands_on_a_phantom(modality, name):
    """mild < moderate < severe on the deciding measure, and each level in its own band."""
    from mira.seeding import rng_for
    from mira.synthesis import synthesize_case

    case = synthesize_case(modality, rng_for(5, "habitus-spike", modality), ndim=2, size=96, lesion=True)
    values, grades = [], []
    for level in LEVEL_NAMES:
        out = apply(name, case.image, level, rng_for(5, name, level), profile=get_profile(modality),
                    spacing=case.spacing)
        g = grade_case(out, case.image, case.label, case.legend)
        values.append(g[g["measure"]])
        grades.append(g["grade"])
    assert g["measure"] == ("artifact_pct" if name == "spike" else "snr_db")
    worse = np.diff(values) > 0 if name == "spike" else np.diff(values) < 0
    assert worse.all(), values
    assert grades == list(LEVEL_NAMES), (values, grades)


@pytest.mark.parametrize("modality,name", NEW)
def test_same_seed_same_bytes_and_replay(modality, name):
    img = {"ct": _disk(48, 40.0, -1000.0), "xray": _disk(48, 0.3, 1.0), "us": _disk(48, 0.5, 0.0, 0.6),
           "mri": _disk(48, 0.8, 0.0)}[modality]
    kw = dict(profile=get_profile(modality), spacing=(2.0, 2.0))
    a = apply(name, img, "moderate", np.random.default_rng(3), **kw)
    b = apply(name, img, "moderate", np.random.default_rng(3), **kw)
    assert a.image.tobytes() == b.image.tobytes() and a.params == b.params
    replay = apply(name, img, json.loads(json.dumps(a.params)), None, **kw)
    assert replay.image.tobytes() == a.image.tobytes()
    c = apply(name, img, "moderate", np.random.default_rng(4), **kw)
    assert not np.array_equal(c.image, a.image)  # the seed (noise, spike position) matters
    assert np.array_equal(a.reference, img)


# ---- MRI spike -----------------------------------------------------------------------------------


def test_spike_is_a_plane_wave_of_the_stated_amplitude():
    """On a constant image the spike's stripes are |m + a m e^(i phi)|: range exactly m (1 +- a)."""
    img = np.full((64, 64), 0.5)
    out = mk.kspace_spikes(img, [(0.125, -0.25)], 0.1, [0.0])
    assert out.min() >= 0 and out.min() == pytest.approx(0.45, abs=1e-3) and out.max() == pytest.approx(0.55, abs=1e-3)
    spec = np.abs(mk.to_kspace(out - img))
    spec[32, 32] = 0.0  # the magnitude's small DC shift
    peaks = {tuple(int(i) for i in np.unravel_index(k, spec.shape)) for k in np.argsort(spec, axis=None)[-2:]}
    assert peaks == {(32 + 8, 32 - 16), (32 - 8, 32 + 16)}  # the spike and its mirror (real image)
    assert (spec[40, 16] ** 2 + spec[24, 48] ** 2) / (spec ** 2).sum() > 0.99


def test_spike_energy_sits_at_the_drawn_position_on_a_real_mr_slice():
    from mira.ingest import load_series

    case = load_series("pydicom:", "mri", include=["MR_small.dcm"])[0]
    img = case.image.astype(np.float64)
    mri = get_profile("mri")
    out = apply("spike", img, "moderate", np.random.default_rng(2), profile=mri, spacing=case.spacing)
    assert out.image.shape == img.shape and out.spacing == tuple(case.spacing)
    lo, hi = mri.value_range
    assert np.isfinite(out.image).all() and out.image.min() >= max(lo, 0.0) and out.image.max() <= hi
    (fy, fx), = out.params["positions"]
    n = img.shape[0]
    spec = np.abs(mk.to_kspace(out.image - img))
    iy, ix = n // 2 + int(round(fy * n)), n // 2 + int(round(fx * n))
    ring = np.hypot(*np.mgrid[-(n // 2):n - n // 2, -(n // 2):n - n // 2]) > 3  # away from DC
    assert spec[iy % n, ix % n] == pytest.approx(spec[ring].max())
    assert np.hypot(fy, fx) >= 0.05
    # more spikes of the same intensity: more artifact
    two = apply("spike", img, {**out.params, "positions": [[fy, fx], [-0.3, 0.2]], "phases": [0.0, 1.0]},
                profile=mri, spacing=case.spacing)
    assert np.sqrt(np.mean((two.image - img) ** 2)) > np.sqrt(np.mean((out.image - img) ** 2))


def test_spike_parameter_errors():
    with pytest.raises(ParameterError, match="positions"):
        mk.kspace_spikes(np.ones((8, 8)), [(0.6, 0.0)], 0.1)
    with pytest.raises(ParameterError, match="intensity"):
        mk.kspace_spikes(np.ones((8, 8)), [(0.1, 0.0)], -1.0)
    with pytest.raises(ParameterError, match="n_spikes"):
        mk.draw_spikes(0, np.random.default_rng(0))


# ---- CT body habitus ------------------------------------------------------------------------------


def test_ct_extra_water_raises_the_noise_as_exp_mu_l_over_2():
    img = _disk(64, 0.0, -1000.0, 0.35)  # water cylinder, 2 mm pixels: 45 mm radius
    centre = _centre(64)
    sd = []
    for cm in (0.0, 2.5, 5.0):
        out = ctp.body_habitus_ct(img, (2.0, 2.0), cm, 1e5, np.random.default_rng(1))
        sd.append(float((out - img)[centre].std()))
    assert sd[0] < sd[1] < sd[2]
    # through the centre the layer adds 2 * 5 cm of water: counts x exp(-2), noise SD x e (a bit more off-centre)
    assert 2.3 < sd[2] / sd[0] < 3.5, sd


def test_ct_scatter_cups_the_image_and_lowers_contrast():
    img = _disk(64, 0.0, -1000.0, 0.4)
    img[_centre(64, 0.06)] = 300.0  # an insert in the middle
    centre, edge = _centre(64, 0.1) & (img < 100), (_disk(64, 1, 0, 0.36) > 0) & ~_centre(64, 0.3)
    clean = ctp.body_habitus_ct(img, (2.0, 2.0), 3.0, 1e12, np.random.default_rng(0))
    scat = ctp.body_habitus_ct(img, (2.0, 2.0), 3.0, 1e12, np.random.default_rng(0), scatter_fraction=0.05)
    assert abs(np.mean(clean[centre] - img[centre])) < 5.0  # no scatter, no dose limit: the image itself
    cupping = np.mean(scat[edge]) - np.mean(scat[centre])
    assert cupping > 10.0  # the centre reads lower than the periphery
    insert = _centre(64, 0.04)
    contrast = lambda x: np.mean(x[insert]) - np.mean(x[centre])  # noqa: E731
    assert contrast(scat) < contrast(clean)


def test_ct_habitus_on_a_real_slice_keeps_geometry_and_hu():
    from mira.ingest import load_series

    case = load_series("pydicom:", "ct", include=["CT_small.dcm"])[0]
    img = case.image.astype(np.float64)
    ct = get_profile("ct")
    body = img > -500
    sds = []
    for level in ("mild", "severe"):
        out = apply("body_habitus", img, level, np.random.default_rng(0), profile=ct, spacing=case.spacing)
        assert out.image.shape == img.shape and out.spacing == tuple(case.spacing)
        assert np.isfinite(out.image).all() and ct.value_range[0] <= out.image.min() <= out.image.max() <= 3071
        diff = out.image - img
        sds.append(float(diff[body].std()))
    assert sds[0] < sds[1]
    assert abs(float(np.median(diff[body]))) < 100.0  # noise and cupping, not a different anatomy


# ---- X-ray body habitus ---------------------------------------------------------------------------


def test_xray_extra_water_costs_quantum_noise_and_scatter_costs_contrast():
    img = np.full((64, 64), 1.0)
    img[8:56, 8:56] = 0.3
    img[24:40, 24:40] = 0.15
    region = np.zeros_like(img, bool)
    region[10:22, 10:54] = True
    sd = [float((body_habitus_xray(img, (2.0, 2.0), cm, 1e4, np.random.default_rng(0)) - img)[region].std())
          for cm in (0.0, 5.0)]
    assert sd[1] / sd[0] == pytest.approx(np.exp(0.02 * 2 * 50 / 2), rel=0.1)  # 1 / sqrt(exp(-mu 2 t))
    clean = body_habitus_xray(img, (2.0, 2.0), 5.0, 1e12, np.random.default_rng(0))
    veiled = body_habitus_xray(img, (2.0, 2.0), 5.0, 1e12, np.random.default_rng(0), spr=0.3)
    ratio = lambda x: np.mean(x[28:36, 28:36]) / np.mean(x[region])  # noqa: E731
    assert ratio(clean) == pytest.approx(0.5, abs=1e-3) and ratio(veiled) > 0.55  # scatter: lower contrast
    assert np.allclose(clean[:, :4], 1.0, atol=1e-5)  # no extra water in the direct beam beside the patient


# ---- ultrasound body habitus ----------------------------------------------------------------------


def test_us_echoes_fade_with_depth_and_noise_rises():
    img = np.full((100, 40), 0.6)
    img[:, :3] = 0.0  # outside the sector
    sp = (1.0, 1.0)  # 10 cm deep
    out = body_habitus_us(img, sp, 3.0, np.random.default_rng(0), excess_db_cm_mhz=0.1)
    diff = (out - img)[:, 3:]
    top, bottom = diff[:10].mean(), diff[-10:].mean()
    assert abs(top) < 0.02 and bottom < top - 0.05  # gain restored near the transducer, darker deep down
    assert np.all(out[:, :3] == 0.0) and out.min() >= 0.0 and out.max() <= 1.0
    noise = [float(np.std(body_habitus_us(img, sp, cm, np.random.default_rng(1), noise_floor_db=-50.0)[40:60, 3:]))
             for cm in (0.0, 3.0, 6.0)]
    assert noise[0] < noise[1] < noise[2]
    dark = body_habitus_us(img, sp, 3.0, np.random.default_rng(0), restore_gain=False)
    assert dark[:10, 3:].mean() < img[:10, 3:].mean() - 0.1  # without gain: 2 f 0.6 d = 12.6 dB darker

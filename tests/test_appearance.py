"""Appearance randomisation of clean training images (mira.restore.appearance)."""
from __future__ import annotations

import numpy as np
import pytest

from mira.errors import ConfigError, ParameterError
from mira.metrics.texture_stats import psd_slope, tissue_mask
from mira.modalities import get_profile
from mira.restore.appearance import AppearanceSettings, randomise_appearance, zoom_to_shape
from mira.synthesis import synthesize_case

WIDE = AppearanceSettings(contrast=(0.5, 2.0), gamma=(0.5, 2.0), texture=(0.05, 0.1), zoom=(0.5, 2.0))


def _case(modality, seed=0, size=64):
    return synthesize_case(modality, np.random.default_rng(seed), size=size)


@pytest.mark.parametrize("modality", ["ct", "mri", "xray", "us"])
def test_deterministic_for_a_given_rng(modality):
    img, prof = _case(modality).image, get_profile(modality)
    a = randomise_appearance(img, prof, np.random.default_rng(7))
    b = randomise_appearance(img, prof, np.random.default_rng(7))
    c = randomise_appearance(img, prof, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == img.shape
    assert a.tobytes() == b.tobytes() and not np.array_equal(a, c)


@pytest.mark.parametrize("modality", ["ct", "mri", "xray", "us"])
def test_output_stays_in_the_physical_range(modality):
    img, prof = _case(modality, 1).image, get_profile(modality)
    lo, hi = prof.value_range
    for seed in range(6):
        out = randomise_appearance(img, prof, np.random.default_rng(seed), WIDE)
        assert np.all(np.isfinite(out)) and out.min() >= lo and out.max() <= hi


def test_ct_stays_in_hu_limits_and_air_stays_air():
    case = _case("ct", 2)
    prof = get_profile("ct")
    s = AppearanceSettings(contrast=(0.5, 2.0), gamma=(0.5, 2.0), texture=(0.0, 0.0), zoom=(1.0, 1.0))
    for seed in range(5):
        out = randomise_appearance(case.image, prof, np.random.default_rng(seed), s)
        assert -1024.0 <= out.min() and out.max() <= 3071.0
        air = out[case.label == 0]
        assert np.all(air < -700.0)        # contrast acts on the soft-tissue window, not on air
        liver = out[case.label == 7].mean()
        assert -160.0 < liver < 240.0      # tissue stays soft tissue


def test_mri_is_non_negative():
    case = _case("mri", 3)
    prof = get_profile("mri")
    for seed in range(5):
        assert randomise_appearance(case.image, prof, np.random.default_rng(seed), WIDE).min() >= 0.0


def test_identity_when_disabled_or_strength_zero():
    img = _case("ct", 4).image
    prof = get_profile("ct")
    off = randomise_appearance(img, prof, np.random.default_rng(0), AppearanceSettings(enabled=False))
    assert np.array_equal(off, img) and off is not img
    zero = randomise_appearance(img, prof, np.random.default_rng(0), AppearanceSettings(strength=0.0))
    np.testing.assert_allclose(zero, img, atol=1e-3)


def test_zoom_changes_the_spatial_scale():
    """Zooming in (factor 2: anatomy magnified, like finer pixels) steepens the pixel-scale power
    spectrum; zooming out (0.5: like coarser pixels) flattens it -- on a tissue texture field and on
    a brain phantom."""
    from mira.synthesis.texture import powerlaw_texture

    field = 0.5 + 0.05 * powerlaw_texture(np.random.default_rng(1), (128, 128), (1.0, 1.0))
    case = _case("mri", 5, size=128)
    prof = get_profile("mri")

    def slope(img, z, in_tissue=False):
        s = AppearanceSettings(contrast=(1, 1), gamma=(1, 1), texture=(0, 0), zoom=(z, z))
        out = randomise_appearance(img, prof, np.random.default_rng(0), s)
        return psd_slope(out, tissue_mask(out, "mri") if in_tissue else None, 1.0)

    tex = {z: slope(field, z) for z in (0.5, 1.0, 2.0)}
    assert tex[0.5] > tex[1.0] + 0.3 and tex[1.0] > tex[2.0] + 0.3, tex
    assert slope(case.image, 2.0, True) < slope(case.image, 1.0, True) - 0.3


def test_zoom_to_shape_keeps_shape_and_pads_with_fill():
    img = np.arange(64, dtype=np.float32).reshape(8, 8)
    for z in (0.5, 0.8, 1.0, 1.7, 2.0):
        assert zoom_to_shape(img, z, -1000.0).shape == (8, 8)
    out = zoom_to_shape(img, 0.5, -1000.0, pad_mode="constant")
    assert out[0, 0] == -1000.0
    stack = np.zeros((3, 16, 16), np.float32)
    assert randomise_appearance(stack, get_profile("ct"), np.random.default_rng(0)).shape == (3, 16, 16)


def test_settings_from_mapping_and_validation():
    s = AppearanceSettings.from_mapping({"contrast": [0.9, 1.1], "zoom": [0.7, 1.5], "strength": 0.5})
    assert s.contrast == (0.9, 1.1) and s.zoom == (0.7, 1.5) and s.strength == 0.5
    assert AppearanceSettings.from_mapping(None) == AppearanceSettings()
    eff = s.effective()
    assert 0.7 < eff.zoom[0] < 1.0 and eff.texture[1] == pytest.approx(0.01)
    for bad in ({"zoom": [0.1, 2]}, {"gamma": [2, 1]}, {"texture": [0, 0.5]}, {"colour": [1, 2]},
                {"strength": 2}, {"enabled": "yes"}, {"pad_mode": "wrap"}, {"contrast": "big"}):
        with pytest.raises(ConfigError):
            AppearanceSettings.from_mapping(bad)
    with pytest.raises(ParameterError):
        randomise_appearance(np.array([np.nan, 1.0] * 8).reshape(4, 4), get_profile("ct"), np.random.default_rng(0))
    with pytest.raises(TypeError):
        randomise_appearance(np.zeros((4, 4)), "ct", np.random.default_rng(0))  # type: ignore[arg-type]


def test_training_randomises_the_clean_images_before_degrading_them():
    """restore.appearance reaches DnCNN's training samples: other inputs and targets than without it,
    the same for the same seed, and validation images untouched (mira.restore.training)."""
    from mira.modalities import get_profile
    from mira.restore.appearance import AppearanceSettings
    from mira.restore.settings import noise_specs_for
    from mira.restore.training import _denoise_samples, _Image

    prof = get_profile("mri")
    yy, xx = np.mgrid[0:48, 0:48] / 48
    img = _Image("c0", "phantom", "mri", 0.2 + 0.5 * xx * yy, (1.0, 1.0))
    specs = {"mri": noise_specs_for(prof, None)}
    args = ([img], specs, 2, 7, "dncnn", {"mri": prof})
    plain = _denoise_samples(*args)
    look = AppearanceSettings()
    varied = _denoise_samples(*args, appearance=look)
    again = _denoise_samples(*args, appearance=look)
    assert not np.allclose(plain[0].target, varied[0].target)
    assert all(np.array_equal(a.target, b.target) and np.array_equal(a.inp, b.inp) for a, b in zip(varied, again))

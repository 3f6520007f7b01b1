"""Fidelity and quality metrics: fixed modality data range, region-based SNR/CNR, entropy."""
from __future__ import annotations

import numpy as np
import pytest

from mira.errors import ParameterError
from mira.metrics import cnr, entropy_bits, mae, psnr, snr_db, ssim
from mira.modalities import get_profile

CT, MRI = get_profile("ct"), get_profile("mri")


def test_psnr_uses_the_fixed_modality_window_not_the_image_range():
    ref = np.zeros((32, 32), np.float32)
    ref[8:24, 8:24] = 50.0  # a low-contrast CT image: own range only 50 HU
    test = ref + 10.0
    # MSE = 100 HU^2 and data_range = 2000 HU (window -1000..1000): 10 log10(2000^2 / 100)
    assert psnr(ref, test, CT) == pytest.approx(10 * np.log10(2000.0**2 / 100.0), abs=1e-6)
    # MRI window is 0..1
    assert psnr(ref / 100, ref / 100 + 0.1, MRI) == pytest.approx(20.0, abs=1e-6)
    assert psnr(ref, ref, CT) == float("inf")
    assert mae(ref, test, CT) == pytest.approx(10.0)


def test_values_outside_the_window_are_clipped_before_comparison():
    ref = np.full((16, 16), 2000.0)  # bone beyond the +1000 window edge
    assert psnr(ref, ref + 500.0, CT) == float("inf")
    assert mae(ref, ref + 500.0, CT) == 0.0


def test_ssim_drops_with_noise_and_is_one_for_identity():
    rng = np.random.default_rng(0)
    ref = np.zeros((48, 48), np.float32)
    ref[10:38, 10:38] = 0.8
    assert ssim(ref, ref, MRI) == pytest.approx(1.0)
    s1 = ssim(ref, ref + rng.normal(0, 0.02, ref.shape), MRI)
    s2 = ssim(ref, ref + rng.normal(0, 0.1, ref.shape), MRI)
    assert 1.0 > s1 > s2
    with pytest.raises(ParameterError, match="shape"):
        ssim(ref, ref[:10], MRI)


def test_snr_relative_to_air_for_ct_and_reference_noise():
    rng = np.random.default_rng(1)
    clean = np.full((64, 64), 0.0)  # water, 1000 HU above air
    noisy = clean + rng.normal(0, 10.0, clean.shape)
    mask = np.ones_like(clean, bool)
    assert snr_db(noisy, mask, CT) == pytest.approx(20 * np.log10(1000 / 10), abs=0.5)
    # texture in the reference is not counted as noise when the reference is given
    textured = clean + np.linspace(-50, 50, 64)[None, :]
    noisy_t = textured + rng.normal(0, 10.0, clean.shape)
    assert snr_db(noisy_t, mask, CT, reference=textured) > snr_db(noisy_t, mask, CT) + 5
    assert snr_db(clean, mask, CT) == float("inf")


def test_cnr_and_entropy():
    rng = np.random.default_rng(2)
    img = np.zeros((64, 64))
    a = np.zeros_like(img, bool)
    a[:, :32] = True
    img[a] = 1.0
    noisy = img + rng.normal(0, 0.1, img.shape)
    assert cnr(noisy, a, ~a) == pytest.approx(10.0, rel=0.1)
    assert entropy_bits(np.zeros((8, 8)), MRI) == 0.0
    assert entropy_bits(img, MRI) == pytest.approx(1.0)  # two equally likely grey levels
    assert entropy_bits(noisy, MRI) > 1.0
    with pytest.raises(ParameterError, match="fewer than 2"):
        cnr(img, np.zeros_like(a), a)

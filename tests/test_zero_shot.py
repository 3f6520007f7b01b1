"""mira.restore.zero_shot: Zero-Shot Noise2Noise (registry, objective, determinism, quality, shapes, bad input)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mira.errors import ParameterError
from mira.metrics import psnr
from mira.modalities import get_profile
from mira.restore import METHODS, methods, restore
from mira.restore.zero_shot import ZERO_SHOT, denoise_zs_n2n, fit_zs_n2n, zs_n2n_loss
from mira.seeding import rng_for

CT, MRI = get_profile("ct"), get_profile("mri")
FAST = {"iterations": 5, "width": 4}


@pytest.fixture(scope="module")
def noisy_ct():
    """A smooth soft-tissue texture in HU (-200 +- 600), 64 x 64, with white Gaussian noise of 200 HU (10 % of
    the window): the pixel-independent noise ZS-N2N is made for."""
    from scipy import ndimage as ndi

    field = ndi.gaussian_filter(rng_for(1, "zs-n2n", "texture").normal(0.0, 1.0, (64, 64)), 6.0)
    ref = -200.0 + 600.0 * field / field.std()
    return ref + rng_for(3, "zs-n2n").normal(0.0, 200.0, ref.shape), ref


def test_zs_n2n_is_a_registered_zero_shot_denoiser():
    m = METHODS["zs_n2n"]
    assert (m.task, m.family, m.deep) == ("denoise", "zero-shot", False)
    assert "zs_n2n" in methods("denoise") and methods("denoise", "zero-shot") == ("zs_n2n",)
    assert "zs_n2n" not in methods("denoise", "classical") and set(ZERO_SHOT) == {"zs_n2n"}


def test_the_objective_is_residual_plus_consistency():
    """With f = 0 the consistency term vanishes and the residual term is mse(d1 y, d2 y)."""
    y = torch.arange(16.0).reshape(1, 1, 4, 4) ** 1.5
    d1 = 0.5 * (y[..., 0::2, 1::2] + y[..., 1::2, 0::2])
    d2 = 0.5 * (y[..., 0::2, 0::2] + y[..., 1::2, 1::2])
    loss = zs_n2n_loss(lambda x: torch.zeros_like(x), y)
    assert torch.isclose(loss, torch.mean((d1 - d2) ** 2))
    # f = identity: every prediction is 0, residual = (mse(0, d2) + mse(0, d1)) / 2, consistency 0
    loss = zs_n2n_loss(lambda x: x, y)
    assert torch.isclose(loss, 0.5 * (torch.mean(d1 ** 2) + torch.mean(d2 ** 2)))


def test_same_seed_gives_identical_bytes_and_another_seed_differs(noisy_ct):
    noisy, _ = noisy_ct
    a = restore("zs_n2n", noisy, CT, iterations=10, width=8, seed=7)
    b = restore("zs_n2n", noisy, CT, iterations=10, width=8, seed=7)
    c = restore("zs_n2n", noisy, CT, iterations=10, width=8, seed=8)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert torch.get_num_threads() >= 1   # the thread setting is the caller's, left as it was


def test_it_raises_psnr_on_gaussian_noise(noisy_ct):
    noisy, ref = noisy_ct
    before = psnr(ref, noisy, CT)
    out = restore("zs_n2n", noisy, CT, iterations=200, width=16, seed=0)
    assert psnr(ref, out, CT) > before + 3.0   # 20.7 -> 26.2 dB measured


@pytest.mark.parametrize("shape", [(37, 51), (1, 9), (3, 20, 17)])
def test_native_units_shape_and_range_for_2d_3d_and_odd_sizes(shape):
    img = np.clip(rng_for(4, "zs-shape", str(shape)).normal(40.0, 200.0, shape), -1024.0, 3000.0)
    out = restore("zs_n2n", img, CT, **FAST)
    lo, hi = CT.value_range
    assert out.shape == img.shape and out.dtype == np.float64 and np.all(np.isfinite(out))
    assert out.min() >= lo and out.max() <= hi
    assert np.ptp(out) > 10.0                                  # HU out, not the 0..1 working scale
    assert img.size < 100 or np.corrcoef(out.ravel(), img.ravel())[0, 1] > 0.5


def test_mri_output_is_a_non_negative_magnitude_and_constant_slices_stay():
    img = np.full((2, 16, 16), 0.5)
    img[1] = rng_for(4, "zs-mri").rayleigh(0.05, (16, 16)) + 0.3
    out = denoise_zs_n2n(img, MRI, **FAST)
    assert out.shape == img.shape and out.min() >= 0.0
    flat = fit_zs_n2n(np.full((5, 6), 0.25), **FAST)
    assert np.array_equal(flat, np.full((5, 6), 0.25))


@pytest.mark.parametrize("params, argument", [
    ({"iterations": 0}, "iterations"), ({"iterations": 2.5}, "iterations"), ({"iterations": True}, "iterations"),
    ({"width": 0}, "width"), ({"lr": -1e-3}, "lr"), ({"lr": float("nan")}, "lr"), ({"seed": -1}, "seed"),
    ({"device": "tpu"}, "device"), ({"epochs": 3}, "bad parameters"),
])
def test_bad_parameters_raise_parameter_errors_naming_them(noisy_ct, params, argument):
    with pytest.raises(ParameterError, match=argument):
        restore("zs_n2n", noisy_ct[0], CT, **params)


def test_bad_images_and_scales_are_refused():
    with pytest.raises(ParameterError, match="2D or 3D"):
        restore("zs_n2n", np.zeros(8), CT)
    with pytest.raises(ParameterError, match="NaN"):
        restore("zs_n2n", np.full((8, 8), np.nan), CT)
    with pytest.raises(ParameterError, match="scale"):
        restore("zs_n2n", np.zeros((8, 8)), CT, scale=2)


def test_importing_the_restoration_package_does_not_import_torch():
    code = "import sys, mira.restore; assert 'torch' not in sys.modules, 'torch imported'"
    workflow = str(Path(__file__).resolve().parents[1] / "workflow")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": workflow, "PATH": ""})

"""The noise-consistency guard of the blind network denoisers (mira.restore.guard): a network that agrees
with a classical estimate to within the noise is left alone; one that paints wrong structure falls back
to the classical estimate, so it does not end up below the noisy input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mira.errors import ParameterError
from mira.modalities import get_profile
from mira.restore.classical import denoise_wavelet_bayesshrink
from mira.restore.guard import guard_factor, guard_residual, noise_sigma
from mira.restore.inference import LoadedModel, apply_model


def _textured(n: int = 128) -> np.ndarray:
    """A smooth image with fine texture (values about 0.2..0.8)."""
    y, x = np.mgrid[0:n, 0:n] / n
    return 0.5 + 0.2 * (x - 0.5) + 0.08 * np.sin(2 * np.pi * 9 * x) * np.sin(2 * np.pi * 7 * y)


def _psnr(ref: np.ndarray, img: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((ref - img) ** 2)))


def test_noise_sigma_measures_white_and_correlated_noise():
    rng = np.random.default_rng(1)
    smooth = _textured()
    assert noise_sigma(smooth) < 5e-3  # the texture alone: a tenth of the noise below
    white = smooth + 0.05 * rng.standard_normal(smooth.shape)
    assert noise_sigma(white) == pytest.approx(0.05, rel=0.1)
    # noise correlated over 2 pixels has little power in the finest band; two levels see it
    corr = 0.05 * np.kron(rng.standard_normal((64, 64)), np.ones((2, 2)))
    assert noise_sigma(smooth + corr) < 0.02 and noise_sigma(smooth + corr, levels=2) > 0.04
    with pytest.raises(ParameterError, match="2D"):
        noise_sigma(smooth[None])


def test_a_network_that_agrees_with_the_reference_is_left_alone():
    rng = np.random.default_rng(2)
    clean = _textured()
    noisy = clean + 0.04 * rng.standard_normal(clean.shape)
    good = clean + 0.005 * rng.standard_normal(clean.shape)       # a good network: close to the truth
    reference = clean + 0.02 * rng.standard_normal(clean.shape)   # a weaker classical estimate
    assert guard_factor(noisy, good, reference=reference).min() == 1.0
    np.testing.assert_array_equal(guard_residual(noisy, good, reference), good)


def test_a_network_that_paints_wrong_structure_falls_back_to_the_reference():
    rng = np.random.default_rng(3)
    clean = _textured()
    noisy = clean + 0.02 * rng.standard_normal(clean.shape)
    posterised = np.round(clean * 4) / 4          # flat plateaus: phantom statistics on real tissue
    reference = clean + 0.01 * rng.standard_normal(clean.shape)
    guarded = guard_residual(noisy, posterised, reference)
    assert _psnr(clean, posterised) < _psnr(clean, noisy) - 5
    assert _psnr(clean, guarded) > _psnr(clean, noisy)  # never below doing nothing
    assert guard_factor(noisy, posterised, reference=reference).mean() < 0.3


def test_guard_off_and_bad_arguments():
    a = _textured(32)
    b = a * 0.9
    np.testing.assert_array_equal(guard_residual(a, b, a, limit=None), b)
    with pytest.raises(ParameterError, match="limit"):
        guard_factor(a, b, limit=0)
    with pytest.raises(ParameterError, match="shape"):
        guard_factor(a, b[:8])


class _Posterise(torch.nn.Module):
    """A 'denoiser' that flattens its input to 4 grey levels (structure removed and invented)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 4) / 4


def test_apply_model_guards_denoisers_by_default():
    prof = get_profile("mri")
    meta = {"architecture": "dncnn", "params": {}, "task": "denoise", "modalities": ["mri"]}
    model = LoadedModel(module=_Posterise(), meta=meta, path="posterise.pt", device=torch.device("cpu"))
    rng = np.random.default_rng(4)
    clean = _textured()
    noisy = np.clip(clean + 0.02 * rng.standard_normal(clean.shape), 0, 1)
    raw = apply_model(model, noisy, prof, guard=None)
    guarded = apply_model(model, noisy, prof)
    assert _psnr(clean, raw) < _psnr(clean, noisy) - 5
    assert _psnr(clean, guarded) > _psnr(clean, noisy)
    # the fallback is the modality's classical wavelet estimate
    assert _psnr(guarded, denoise_wavelet_bayesshrink(noisy, prof)) > 40
    # volumes: slice by slice, the same as each slice alone
    vol = apply_model(model, np.stack([noisy, noisy[::-1]]), prof)
    np.testing.assert_allclose(vol[0], guarded)


def test_the_pipeline_passes_the_configured_guard_to_network_denoisers():
    from mira.config import validate_config
    from mira.restore import get_method
    from mira.study.restore_stage import DenoiseOptions, _method_kwargs
    from mira.study.settings import Settings

    for guard, expected in ((None, None), (2.5, 2.5)):
        settings = Settings.from_config(validate_config({"restore": {"denoise": {"guard": guard}}}))
        options = DenoiseOptions.from_settings(settings.restore)
        assert _method_kwargs(get_method("dncnn"), options, loaded="model")["guard"] == expected
        assert "guard" not in _method_kwargs(get_method("srcnn"), options, loaded="model")
    default = Settings.from_config(validate_config({}))
    assert DenoiseOptions.from_settings(default.restore).guard == 1.0

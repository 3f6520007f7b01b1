"""Tiled inference: large images restored in overlapping tiles give the whole-image result (no seams)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mira.errors import ParameterError
from mira.modalities import get_profile
from mira.restore.inference import LoadedModel, apply_model
from mira.restore.models import build_model
from mira.restore.tiling import forward_tiled, receptive_radius

CPU = torch.device("cpu")


def _net(arch: str, params: dict, scale: int = 1, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_model(arch, params, scale=scale).eval()
    with torch.no_grad():  # random, non-trivial weights (some layers start at zero)
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def _whole(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x.astype(np.float32))[None, None]).numpy()[0, 0].astype(np.float64)


@pytest.mark.parametrize("arch, params, scale", [
    ("dncnn", {"depth": 3, "width": 4}, 1),
    ("dncnn", {"depth": 3, "width": 4, "batch_norm": True}, 1),
    ("srcnn", {"widths": [4, 4]}, 2),
    ("edsr", {"width": 4, "blocks": 1}, 2),
])
def test_tiles_give_the_whole_image_result(arch, params, scale):
    net = _net(arch, params, scale)
    x = np.random.default_rng(1).random((45, 70))
    whole = _whole(net, x)
    tiled = forward_tiled(net, x, CPU, tile=16)
    assert tiled.shape == whole.shape
    assert np.allclose(tiled, whole, atol=1e-5)


def test_without_the_margin_the_seams_show():
    net = _net("dncnn", {"depth": 3, "width": 4})
    x = np.random.default_rng(2).random((40, 40))
    assert receptive_radius(net) >= 3
    assert not np.allclose(forward_tiled(net, x, CPU, tile=16, margin=0), _whole(net, x), atol=1e-5)


def test_apply_model_tiles_large_images_and_keeps_small_ones_whole(tmp_path):
    ct = get_profile("ct")
    meta = {"architecture": "dncnn", "task": "denoise", "scale": 1, "modalities": ["ct"],
            "normalisation": {"ct": list(ct.metric_window)}}
    model = LoadedModel(_net("dncnn", {"depth": 3, "width": 4}), meta, Path(tmp_path / "model.pt"), CPU)
    img = np.random.default_rng(3).normal(40.0, 200.0, (64, 80))
    whole = apply_model(model, img, ct, tile=None)
    assert np.allclose(apply_model(model, img, ct, tile=16), whole, atol=1e-3)   # HU
    assert np.array_equal(apply_model(model, img, ct), whole)                       # under the default tile
    with pytest.raises(ParameterError, match="tile"):
        apply_model(model, img, ct, tile=4)


def test_a_real_ct_slice_tiles_without_seams(tmp_path):
    """pydicom's CT_small (a real 128 x 128 slice, read in HU through mira.ingest): tiled at 32 pixels,
    the restored slice equals the whole-slice result."""
    from pydicom.data import get_testdata_file

    from mira.ingest import load_series

    (case,) = load_series(get_testdata_file("CT_small.dcm"), "ct")
    hu = np.asarray(case.image, dtype=np.float64).reshape(case.image.shape[-2:])
    assert hu.shape == (128, 128) and hu.min() < -500 and hu.max() > 200    # real HU, air and tissue
    ct = get_profile("ct")
    meta = {"architecture": "dncnn", "task": "denoise", "scale": 1, "modalities": ["ct"],
            "normalisation": {"ct": list(ct.metric_window)}}
    model = LoadedModel(_net("dncnn", {"depth": 4, "width": 4}), meta, Path(tmp_path / "model.pt"), CPU)
    whole = apply_model(model, hu, ct, tile=None)
    assert np.allclose(apply_model(model, hu, ct, tile=32), whole, atol=1e-3)

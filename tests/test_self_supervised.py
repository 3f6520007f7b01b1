"""Self-supervised DnCNN training (Neighbor2Neighbor, Noise2Self): sub-sampler and mask invariants, no clean
image ever read, PSNR gain on Gaussian noise, determinism, configuration errors."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mira.errors import ParameterError
from mira.modalities import get_profile
from mira.restore.models import DnCNN
from mira.restore.self_supervised import (
    GRID,
    blind_spot_input,
    blind_spot_mask,
    neighbor_pairs,
    neighbor_subsample,
    noise2self_loss,
)
from mira.restore.settings import restore_training
from mira.restore.training import PatchSampler, _Sample, train_network, train_restorer
from mira.seeding import rng_for

TINY = {"epochs": 2, "steps_per_epoch": 4, "patch_size": 16, "batch_size": 4, "budget_s": 0, "copies": 1,
        "val_cases": 1, "threads": 1, "device": "cpu", "patience": 5, "bn_batches": 2}
NET = {"depth": 3, "width": 8}
PROFILES = {"ct": get_profile("ct")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny phantom CT datasets: train 3 / val 2 cases of 32 x 32."""
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset

    root = tmp_path_factory.mktemp("ss")
    for split, n in (("train", 3), ("val", 2)):
        write_synthetic_dataset(root / split, SyntheticSpec("phantom", "ct", split, n_cases=n, size=32), seed=5)
    return root


def _train(data, out, arch="dncnn", **settings):
    return train_restorer(arch, [data / "train"], [data / "val"], out, seed=7, profiles=PROFILES,
                          scale=2 if arch == "srcnn" else 1, arch_params=NET if arch == "dncnn" else None,
                          settings={**TINY, **settings}, history_csv=out.with_name("history.csv"))


# ---- sub-sampler and masks ----------------------------------------------------------------------------------


def test_neighbour_subsampler_takes_two_different_adjacent_pixels_of_each_cell():
    h, w = 8, 10
    x = torch.arange(2 * h * w, dtype=torch.float32).reshape(2, 1, h, w)     # value -> position
    pairs = neighbor_pairs(x.shape, torch.Generator().manual_seed(0))
    g1, g2 = neighbor_subsample(x, pairs)
    assert g1.shape == g2.shape == (2, 1, h // 2, w // 2)
    pos = lambda v: divmod(int(v) % (h * w), w)  # noqa: E731
    kinds = set()
    for a, b, (ci, cj) in zip(g1.flatten(), g2.flatten(), [(i, j) for _ in range(2) for i in range(h // 2)
                                                            for j in range(w // 2)]):
        (r1, c1), (r2, c2) = pos(a), pos(b)
        assert {r1 // 2, r2 // 2} == {ci} and {c1 // 2, c2 // 2} == {cj}     # both in the same 2x2 cell
        assert abs(r1 - r2) + abs(c1 - c2) == 1                              # different, direct neighbours
        kinds.add((r1 % 2, c1 % 2, r2 % 2, c2 % 2))
    assert len(kinds) == 8                                                   # every ordered pair occurs
    with pytest.raises(ParameterError, match="even"):
        neighbor_subsample(torch.zeros(1, 1, 5, 6), neighbor_pairs((1, 1, 5, 6), torch.Generator()))


def test_blind_spot_input_is_j_invariant():
    """The network input does not depend on the masked pixels' values (J-invariance)."""
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(3, 1, 16, 20, generator=gen)
    mask = blind_spot_mask(y.shape, gen)
    per_cell = mask[:, 0].reshape(3, 16 // GRID, GRID, 20 // GRID, GRID).sum(dim=(2, 4))
    assert torch.all(per_cell == 1)                                           # one masked pixel per 4x4 cell
    y2 = torch.where(mask, y + 100.0 * torch.randn(y.shape, generator=gen), y)  # change only the masked pixels
    a = blind_spot_input(y, mask, torch.Generator().manual_seed(5))
    b = blind_spot_input(y2, mask, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.equal(a[~mask], y[~mask]) and not torch.equal(a[mask], y[mask])
    # each replacement is the value of one of the pixel's 8 neighbours (reflect padding at the border)
    pad = torch.nn.functional.pad(y, (1, 1, 1, 1), mode="reflect")
    for n, _, i, j in mask.nonzero().tolist():
        nb = pad[n, 0, i:i + 3, j:j + 3].flatten()[[0, 1, 2, 3, 5, 6, 7, 8]]
        assert torch.any(nb == a[n, 0, i, j])


def test_noise2self_loss_is_taken_on_the_masked_pixels_only():
    class Zero(torch.nn.Module):
        def forward(self, x):
            return torch.zeros_like(x)

    y = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    loss = noise2self_loss(Zero(), y, torch.Generator().manual_seed(3))
    mask = blind_spot_mask(y.shape, torch.Generator().manual_seed(3))             # the same draw
    expected = torch.stack([(y[n][mask[n]] ** 2).mean() for n in range(2)])
    assert torch.allclose(loss, expected)


# ---- training -----------------------------------------------------------------------------------------------


def _smooth(rng, n=48):
    yy, xx = np.mgrid[0:n, 0:n] / n
    return 0.3 + 0.4 * (((yy - 0.5) ** 2 + (xx - 0.5) ** 2) < 0.1) + 0.2 * np.sin(6 * xx + rng.uniform(0, 6))


@pytest.mark.parametrize("mode", ["neighbor2neighbor", "noise2self"])
def test_self_supervised_training_beats_the_noisy_input_on_gaussian_noise(mode):
    """Trained on noisy images only (sigma 0.1 on a 0..1 scale), the network denoises a new noisy image."""
    rng = rng_for(0, "ss-test")
    prof = get_profile("mri")
    noisy = [_smooth(rng) + rng.normal(0, 0.1, (48, 48)) for _ in range(4)]
    samples = [_Sample(n, n, prof) for n in noisy]                            # no clean target anywhere
    clean = _smooth(rng)
    test = clean + rng.normal(0, 0.1, clean.shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = DnCNN(depth=4, width=16, batch_norm=False)
    loop, patch, _ = restore_training({**TINY, "epochs": 3, "steps_per_epoch": 50, "batch_size": 8, "patch_size": 24,
                                       "lr": 5e-3, "mode": mode, "bn_batches": 0, "patience": 10})
    res = train_network(net, PatchSampler(samples, 24, 1, rng_for(0, "ss-patches")), samples[:1], loop, patch, seed=3)
    assert res.steps == 150 and all(r["score"] < 0 for r in res.history)     # minus a loss
    with torch.no_grad():
        out = net(torch.from_numpy(test.astype(np.float32))[None, None])[0, 0].numpy()
    psnr = lambda a: 10 * np.log10(1.0 / np.mean((a - clean) ** 2))  # noqa: E731
    assert psnr(out) > psnr(test) + 2.0                                       # about +5 to +7 dB measured


def _poisoned_apply(real):
    def apply(*args, **kwargs):
        out = real(*args, **kwargs)
        return dataclasses.replace(out, reference=np.full_like(out.reference, np.nan))
    return apply


def test_a_self_supervised_run_never_reads_the_clean_image(data, tmp_path, monkeypatch):
    import mira.degrade

    monkeypatch.setattr(mira.degrade, "apply", _poisoned_apply(mira.degrade.apply))  # clean references are NaN
    sup = _train(data, tmp_path / "sup" / "model.pt")  # the poison works: supervised training reads the references
    assert not np.isfinite(sup["final_val_psnr_db"])
    for mode in ("neighbor2neighbor", "noise2self"):
        meta = _train(data, tmp_path / mode / "model.pt", mode=mode)
        state = torch.load(tmp_path / mode / "model.pt", weights_only=True)
        assert all(torch.isfinite(v.float()).all() for v in state.values())
        assert np.isfinite(meta["best_val_psnr_db"]) and meta["score_kind"] == "neg_ss_loss"
        assert "no clean image" in meta["selection"] and meta["training"]["mode"] == mode
        hist = pd.read_csv(tmp_path / mode / "history.csv")
        assert (hist["val_psnr_db"] < 0).all()                                # the score, minus a loss


def test_as_acquired_uses_the_images_as_they_are(data, tmp_path, monkeypatch):
    import mira.degrade

    def no_degradation(*args, **kwargs):
        raise AssertionError("as_acquired must not degrade")

    monkeypatch.setattr(mira.degrade, "apply", no_degradation)
    meta = _train(data, tmp_path / "a" / "model.pt", mode="noise2self", noisy_input="as_acquired", copies=3)
    assert meta["data"]["train_samples"] == 3 and meta["data"]["val_samples"] == 1  # one per image, no copies
    assert meta["noise"] == {"ct": [{"degradation": "as_acquired"}]}
    assert json.loads((tmp_path / "a" / "model.json").read_text())["training"]["noisy_input"] == "as_acquired"


@pytest.mark.parametrize("mode", ["neighbor2neighbor", "noise2self"])
def test_self_supervised_training_is_deterministic(data, tmp_path, mode):
    _train(data, tmp_path / "a" / "model.pt", mode=mode)
    _train(data, tmp_path / "b" / "model.pt", mode=mode)
    s1, s2 = (torch.load(tmp_path / d / "model.pt", weights_only=True) for d in "ab")
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    _train(data, tmp_path / "c" / "model.pt")
    sup = torch.load(tmp_path / "c" / "model.pt", weights_only=True)
    assert not all(torch.equal(s1[k], sup[k]) for k in s1)                  # the mode changes the training


@pytest.mark.parametrize("settings, match", [
    ({"mode": "noise2void"}, "mode must be one of"),
    ({"noisy_input": "raw"}, "noisy_input must be one of"),
    ({"noisy_input": "as_acquired"}, "needs a self-supervised mode"),
    ({"mode": "neighbor2neighbor", "patch_size": 15}, "patch_size must be even"),
    ({"mode": "noise2self", "loss": "nmse"}, "loss must be 'mse'"),
    ({"mode": "neighbor2neighbor", "n2n_gamma": -1}, "n2n_gamma"),
])
def test_bad_self_supervised_settings_are_refused(settings, match):
    with pytest.raises(ParameterError, match=match):
        restore_training(settings)


def test_a_self_supervised_mode_is_refused_for_super_resolution(data, tmp_path):
    with pytest.raises(ParameterError, match="for denoisers only; srcnn"):
        _train(data, tmp_path / "s" / "model.pt", arch="srcnn", mode="neighbor2neighbor")
    assert not (tmp_path / "s" / "model.pt").exists()

"""mira.restore networks: shapes, training loop, checkpoints, determinism, no test case in training."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mira.dataset import Dataset
from mira.errors import InputError, ParameterError
from mira.modalities import get_profile
from mira.restore import restore
from mira.restore.inference import apply_model, check_unseen, load_model, training_case_ids
from mira.restore.models import EDSR, SRCNN, DnCNN, build_model
from mira.restore.settings import restore_training
from mira.restore.training import PatchSampler, _Sample, save_checkpoint, train_network, train_restorer

TINY = {"epochs": 2, "steps_per_epoch": 4, "patch_size": 16, "batch_size": 4, "budget_s": 0, "copies": 1,
        "val_cases": 1, "threads": 1, "device": "cpu", "patience": 5}
TINY_NETS = {"dncnn": {"depth": 3, "width": 8}, "srcnn": {"widths": [8, 4], "kernels": [5, 1, 3]},
             "edsr": {"width": 8, "blocks": 1}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny phantom datasets: ct and mri, train 3 / val 2 / test 2 cases of 32 x 32."""
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset

    root = tmp_path_factory.mktemp("train")
    for m in ("ct", "mri"):
        for split, n in (("train", 3), ("val", 2), ("test", 2)):
            write_synthetic_dataset(root / m / split, SyntheticSpec("phantom", m, split, n_cases=n, size=32), seed=5)
    return root


PROFILES = {m: get_profile(m) for m in ("ct", "mri")}


def _train(data, out, arch="dncnn", modalities=("ct",), scale=1, **settings):
    return train_restorer(arch, [data / m / "train" for m in modalities], [data / m / "val" for m in modalities], out,
                          seed=11, profiles=PROFILES, scale=scale, arch_params=TINY_NETS[arch],
                          settings={**TINY, **settings}, history_csv=out.with_name("history.csv"))


# ---- architectures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_super_resolution_networks_upscale_by_their_scale(scale):
    lr = torch.zeros(2, 1, 10, 12)
    assert EDSR(scale=scale, width=8, blocks=1)(lr).shape == (2, 1, 10 * scale, 12 * scale)
    up = torch.zeros(2, 1, 10 * scale, 12 * scale)
    assert SRCNN(scale=scale)(up).shape == up.shape
    assert DnCNN(depth=4, width=8)(up).shape == up.shape


def test_untrained_residual_networks_start_from_the_baseline():
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(DnCNN(depth=4, width=8).eval()(x), x)  # residual branch starts at zero
    assert torch.equal(SRCNN(scale=2)(x), x)
    with pytest.raises(ParameterError, match="unknown architecture"):
        build_model("unet")
    with pytest.raises(ParameterError, match="bad architecture parameters"):
        build_model("dncnn", {"layers": 3})


# ---- loop --------------------------------------------------------------------------------------------------


def test_a_few_training_steps_lower_the_loss():
    rng = np.random.default_rng(0)
    clean = [np.kron(rng.random((4, 4)), np.ones((8, 8))) for _ in range(4)]  # piecewise constant
    samples = [_Sample(c + rng.normal(0, 0.1, c.shape), c, PROFILES["mri"]) for c in clean]
    val = [_Sample(s.inp, s.target, PROFILES["mri"], target_native=s.target) for s in samples[:1]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = DnCNN(depth=4, width=16)
    probe_x, probe_y, _ = PatchSampler(samples, 16, 1, np.random.default_rng(1)).batch(16)

    def loss():
        net.eval()
        with torch.no_grad():
            return float(torch.mean((net(torch.from_numpy(probe_x)) - torch.from_numpy(probe_y)) ** 2))

    before = loss()
    loop, patch, _ = restore_training({**TINY, "epochs": 6, "steps_per_epoch": 10, "batch_size": 8, "lr": 3e-3})
    res = train_network(net, PatchSampler(samples, 16, 1, np.random.default_rng(2)), val, loop, patch)
    assert res.steps == 60 and res.stopped_by in ("epochs", "early_stopping")
    assert loss() < 0.7 * before
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_patch_sampler_keeps_input_and_target_aligned_under_flips_and_rotations():
    y = np.random.default_rng(4).random((12, 12))
    block_mean = lambda a: a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean(axis=(1, 3))  # noqa: E731
    s = _Sample(inp=block_mean(y), target=y, profile=PROFILES["mri"])  # LR pixel j = mean of HR block j (area aligned)
    xb, yb, wb = PatchSampler([s], 4, 2, np.random.default_rng(3)).batch(64)
    assert xb.shape == (64, 1, 2, 2) and yb.shape == (64, 1, 4, 4)
    for x, t in zip(xb[:, 0], yb[:, 0]):
        np.testing.assert_allclose(x, block_mean(t), rtol=1e-6)
    # all eight orientations occur
    s1 = _Sample(inp=y, target=y, profile=PROFILES["mri"])
    xb, _, _ = PatchSampler([s1], 12, 1, np.random.default_rng(5)).batch(64)
    assert len({x.tobytes() for x in xb}) == 8


# ---- checkpoints, determinism, data separation ---------------------------------------------------------------


def test_checkpoint_round_trip_gives_identical_outputs(data, tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = EDSR(scale=2, width=8, blocks=1, residual=False)
    meta = {"architecture": "edsr", "params": {"width": 8, "blocks": 1, "residual": False}, "task": "sr", "scale": 2,
            "modalities": ["ct"]}
    save_checkpoint(net, meta, tmp_path / "m" / "model.pt")
    loaded = load_model(tmp_path / "m" / "model.pt", device="cpu")
    lr = Dataset(data / "ct" / "test").load(Dataset(data / "ct" / "test").records[0]).image[::2, ::2]
    from mira.restore.inference import prepare_input

    with torch.no_grad():
        x = torch.from_numpy(prepare_input("edsr", lr, get_profile("ct")).astype(np.float32))
        direct = net.eval()(x[None, None])
    direct = np.clip(direct[0, 0].numpy().astype(np.float64) * 2000.0 - 1000.0, -1024, 3071)
    via = apply_model(loaded, lr, get_profile("ct"), scale=2)
    np.testing.assert_array_equal(via.astype(np.float32), direct.astype(np.float32))
    np.testing.assert_array_equal(apply_model(load_model(tmp_path / "m" / "model.pt"), lr, get_profile("ct")), via)


def test_training_is_deterministic_and_writes_model_sidecar_and_history(data, tmp_path):
    m1 = _train(data, tmp_path / "a" / "model.pt")
    m2 = _train(data, tmp_path / "b" / "model.pt")
    s1 = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    s2 = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    assert m1["best_val_psnr_db"] == m2["best_val_psnr_db"]
    side = json.loads((tmp_path / "a" / "model.json").read_text())
    for key in ("architecture", "params", "scale", "data", "seed", "epochs", "wall_time_s", "best_val_psnr_db"):
        assert key in side
    assert side["epochs"] == 2 and side["seed"] == 11 and side["noise"]["ct"][0]["degradation"] == "low_dose"
    hist = pd.read_csv(tmp_path / "a" / "history.csv")
    assert list(hist["epoch"]) == [1, 2] and hist["val_psnr_db"].notna().all()
    # another seed gives other weights
    m3 = train_restorer("dncnn", [data / "ct" / "train"], [data / "ct" / "val"], tmp_path / "c" / "model.pt", seed=12,
                        profiles=PROFILES, arch_params=TINY_NETS["dncnn"], settings=TINY)
    s3 = torch.load(tmp_path / "c" / "model.pt", weights_only=True)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1) and m3["seed"] == 12


def test_no_test_case_appears_in_training(data, tmp_path):
    meta = _train(data, tmp_path / "sr" / "model.pt", arch="srcnn", modalities=("ct", "mri"), scale=2)
    seen = training_case_ids(meta)
    trained = {c for part in ("train", "val") for d in meta["data"][part] for c in d["cases"]}
    assert {d["split"] for d in meta["data"]["train"]} == {"train"}
    assert {d["split"] for d in meta["data"]["val"]} == {"val"}
    for m in ("ct", "mri"):
        test_ids = {r.case_id for r in Dataset(data / m / "test").records}
        assert test_ids and not test_ids & trained
        check_unseen(meta, "phantom", test_ids)  # no error
        train_ids = [r.case_id for r in Dataset(data / m / "train").records]
        with pytest.raises(InputError, match="were used to train srcnn"):
            check_unseen(meta, "phantom", train_ids)
        assert ("phantom", train_ids[0]) in seen
    with pytest.raises(InputError, match="must not come from a test split"):
        train_restorer("dncnn", [data / "ct" / "test"], [data / "ct" / "val"], tmp_path / "x" / "model.pt", seed=1,
                       profiles=PROFILES, arch_params=TINY_NETS["dncnn"], settings=TINY)
    assert not (tmp_path / "x" / "model.pt").exists()


def test_trained_models_refuse_wrong_scale_and_modality_and_restore_via_the_registry(data, tmp_path):
    _train(data, tmp_path / "e" / "model.pt", arch="edsr", scale=3)
    lr = np.zeros((7, 9)) - 1000.0
    out = restore("edsr", lr, "ct", scale=3, model=tmp_path / "e" / "model.pt")
    assert out.shape == (21, 27)
    assert restore("edsr", np.stack([lr, lr]), "ct", model=tmp_path / "e" / "model.pt").shape == (2, 21, 27)
    with pytest.raises(ParameterError, match="is for x3, asked for x2"):
        restore("edsr", lr, "ct", scale=2, model=tmp_path / "e" / "model.pt")
    with pytest.raises(ParameterError, match="trained on \\['ct'\\], not mri"):
        restore("edsr", lr, "mri", scale=3, model=tmp_path / "e" / "model.pt")
    with pytest.raises(ParameterError, match="is a edsr model, not srcnn"):
        restore("srcnn", lr, "ct", scale=3, model=tmp_path / "e" / "model.pt")
    (tmp_path / "e" / "model.json").unlink()
    with pytest.raises(InputError, match="has no JSON sidecar"):
        load_model(tmp_path / "e" / "model.pt")
    with pytest.raises(ParameterError, match="scale must be 1"):
        train_restorer("dncnn", [data / "ct" / "train"], [data / "ct" / "val"], tmp_path / "y.pt", seed=1, scale=2,
                       profiles=PROFILES)
    with pytest.raises(ParameterError, match="scale must be an integer"):
        train_restorer("srcnn", [data / "ct" / "train"], [data / "ct" / "val"], tmp_path / "y.pt", seed=1, scale=1,
                       profiles=PROFILES)


def test_deep_inference_on_a_paired_folder_refuses_cases_seen_in_training(data, tmp_path):
    from mira.study.degrade_stage import degrade_dataset
    from mira.study.restore_stage import restore_folder

    _train(data, tmp_path / "d" / "model.pt")
    degrade_dataset(data / "ct" / "test", tmp_path / "deg_test", degradation="low_dose", level="moderate", seed=5)
    model = tmp_path / "d" / "model.pt"
    table = restore_folder(tmp_path / "deg_test", tmp_path / "out", "dncnn", get_profile("ct"), model=model)
    assert set(table["case_id"]) == {r.case_id for r in Dataset(data / "ct" / "test").records}
    info = json.loads((tmp_path / "out" / "restore.json").read_text())
    assert info["model"]["architecture"] == "dncnn"
    degrade_dataset(data / "ct" / "train", tmp_path / "deg_train", degradation="low_dose", level="moderate", seed=5)
    with pytest.raises(InputError, match="deep models are evaluated only on unseen cases"):
        restore_folder(tmp_path / "deg_train", tmp_path / "out2", "dncnn", get_profile("ct"), model=model)
    with pytest.raises(ParameterError, match="needs a trained model"):
        restore_folder(tmp_path / "deg_test", tmp_path / "out3", "dncnn", get_profile("ct"))


def test_training_uses_the_profile_it_is_given_and_records_its_window(data, tmp_path):
    narrow = get_profile("ct", {"metric_window": [-160.0, 240.0]})
    meta = train_restorer("dncnn", [data / "ct" / "train"], [data / "ct" / "val"], tmp_path / "w" / "model.pt", seed=11,
                          profiles={"ct": narrow}, arch_params=TINY_NETS["dncnn"], settings={**TINY, "epochs": 1})
    assert meta["normalisation"] == {"ct": [-160.0, 240.0]}
    default = _train(data, tmp_path / "d" / "model.pt", epochs=1)
    assert default["normalisation"] == {"ct": [-1000.0, 1000.0]}
    assert meta["best_val_psnr_db"] != default["best_val_psnr_db"]  # PSNR over the narrow window
    loaded = load_model(tmp_path / "w" / "model.pt", device="cpu")
    lr = np.zeros((16, 16)) - 500.0
    assert apply_model(loaded, lr, narrow).shape == (16, 16)
    with pytest.raises(ParameterError, match="trained with the ct window"):
        apply_model(loaded, lr, get_profile("ct"))
    with pytest.raises(ParameterError, match="no modality profile given for \\['mri'\\]"):
        train_restorer("dncnn", [data / "mri" / "train"], [data / "mri" / "val"], tmp_path / "m" / "model.pt", seed=1,
                       profiles={"ct": narrow}, arch_params=TINY_NETS["dncnn"], settings=TINY)
    with pytest.raises(ParameterError, match="unknown training settings \\['epoch'\\]"):
        train_restorer("dncnn", [data / "ct" / "train"], [data / "ct" / "val"], tmp_path / "u" / "model.pt", seed=1,
                       profiles=PROFILES, settings={"epoch": 1})

"""Training on several sources: the mixing ratio of the patches, the source that selects the epoch, and the
sidecar's record of every case of every source (so inference refuses them)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mira.errors import InputError, ParameterError
from mira.modalities import get_profile
from mira.restore.inference import check_unseen
from mira.restore.models import DnCNN
from mira.restore.settings import restore_training
from mira.restore.training import PatchSampler, _Sample, train_network, train_restorer

TINY = {"epochs": 2, "steps_per_epoch": 4, "patch_size": 16, "batch_size": 4, "budget_s": 0, "copies": 1,
        "val_cases": 2, "threads": 1, "device": "cpu", "patience": 5, "bn_batches": 2}
PROFILES = {"ct": get_profile("ct")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two CT sources: 'phantom' (synthetic, train 3 / val 2) and 'hospital_ct' (32 x 32 crops of pydicom's
    real CT_small slice in HU, read through mira.ingest: train 4 / val 2)."""
    from pydicom.data import get_testdata_file

    from mira.dataset import DatasetWriter
    from mira.ingest import load_series
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset

    root = tmp_path_factory.mktemp("sources")
    for split, n in (("train", 3), ("val", 2)):
        write_synthetic_dataset(root / "phantom" / split, SyntheticSpec("phantom", "ct", split, n_cases=n, size=32),
                                seed=5)
    (case,) = load_series(get_testdata_file("CT_small.dcm"), "ct")
    hu = np.asarray(case.image, dtype=np.float64).reshape(case.image.shape[-2:])
    crops = {"train": [(32, 32), (32, 64), (64, 32), (64, 64)], "val": [(0, 48), (96, 48)]}
    for split, corners in crops.items():
        w = DatasetWriter(root / "hospital_ct" / split, "hospital_ct", "ct", split, None)
        for k, (i, j) in enumerate(corners):
            w.add(f"pt{split}{k}", hu[i:i + 32, j:j + 32], (0.66, 0.66))
        w.close()
    return root


def _samples(counts: dict[str, int]) -> list[_Sample]:
    prof = get_profile("mri")
    return [_Sample(np.zeros((8, 8)), np.zeros((8, 8)), prof, source=src) for src, n in counts.items()
            for _ in range(n)]


@pytest.mark.parametrize("weights, phantom_share", [(None, 12 / 14), ({"phantom": 1, "hospital_ct": 1}, 0.5),
                                                    ({"phantom": 0.1, "hospital_ct": 0.9}, 0.1)])
def test_source_weights_set_the_share_of_patches_drawn_from_each_source(weights, phantom_share):
    sampler = PatchSampler(_samples({"phantom": 12, "hospital_ct": 2}), 8, 1, np.random.default_rng(0),
                           source_weights=weights)
    for _ in range(100):
        sampler.batch(40)
    assert sum(sampler.source_counts.values()) == 4000
    assert sampler.source_counts["phantom"] / 4000 == pytest.approx(phantom_share, abs=0.03)


def test_without_weights_the_sampler_draws_as_before():
    """source_weights=None consumes the generator exactly as the single-source sampler always did."""
    rng = np.random.default_rng(4)
    samples = [_Sample(rng.random((10, 10)), rng.random((10, 10)), get_profile("mri"), source=s)
               for s in ("a", "b", "b")]
    xb, yb, _ = PatchSampler(samples, 6, 1, np.random.default_rng(9)).batch(5)
    ref = np.random.default_rng(9)
    for x in xb[:, 0]:
        s = samples[int(ref.integers(3))]
        i, j, k = int(ref.integers(5)), int(ref.integers(5)), int(ref.integers(8))
        p = np.rot90(s.inp[i:i + 6, j:j + 6], k % 4)
        np.testing.assert_array_equal(x, (p[:, ::-1] if k >= 4 else p).astype(np.float32))


@pytest.mark.parametrize("weights, match", [
    ({"phantom": 1, "hospital_ct": 1, "other": 1}, "'other' has no training"),
    ({"phantom": 1, "hospital_ct": -1}, "'hospital_ct' must be >= 0"),
    ({"phantom": 0, "hospital_ct": 0}, "sum to 0"),
    ({"phantom": 1}, "no weight for the training source\\(s\\) \\['hospital_ct'\\]"),
])
def test_bad_source_weights_are_refused(weights, match):
    with pytest.raises(ParameterError, match=match):
        PatchSampler(_samples({"phantom": 2, "hospital_ct": 1}), 8, 1, np.random.default_rng(0), source_weights=weights)


def test_select_source_changes_the_epoch_kept():
    """Source 'a' scores the identity best (its target is the noisy input), source 'b' rewards denoising:
    selecting on 'a' keeps an early epoch, selecting on 'b' a later one."""
    rng = np.random.default_rng(0)
    prof = get_profile("mri")
    clean = [np.kron(rng.random((4, 4)), np.ones((8, 8))) for _ in range(3)]
    noisy = [c + rng.normal(0, 0.1, c.shape) for c in clean]
    train = [_Sample(n, c, prof, source="b") for n, c in zip(noisy, clean)]
    val = [_Sample(noisy[0], noisy[0], prof, source="a"), _Sample(noisy[1], clean[1], prof, source="b")]
    loop, patch, _ = restore_training({**TINY, "epochs": 3, "steps_per_epoch": 5, "batch_size": 8, "lr": 3e-3,
                                       "bn_batches": 0, "patience": 10})
    best = {}
    for src in ("a", "b"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = DnCNN(depth=3, width=8, batch_norm=False)
        per_source: list = []
        res = train_network(net, PatchSampler(train, 16, 1, np.random.default_rng(1)), val, loop, patch,
                            select_source=src, per_source=per_source)
        assert [round(r["score"], 9) for r in res.history] == [round(p[src], 9) for p in per_source]
        best[src] = res.best_epoch
    assert best["a"] < best["b"]
    with pytest.raises(ParameterError, match="select_source: source 'c' has no validation images"):
        train_network(net, PatchSampler(train, 16, 1, np.random.default_rng(1)), val, loop, patch, select_source="c")


def test_mixed_source_training_records_both_sources_and_inference_refuses_their_cases(data, tmp_path):
    from mira.dataset import Dataset

    weights = {"phantom": 1.0, "hospital_ct": 1.0}
    meta = train_restorer("dncnn", [data / "phantom" / "train", data / "hospital_ct" / "train"],
                          [data / "phantom" / "val", data / "hospital_ct" / "val"], tmp_path / "m" / "model.pt",
                          seed=3, profiles=PROFILES, arch_params={"depth": 3, "width": 8}, settings=TINY,
                          source_weights=weights, select_source="hospital_ct")
    assert meta["source_weights"] == weights and meta["select_source"] == "hospital_ct"
    assert set(meta["best_val_by_source"]) == {"phantom", "hospital_ct"}
    assert meta["best_val_psnr_db"] == pytest.approx(meta["val_by_source_at_best_epoch"]["hospital_ct"], abs=1e-3)
    assert "'hospital_ct'" in meta["selection"] and meta["score_kind"] == "psnr_db"
    recorded = {(d["source"], d["split"]): d["cases"] for part in ("train", "val") for d in meta["data"][part]}
    for src in ("phantom", "hospital_ct"):
        for split in ("train", "val"):
            ids = [r.case_id for r in Dataset(data / src / split).records]
            assert recorded[(src, split)] == ids
            with pytest.raises(InputError, match=f"of source '{src}' were used to train dncnn"):
                check_unseen(meta, src, ids[:1])
    check_unseen(meta, "hospital_ct", ["ptunseen"])                        # an unseen case passes
    check_unseen(meta, "phantom", [r.case_id for r in Dataset(data / "hospital_ct" / "train").records])
    with pytest.raises(ParameterError, match="select_source: source 'elsewhere'"):
        train_restorer("dncnn", [data / "phantom" / "train"], [data / "phantom" / "val"], tmp_path / "x" / "model.pt",
                       seed=3, profiles=PROFILES, arch_params={"depth": 3, "width": 8}, settings=TINY,
                       select_source="elsewhere")

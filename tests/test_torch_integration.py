"""Torch integration: MiraDataset (determinism across workers and epochs), transforms on tensors and
dict samples (types, history, replay), the public inverse of spatial transforms and test-time
augmentation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from torch.utils.data import DataLoader

from mira.augment import (
    Compose,
    ElasticDeformation,
    OneOf,
    RandomAffine,
    RandomBrightness,
    RandomFlip,
    RandomNoise,
    Sample,
    inverse,
    replay,
    tta_predict,
)
from mira.augment.catalogue import TextbookElastic
from mira.augment.spatial import SpatialTransform
from mira.dataset import DatasetWriter
from mira.errors import ParameterError
from mira.torch_data import MiraDataset

LEGEND = {0: "background", 1: "body", 2: "right_lung", 3: "left_lung"}


def torso(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A CT-like slice (HU) with a body and two lungs (right lung on the image's left)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n] / n
    lab = np.zeros((n, n), np.uint8)
    lab[((yy - 0.5) / 0.4) ** 2 + ((xx - 0.5) / 0.45) ** 2 < 1] = 1
    lab[(yy - 0.45) ** 2 + (xx - 0.3) ** 2 < 0.12 ** 2] = 2
    lab[(yy - 0.45) ** 2 + (xx - 0.7) ** 2 < 0.1 ** 2] = 3
    img = np.array([-1000, 40, -850, -850], np.float32)[lab] + rng.normal(0, 10, lab.shape).astype(np.float32)
    return np.clip(img, -1024, 3071), lab


def smooth(n: int = 64) -> np.ndarray:
    """A smooth image (interpolation errors stay small), values 0..100."""
    yy, xx = np.mgrid[:n, :n] / n
    return (50 + 30 * np.sin(2 * np.pi * yy) * np.cos(3 * np.pi * xx) + 20 * xx).astype(np.float32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("torch_ds")
    w = DatasetWriter(path, "phantom", "ct", "train", LEGEND)
    for i in range(6):
        img, lab = torso(32, seed=i)
        w.add(f"case{i:03d}", img, (0.8, 0.8), label=lab, class_label=i % 2)
    w.close()
    return path


def pipeline():
    return Compose([RandomAffine(modality="ct"), RandomFlip(modality="ct"), RandomNoise(modality="ct", p=0.5)])


def _batches(ds, workers: int, seed: int = 5):
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(seed))
    return list(loader)


# ---- MiraDataset --------------------------------------------------------------------------------


def test_dataset_items_are_collate_friendly_and_replayable(folder):
    ds = MiraDataset(folder, pipeline(), seed=42)
    item = ds[1]
    assert item["image"].dtype == torch.float32 and tuple(item["image"].shape) == (1, 32, 32)
    assert item["label"].dtype == torch.int64 and tuple(item["label"].shape) == (1, 32, 32)
    assert int(item["class_label"]) == 1 and item["case_id"] == "case001" and item["modality"] == "ct"
    assert item["spacing"].tolist() == pytest.approx([0.8, 0.8])
    hist = json.loads(item["history"])
    assert [h["transform"] for h in hist][:2] == ["RandomAffine", "RandomFlip"]
    again = replay(ds.sample(1), item["history"])  # the JSON string replays exactly
    assert again.image.tobytes() == item["image"][0].numpy().tobytes()
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert tuple(batch["image"].shape) == (3, 1, 32, 32) and len(batch["history"]) == 3
    image, label = MiraDataset(folder, None, seed=42, as_dict=False)[0]
    assert torch.equal(label[0], torch.from_numpy(ds.sample(0).label.astype(np.int64)))
    assert np.array_equal(image[0].numpy(), ds.sample(0).image)  # no transform: the stored image


def test_loader_bytes_do_not_depend_on_workers(folder):
    ds = MiraDataset(folder, pipeline(), seed=42)
    single = _batches(ds, 0)
    multi = _batches(ds, 2)
    assert len(single) == len(multi) == 2
    for a, b in zip(single, multi):
        assert a["case_id"] == b["case_id"] and a["history"] == b["history"]
        assert a["image"].numpy().tobytes() == b["image"].numpy().tobytes()
        assert torch.equal(a["label"], b["label"])


def test_epochs_differ_and_same_seed_gives_same_bytes(folder):
    ds = MiraDataset(folder, pipeline(), seed=42)
    e0 = [ds[i]["image"].numpy().tobytes() for i in range(len(ds))]
    ds.set_epoch(1)
    e1 = [ds[i]["image"].numpy().tobytes() for i in range(len(ds))]
    assert all(a != b for a, b in zip(e0, e1))
    same = MiraDataset(folder, pipeline(), seed=42)
    assert [same[i]["image"].numpy().tobytes() for i in range(len(same))] == e0
    other = MiraDataset(folder, pipeline(), seed=43)
    assert other[0]["image"].numpy().tobytes() != e0[0]
    with pytest.raises(ParameterError, match="holds ct"):
        MiraDataset(folder, seed=1, modality="mri")
    with pytest.raises(ParameterError, match="epoch"):
        ds.set_epoch(-1)


# ---- transforms on tensors and dict samples ----------------------------------------------------


def test_tensor_and_dict_calls_keep_kind_dtype_and_extra_keys():
    img, lab = torso(40)
    rng = np.random.default_rng(0)
    aug = Compose([RandomAffine(modality="ct"), RandomFlip(flip_probability=1.0, modality="ct"),
                   OneOf([RandomBrightness(modality="ct")])])
    d = {"image": torch.from_numpy(img).double()[None], "label": torch.from_numpy(lab.astype(np.int64))[None],
         "legend": LEGEND, "case": "c7", "weight": torch.tensor(0.5)}
    out = aug(d, rng)
    assert set(out) == set(d) | {"history"} and out["case"] == "c7" and out["weight"] is d["weight"]
    assert out["image"].dtype == torch.float64 and tuple(out["image"].shape) == (1, 40, 40)
    assert out["label"].dtype == torch.int64 and tuple(out["label"].shape) == (1, 40, 40)
    assert [h["transform"] for h in out["history"]] == ["RandomAffine", "RandomFlip", "RandomBrightness"]
    assert not torch.equal(out["image"], d["image"])
    # the left-right flip mirrored the lungs and swapped their labels: the larger (right) lung now
    # lies on the image's right and is labelled 3, the smaller one on the left is labelled 2
    moved_lab = out["label"][0].numpy()
    assert (lab == 2).sum() > (lab == 3).sum() and (moved_lab == 2).sum() < (moved_lab == 3).sum()
    # numpy dict without a channel axis, history as a JSON string (as MiraDataset gives it)
    nd = aug({"image": img, "label": lab, "history": "[]"}, rng)
    assert isinstance(nd["image"], np.ndarray) and nd["image"].shape == (40, 40) and nd["label"].dtype == np.uint8
    assert isinstance(nd["history"], str) and len(json.loads(nd["history"])) == 3
    # bare tensors: channel-first 2D and 3D, and a 2D tensor without channel
    t2 = RandomAffine(modality="ct")(torch.from_numpy(img)[None], rng)
    assert isinstance(t2, torch.Tensor) and tuple(t2.shape) == (1, 40, 40) and t2.dtype == torch.float32
    vol = torch.from_numpy(np.repeat(img[None], 6, axis=0))[None]
    t3 = RandomAffine(modality="ct")(vol, rng)
    assert tuple(t3.shape) == (1, 6, 40, 40)
    assert tuple(RandomNoise(modality="ct")(torch.from_numpy(img), rng).shape) == (40, 40)
    # two channels: both move on the same grid
    two = torch.stack([torch.from_numpy(img), torch.from_numpy(img)])
    moved = RandomAffine(modality="ct")(two, rng)
    assert tuple(moved.shape) == (2, 40, 40) and torch.equal(moved[0], moved[1])


def test_replay_on_dicts_gives_the_same_bytes():
    img, lab = torso(40)
    d = {"image": torch.from_numpy(img)[None], "label": torch.from_numpy(lab.astype(np.int64))[None], "id": 3}
    aug = Compose([RandomAffine(modality="ct"), ElasticDeformation(modality="ct"), RandomNoise(modality="ct")])
    out = aug(d, np.random.default_rng(4))
    again = replay(d, json.loads(json.dumps(out["history"])))
    assert again["image"].numpy().tobytes() == out["image"].numpy().tobytes()
    assert torch.equal(again["label"], out["label"]) and again["id"] == 3


# ---- inverse and test-time augmentation --------------------------------------------------------


def test_inverse_of_a_flip_is_exact_and_swaps_labels_back():
    img, lab = torso(40)
    s = Sample(img, lab, modality="ct", legend=LEGEND)
    out = RandomFlip(axes=(0, 1), flip_probability=1.0)(s, np.random.default_rng(0))
    assert not np.array_equal(out.label, lab)
    back = inverse(out, out.history)
    assert np.array_equal(back.image, img) and np.array_equal(back.label, lab) and back.history == []


def test_inverse_of_affine_and_elastic_is_close_in_the_interior():
    img = smooth()
    lab = (img > 60).astype(np.uint8)
    s = Sample(img, lab, spacing=(0.9, 0.9), modality="mri")
    rng = np.random.default_rng(1)
    inner = (slice(12, -12), slice(12, -12))
    aug = Compose([RandomAffine(degrees=3, modality="mri"), ElasticDeformation(modality="mri")])
    for _ in range(3):
        out = aug(s, rng)
        moved = np.abs(out.image - img)[inner].max()
        back = inverse(out, out.history)
        err = np.abs(back.image - img)[inner]
        assert moved > 3 and err.max() < 1.0 and err.mean() < 0.2  # values span 0..100; measured 0.2 / 0.07
        assert (back.label == lab)[inner].mean() > 0.97
    with pytest.raises(ParameterError, match="folds"):
        wild = TextbookElastic(modality="ct")(Sample(img, modality="ct"), np.random.default_rng(0))
        inverse(wild, wild.history)


class ShiftForTest(SpatialTransform):
    """A whole-pixel shift with its own ``invert`` (as the X-ray projection transform provides)."""

    calls = 0

    def sample_params(self, sample, rng, ranges, profile):
        return {"shift": 3}

    @classmethod
    def apply(cls, sample, params):
        return sample.with_channels({k: np.roll(v, params["shift"], axis=-1) for k, v in sample.channels().items()})

    @classmethod
    def invert(cls, sample, params):
        cls.calls += 1
        return sample.with_channels({k: np.roll(v, -params["shift"], axis=-1) for k, v in sample.channels().items()})


def test_inverse_dispatches_to_a_transform_s_own_invert_and_skips_intensity():
    img = torso(32)[0]
    s = Sample(img, modality="ct")
    out = Compose([ShiftForTest(modality="ct"), RandomBrightness(modality="ct")])(s, np.random.default_rng(0))
    assert [h["transform"] for h in out.history] == ["ShiftForTest", "RandomBrightness"]
    back = inverse(out, out.history)
    assert ShiftForTest.calls == 1
    offset = back.image - img  # the brightness shift is left (not undone), the geometry is back
    assert np.ptp(offset) < 1e-3 and abs(offset.mean()) > 0
    assert np.ptp(out.image - img) > 100


def test_tta_of_an_equivariant_predictor_returns_its_prediction():
    img = smooth()
    s = Sample(img, spacing=(0.9, 0.9), modality="mri")
    aug = Compose([RandomAffine(degrees=3, modality="mri"), RandomFlip(modality="mri")])
    identity = tta_predict(lambda x: x.image, s, aug, np.random.default_rng(2), n=4)
    assert identity.shape == img.shape and identity.dtype == np.float32
    assert np.abs(identity - img)[8:-8, 8:-8].max() < 2.0
    # a pointwise classifier (equivariant) with two channels, on a tensor input
    def probs(x):
        p = torch.sigmoid((x[0] - 60.0) / 5.0)
        return torch.stack([1 - p, p])

    t = torch.from_numpy(img)[None]
    mean = tta_predict(probs, t, aug, np.random.default_rng(3), n=4)
    assert isinstance(mean, torch.Tensor) and tuple(mean.shape) == (2, 64, 64)
    assert torch.allclose(mean.sum(0), torch.ones(64, 64), atol=1e-5)
    assert (mean - probs(t)).abs()[:, 8:-8, 8:-8].mean() < 0.02
    # without the original, every pixel still covered by some copy of a mild transform
    only = tta_predict(lambda x: x.image, s, aug, np.random.default_rng(2), n=3, include_original=False)
    assert np.isfinite(only[8:-8, 8:-8]).all()
    # a non-equivariant predictor is NOT reproduced: the test can fail
    shifted = tta_predict(lambda x: ndi.shift(x.image, (0, 5), order=1), s, Compose([RandomFlip(
        flip_probability=1.0, modality="mri")]), np.random.default_rng(0), n=2, include_original=False)
    assert np.abs(shifted - ndi.shift(img, (0, 5), order=1))[8:-8, 8:-8].max() > 5
    with pytest.raises(ParameterError, match="n >= 1"):
        tta_predict(lambda x: x.image, s, aug, np.random.default_rng(0), n=0)


def test_inverse_refuses_unknown_records():
    s = Sample(smooth(16), modality="ct")
    with pytest.raises(ParameterError, match="unknown transform"):
        inverse(s, [{"transform": "NoSuchTransform", "params": {}}])


def test_inverse_and_tta_through_the_xray_projection_geometry():
    projection = pytest.importorskip("mira.augment.spatial.projection")
    img = smooth() / 100.0
    s = Sample(img, spacing=(0.5, 0.5), modality="xray")
    aug = Compose([projection.ProjectionGeometry(modality="xray"), RandomAffine(modality="xray")])
    out = aug(s, np.random.default_rng(0))
    assert out.spacing != s.spacing  # the projection record changed the spacing
    back = inverse(out, out.history)
    assert back.spacing == pytest.approx(s.spacing) and np.abs(back.image - img)[10:-10, 10:-10].max() < 0.01
    mean = tta_predict(lambda x: x.image, s, aug, np.random.default_rng(1), n=3)
    assert np.abs(mean - img)[10:-10, 10:-10].max() < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tensors_on_the_gpu_come_back_on_the_gpu():
    img, lab = torso(32)
    d = {"image": torch.from_numpy(img)[None].cuda().half(),
         "label": torch.from_numpy(lab.astype(np.int64))[None].cuda()}
    out = Compose([RandomAffine(modality="ct"), RandomNoise(modality="ct")])(d, np.random.default_rng(0))
    assert out["image"].is_cuda and out["image"].dtype == torch.float16 and out["label"].is_cuda
    assert tuple(out["label"].shape) == (1, 32, 32) and out["label"].dtype == torch.int64

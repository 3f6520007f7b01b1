"""The three studies as library functions (mira.evaluate): strategy comparison, task change, SR case study.

Each is run with a user-style toy model written here (a nearest-centroid classifier, a threshold
segmenter, a torch module) and on mira's own phantoms.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mira.errors import ParameterError
from mira.evaluate import compare_augmentation_strategies, sr_case_study, task_change
from mira.modalities import get_profile

# ------------------------------------------------------------------------------------------------
# toy data and models


def blobs(n_per_class: int, seed: int, side: int = 16, noise: float = 0.3) -> list[tuple[np.ndarray, int]]:
    """(image, class) items: class 1 has a bright 6 x 6 square in the centre; Gaussian noise on both."""
    rng = np.random.default_rng(seed)
    items = []
    for c in (0, 1):
        for _ in range(n_per_class):
            img = rng.normal(0.0, noise, (side, side))
            if c:
                img[5:11, 5:11] += 1.0
            items.append((img, c))
    return items


class Centroids:
    """Nearest-centroid classifier: p(class 1) = softmax of minus the squared distances to the class means."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.mu = np.stack([images[labels == c].mean(axis=0) for c in (0, 1)])

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        d = np.stack([((batch - m) ** 2).mean(axis=(1, 2)) for m in self.mu], axis=1)
        z = np.exp(-(d - d.min(axis=1, keepdims=True)) * 20)
        return z / z.sum(axis=1, keepdims=True)


def train_centroids(items, augment, rng):
    """A user's training function: two augmented copies of every item (when augment is given)."""
    copies = [augment(it, rng) for it in items for _ in range(2)] if augment is not None else list(items)
    imgs = np.stack([np.asarray(c[0] if isinstance(c, tuple) else c.image, np.float64) for c in copies])
    labs = np.asarray([c[1] if isinstance(c, tuple) else c.meta["class_label"] for c in copies])
    return Centroids(imgs, labs)


def destroy(item, rng):
    """A strategy that destroys the data: the image is blanked (both class means become equal)."""
    return (np.zeros_like(np.asarray(item[0])), item[1])


# ------------------------------------------------------------------------------------------------
# compare_augmentation_strategies


@pytest.fixture(scope="module")
def toy_comparison():
    args = dict(strategies={"none": None, "destroy": destroy, "intensity": "intensity"}, sizes=[3, 6], seeds=3)
    kw = dict(eval_set=blobs(20, 1), profile=get_profile("ct"), seed=5, n_boot=50)
    a = compare_augmentation_strategies(train_centroids, blobs(10, 0), **args, **kw)
    b = compare_augmentation_strategies(train_centroids, blobs(10, 0), **args, **kw)
    return a, b


def test_strategy_comparison_has_one_row_per_strategy_size_and_seed(toy_comparison):
    res, _ = toy_comparison
    runs = res.runs
    assert len(runs) == 3 * 2 * 3
    assert not runs.duplicated(["strategy", "size_per_class", "seed_index"]).any()
    assert set(runs["n_train"]) == {6, 12}  # per class x 2 classes
    assert {"accuracy", "auc", "accuracy_lo", "auc_hi", "log_loss"} <= set(runs.columns)
    s = res.summary
    assert len(s) == 3 * 2 and {"data_factor_accuracy", "delta_accuracy_lo", "gain_accuracy_pct"} <= set(s.columns)
    assert set(res.claims["strategy"]) == {"destroy", "intensity"}


def test_strategy_comparison_is_deterministic(toy_comparison):
    a, b = toy_comparison
    pd.testing.assert_frame_equal(a.runs.drop(columns="wall_s"), b.runs.drop(columns="wall_s"))
    pd.testing.assert_frame_equal(a.summary.drop(columns="wall_s"), b.summary.drop(columns="wall_s"))


def test_strategy_comparison_interval_contains_the_mean_and_destroying_the_data_costs(toy_comparison):
    s, _ = toy_comparison
    s = s.summary
    for m in ("accuracy", "auc"):
        ok = s[f"{m}_lo"].notna()
        assert ok.all()
        assert (s.loc[ok, f"{m}_lo"] <= s.loc[ok, f"{m}_mean"] + 1e-12).all()
        assert (s.loc[ok, f"{m}_mean"] <= s.loc[ok, f"{m}_hi"] + 1e-12).all()
    acc = s.set_index(["strategy", "size_per_class"])["accuracy_mean"]
    for n in (3, 6):
        assert acc[("none", n)] > 0.9
        assert acc[("destroy", n)] < acc[("none", n)] - 0.2
    d = s[s.strategy == "destroy"]
    assert (d["delta_accuracy_hi"] < 0).all()  # the paired interval excludes zero


def test_strategy_comparison_splits_off_an_evaluation_set_and_takes_metric_functions():
    res = compare_augmentation_strategies(train_centroids, blobs(12, 3), {"none": None}, [4], 2, seed=1,
                                          evaluate_fn=lambda model, items: {"mean_p": float(np.mean(
                                              model.predict_proba(np.stack([i[0] for i in items]))[:, 1]))})
    assert list(res.runs["n_eval"]) == [6, 6]  # 25 % of 12 per class
    assert "mean_p_mean" in res.summary and res.claims.empty
    with pytest.raises(ParameterError, match="profile"):
        compare_augmentation_strategies(train_centroids, blobs(4, 0), ["basic"], [2], 1)
    with pytest.raises(ParameterError, match="training size"):
        compare_augmentation_strategies(train_centroids, blobs(4, 0), {"none": None}, [9], 1, eval_set=blobs(2, 1))


def test_strategy_comparison_on_mira_phantoms_with_a_built_in_strategy():
    from mira.augment import Sample
    from mira.synthesis import synthesize_case

    items = []
    for i in range(8):
        c = synthesize_case("ct", np.random.default_rng(100 + i), size=32, lesion=bool(i % 2))
        items.append(Sample(image=c.image, label=c.label, spacing=c.spacing, modality="ct",
                            meta={"class_label": int(c.class_label)}))
    pool, ev = items[:6], items[6:]
    if len({s.meta["class_label"] for s in pool}) < 2 or len({s.meta["class_label"] for s in ev}) < 2:
        pytest.skip("phantom draws without both classes")
    kw = dict(eval_set=ev, profile=get_profile("ct"), seed=2, n_boot=20)
    a = compare_augmentation_strategies(train_centroids, pool, ["none", "intensity"], [1], 2, **kw)
    b = compare_augmentation_strategies(train_centroids, pool, ["none", "intensity"], [1], 2, **kw)
    assert len(a.runs) == 4 and a.runs["accuracy"].between(0, 1).all()
    pd.testing.assert_frame_equal(a.runs.drop(columns="wall_s"), b.runs.drop(columns="wall_s"))
    assert "contrast" in a.runs.set_index("strategy").loc["intensity", "detail"].iloc[0]


# ------------------------------------------------------------------------------------------------
# task_change


def disk_pairs(n: int = 12, noise: float = 0.7, seed: int = 0) -> list[dict]:
    """Clean disks (1 on 0), degraded by heavy noise, restored by an oracle (clean) and a mild smoothing."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    pairs = []
    for i in range(n):
        r = rng.uniform(5, 10)
        clean = ((yy - 16) ** 2 + (xx - 16) ** 2 <= r * r).astype(np.float64)
        degraded = clean + rng.normal(0, noise, clean.shape)
        pairs.append({"case_id": f"d{i}", "clean": clean, "degraded": degraded, "label": clean.astype(int),
                      "restored": {"oracle": clean.copy(), "smooth": ndi.gaussian_filter(degraded, 1.5)}})
    return pairs


def threshold_model(image):
    return (np.asarray(image) > 0.5).astype(np.int64)


def test_task_change_segmentation_paired_changes():
    res = task_change(threshold_model, disk_pairs(), n_boot=200, seed=3)
    s = res.summary.set_index("method")
    assert s.loc["clean", "dice_mean"] == 1.0 and s.loc["oracle", "dice_mean"] == 1.0
    assert s.loc["oracle", "delta_dice_vs_clean"] == 0.0
    assert s.loc["oracle", "delta_dice_vs_clean_lo"] == 0.0 and s.loc["oracle", "delta_dice_vs_clean_hi"] == 0.0
    assert s.loc["degraded", "delta_dice_vs_clean"] < 0 and s.loc["degraded", "delta_dice_vs_clean_hi"] < 0
    assert s.loc["smooth", "delta_dice_vs_degraded_lo"] > 0  # the smoothing helps the threshold model
    assert "delta_dice_vs_degraded" not in s.columns or np.isnan(s.loc["degraded", "delta_dice_vs_degraded"])
    assert set(res.per_case["condition"]) == {"clean", "degraded", "restored"} and len(res.per_case) == 12 * 4
    again = task_change(threshold_model, disk_pairs(), n_boot=200, seed=3)
    pd.testing.assert_frame_equal(res.summary, again.summary)


def test_task_change_with_a_torch_module_on_a_mira_phantom():
    import torch

    from mira.degrade import apply
    from mira.synthesis import synthesize_case

    class Body(torch.nn.Module):  # a user's "network": two logits, body where HU > -500
        def forward(self, x):
            return torch.cat([torch.zeros_like(x), (x + 500.0) / 100.0], dim=1)

    ct = get_profile("ct")
    pairs = []
    for i in range(3):
        case = synthesize_case("ct", np.random.default_rng(i), size=48)
        body = (case.image > -500).astype(np.uint8)
        deg = apply("gaussian_noise", case.image, "severe", np.random.default_rng(i), profile=ct).image
        pairs.append({"case_id": f"c{i}", "clean": case.image, "degraded": deg, "label": body,
                      "restored": {"identity": case.image.copy()}})
    res = task_change(Body(), pairs, n_boot=50, legend={1: "body"})
    s = res.summary.set_index("method")
    assert s.loc["clean", "dice_mean"] == pytest.approx(1.0) and s.loc["identity", "delta_dice_vs_clean"] == 0.0
    assert s.loc["degraded", "dice_mean"] <= 1.0 and set(res.per_case["label_name"]) == {"body"}


def test_task_change_classification_branch():
    items = blobs(15, 7, noise=0.2)
    rng = np.random.default_rng(0)
    pairs = [{"case_id": f"b{i}", "clean": img, "degraded": img + rng.normal(0, 3.0, img.shape), "target": c,
              "restored": {"oracle": img.copy()}} for i, (img, c) in enumerate(items)]

    def score(batch):  # mean brightness of the centre, squashed to 0..1
        return 1 / (1 + np.exp(-8 * (batch[:, 5:11, 5:11].mean(axis=(1, 2)) - 0.5)))

    res = task_change(score, pairs, task="classification", n_boot=200, seed=1)
    s = res.summary.set_index("method")
    assert s.loc["clean", "auc"] == 1.0 and s.loc["clean", "accuracy"] == 1.0
    assert s.loc["degraded", "auc"] < 1.0 and s.loc["degraded", "delta_auc_vs_clean"] < 0
    assert s.loc["degraded", "delta_accuracy_vs_clean_hi"] < 0
    assert s.loc["oracle", "delta_auc_vs_degraded"] > 0 and s.loc["oracle", "delta_auc_vs_clean"] == 0.0
    assert set(res.per_case.columns) >= {"case_id", "target", "score", "correct"}
    with pytest.raises(ParameterError, match="target"):
        task_change(score, [{"clean": items[0][0], "degraded": items[0][0]}], task="classification")


# ------------------------------------------------------------------------------------------------
# sr_case_study


@pytest.fixture(scope="module")
def phantoms():
    from mira.synthesis import synthesize_case

    return [synthesize_case("ct", np.random.default_rng(10 + i), size=64).image for i in range(3)]


def test_sr_case_study_oracle_beats_bicubic_beats_nearest(phantoms):
    import torch

    from mira.degrade import apply

    ct = get_profile("ct")
    refs = {}
    for img in phantoms:
        out = apply("downsample", img, "x2", profile=ct)
        refs[out.image.tobytes()] = out.reference

    def oracle(lr, scale):
        return refs[np.asarray(lr).tobytes()]

    ups = {"nearest": "nearest", "lanczos": "lanczos", "oracle": oracle,
           "module": torch.nn.Upsample(scale_factor=2, mode="nearest")}
    res = sr_case_study(phantoms, ups, profile=ct, scale=2)
    c = res.cases.set_index(["method", "case_id"])
    assert len(res.cases) == 4 * 3 and (res.cases["scale"] == 2).all()
    assert np.isinf(c.loc["oracle", "sr_psnr"]).all() and (c.loc["oracle", "gain_psnr"] > 0).all()
    assert (c.loc["nearest", "gain_psnr"] < 0).all()  # bicubic beats nearest on every image
    np.testing.assert_allclose(c.loc["module", "sr_psnr"], c.loc["nearest", "sr_psnr"], atol=1e-3)
    s = res.summary.set_index("method")
    assert s.loc["oracle", "improved_psnr"] == 1.0 and s.loc["nearest", "improved_psnr"] == 0.0
    assert {"lr_ssim_mean", "gain_mae_mean", "improved_mae"} <= set(res.summary.columns)


def test_sr_case_study_matches_the_pipeline_scoring_and_identity_scale(phantoms):
    from mira.degrade import apply
    from mira.metrics import psnr
    from mira.restore import restore

    ct = get_profile("ct")
    res = sr_case_study(phantoms[:2], {"lanczos": "lanczos"}, profile=ct, scale=3, metrics=("psnr", "ssim"))
    out = apply("downsample", phantoms[0], "x3", profile=ct)
    want = psnr(out.reference, restore("bicubic", out.image, ct, scale=3), ct)
    assert res.cases.iloc[0]["lr_psnr"] == pytest.approx(want, abs=1e-9)
    assert list(res.cases.columns[-6:]) == ["lr_psnr", "sr_psnr", "gain_psnr", "lr_ssim", "sr_ssim", "gain_ssim"]
    same = sr_case_study(phantoms[:1], {"lanczos": "lanczos", "nearest": "nearest"}, profile=ct, scale=1)
    m = same.metrics
    assert np.isinf(m[m.metric == "psnr"]["value"]).all() and (m[m.metric == "ssim"]["value"] == 1.0).all()
    with pytest.raises(ParameterError, match="shape"):
        sr_case_study(phantoms[:1], {"bad": lambda lr, s: lr}, profile=ct, scale=2)


def test_task_change_resamples_whole_groups_when_pairs_share_an_image():
    """Eight near-copies of each of a few images must not buy the interval of eight times as many images."""
    from mira.evaluate import task_change

    rng = np.random.default_rng(3)
    n_images, copies = 6, 8
    pairs, grouped = [], []
    for i in range(n_images):
        y = i % 2
        base = rng.normal(0.5 * y, 1.0)                    # one score level per image, noisy across images
        for k in range(copies):
            clean = np.full((4, 4), base + 0.01 * rng.normal())
            degraded = clean + rng.normal(0.0, 0.8)
            item = {"case_id": f"img{i}_p{k}", "clean": clean, "degraded": degraded, "target": y}
            pairs.append(item)
            grouped.append({**item, "group": f"img{i}"})

    def model(batch):
        return 1.0 / (1.0 + np.exp(-np.asarray(batch).mean(axis=(1, 2))))

    flat = task_change(model, pairs, task="classification", n_boot=400, seed=1).summary.set_index("method")
    clus = task_change(model, grouped, task="classification", n_boot=400, seed=1).summary.set_index("method")
    width = lambda t, c: t.loc["degraded", f"{c}_hi"] - t.loc["degraded", f"{c}_lo"]  # noqa: E731
    assert flat.loc["degraded", "auc"] == clus.loc["degraded", "auc"]        # the estimate is the same
    assert width(clus, "delta_auc_vs_clean") > 1.5 * width(flat, "delta_auc_vs_clean")
    assert width(clus, "accuracy") > 1.5 * width(flat, "accuracy")

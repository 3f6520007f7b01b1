"""mira.evaluate: aggregation, Dice, AUC, data efficiency, the strategy study at tiny size, figures."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from figure_checks import check_png
from mira.errors import InputError, ParameterError
from mira.evaluate.classifier import (
    ClassifierSettings,
    InputEncoder,
    accuracy_score,
    auc_score,
    bootstrap_ci,
    log_loss,
    one_hot,
    train_classifier,
)
from mira.evaluate.segmentation import dice_per_label, mean_dice, predict_labels, train_unet, unet_settings
from mira.evaluate.strategy_study import (
    claims_statement,
    claims_table,
    data_factor,
    equivalent_size,
    format_factor,
    summarize_runs,
    t_interval,
)
from mira.modalities import get_profile
from mira.study.report import restoration_tables as agg

# ------------------------------------------------------------------------------------------------
# aggregation on hand-made per-case tables


def tidy(values: dict, degradation="low_dose", level="moderate", modality="ct", extra=("wall_s",)):
    """Rows of the restoration contract from {method: [psnr per case]}; ssim = psnr/40, mae = 100 - psnr."""
    rows = []
    for method, psnrs in values.items():
        for i, v in enumerate(psnrs):
            mets = {"psnr": v, "ssim": v / 40.0, "mae": 100.0 - v, "wall_s": 0.01 * (1 + len(method))}
            for m, val in mets.items():
                if m in ("psnr", "ssim", "mae") or m in extra:
                    rows.append(dict(source="phantom", modality=modality, split="test", degradation=degradation,
                                     level=level, method=method, case_id=f"c{i}", metric=m, value=val))
    return pd.DataFrame(rows)


def test_summarize_gives_means_sds_and_n():
    df = tidy({"input": [20.0, 22.0, 27.0], "bm3d": [30.0, 30.0, 33.0]})
    s = agg.summarize(df, ["method"])
    row = s[(s.method == "input") & (s.metric == "psnr")].iloc[0]
    assert row["mean"] == pytest.approx(23.0)
    assert row["sd"] == pytest.approx(np.std([20, 22, 27], ddof=1))
    assert row["n"] == 3
    mae = s[(s.method == "bm3d") & (s.metric == "mae")].iloc[0]
    assert mae["mean"] == pytest.approx(100 - 31.0) and mae["sd"] == pytest.approx(np.sqrt(3.0))


def test_summarize_leaves_out_infinite_values_and_single_case_sd_is_zero():
    df = tidy({"a": [30.0, math.inf], "b": [25.0]})
    s = agg.summarize(df, ["method"]).set_index(["method", "metric"])
    assert s.loc[("a", "psnr"), "n"] == 1 and s.loc[("a", "psnr"), "mean"] == 30.0
    assert s.loc[("b", "psnr"), "sd"] == 0.0


def test_best_method_marks_respect_metric_direction_and_ties():
    df = pd.concat([tidy({"input": [20, 22], "nlm": [28, 30], "bm3d": [29, 29]}),
                    tidy({"input": [31, 31], "nlm": [30, 30]}, degradation="speckle")])
    table = agg.restoration_table(df)
    low = table[table.degradation == "low_dose"].set_index("method")
    # nlm and bm3d tie on mean PSNR (29): both are marked; MAE lower is better -> same two
    assert bool(low.loc["nlm", "psnr_best"]) and bool(low.loc["bm3d", "psnr_best"])
    assert not bool(low.loc["input", "psnr_best"])
    assert bool(low.loc["nlm", "mae_best"]) and not bool(low.loc["input", "mae_best"])
    assert low.loc["input", "best"] == ""
    assert low.loc["nlm", "psnr_mean"] == pytest.approx(29.0)
    assert low.loc["nlm", "psnr_sd"] == pytest.approx(np.std([28, 30], ddof=1))
    assert low.loc["nlm", "n"] == 2
    # time: lower is better, the shortest method name is fastest in tidy()
    assert bool(low.loc["nlm", "wall_s_best"]) and not bool(low.loc["input", "wall_s_best"])
    # doing nothing can win: the unrestored input is best for speckle here
    sp = table[table.degradation == "speckle"].set_index("method")
    assert sp.loc["input", "best"] == "psnr, ssim, mae" and sp.loc["nlm", "best"] == ""
    md = agg.restoration_markdown(table)
    assert "**29.00 ± 1.41**" in md and "**29.00 ± 0.00**" in md and "| 22.00 ± 1.41 |" not in md
    assert "21.00 ± 1.41" in md  # input, not bold
    w = agg.winners(table, "psnr").set_index("degradation")
    assert w.loc["speckle", "method"] == "input"
    assert agg.winners(table, "psnr", exclude=["input"]).set_index("degradation").loc["speckle", "method"] == "nlm"


def test_sr_case_study_gains_per_image():
    df = pd.concat([tidy({"bicubic": [25, 26], "srcnn": [27, 26.5], "edsr": [28, 25]}, degradation="downsample",
                         level="x2")])
    cases = agg.sr_case_table(df)
    assert set(cases["method"]) == {"srcnn", "edsr"} and (cases["scale"] == 2).all()
    e = cases[cases.method == "edsr"].set_index("case_id")
    assert e.loc["c0", "gain_psnr"] == pytest.approx(3.0) and e.loc["c1", "gain_psnr"] == pytest.approx(-1.0)
    assert e.loc["c0", "gain_ssim"] == pytest.approx(3.0 / 40)
    s = agg.sr_summary(cases).set_index("method")
    assert s.loc["srcnn", "gain_psnr_mean"] == pytest.approx(1.25)
    assert s.loc["edsr", "gain_psnr_mean"] == pytest.approx(1.0)
    assert s.loc["edsr", "improved_psnr"] == pytest.approx(0.5) and s.loc["srcnn", "improved_psnr"] == 1.0
    assert bool(s.loc["srcnn", "best"]) and not bool(s.loc["edsr", "best"])
    assert "Super-resolution case study" in agg.sr_markdown(cases, agg.sr_summary(cases))


def test_write_restoration_tables_roundtrip(tmp_path):
    df = pd.concat([tidy({"input": [20, 22], "bm3d": [29, 29]}),
                    tidy({"bicubic": [25, 26], "srcnn": [27, 26.5]}, degradation="downsample", level="x2")])
    df.to_csv(tmp_path / "m.csv", index=False)
    out = {k: tmp_path / f"{k}.{e}" for k, e in (("t", "csv"), ("md", "md"), ("c", "csv"), ("s", "csv"), ("smd", "md"))}
    info = agg.write_restoration_tables(tmp_path / "m.csv", out["t"], out["md"], out["c"], out["s"], out["smd"])
    assert info == {"rows": 4, "sr_cases": 2}
    assert "bm3d" in out["md"].read_text() and pd.read_csv(out["c"]).shape[0] == 2


def test_collect_markdown_demotes_headings(tmp_path):
    (tmp_path / "a.md").write_text("# Grading\n\n| a |\n| - |\n| 1 |\n")
    text = agg.collect_markdown([("Degradation grading", tmp_path / "a.md")])
    assert "## Degradation grading" in text and "\n## Grading" in text and "| 1 |" in text
    with pytest.raises(InputError):
        agg.collect_markdown([("missing", tmp_path / "nope.md")])


# ------------------------------------------------------------------------------------------------
# Dice, AUC, intervals


def test_dice_on_known_masks():
    ref = np.zeros((10, 10), np.uint8)
    pred = np.zeros_like(ref)
    ref[0:4, 0:5] = 1            # 20 px
    pred[2:6, 0:5] = 1           # 20 px, overlap 10 px
    ref[8, 8] = 2                # label 2 only in the reference
    pred[9, 9] = 3               # label 3 only in the prediction
    d = dice_per_label(pred, ref)
    assert d[1] == pytest.approx(2 * 10 / 40)
    assert d[2] == 0.0 and d[3] == 0.0
    assert math.isnan(dice_per_label(pred, ref, [7])[7])          # absent from both -> NaN
    assert dice_per_label(ref, ref)[1] == 1.0
    assert mean_dice(pred, ref) == pytest.approx((0.5 + 0.0) / 2)  # labels of the reference: 1 and 2


def test_auc_on_known_scores():
    y = [0, 0, 1, 1]
    assert auc_score(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auc_score(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auc_score(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    # one positive below one negative: 3 of 4 pairs ordered
    assert auc_score(y, [0.1, 0.6, 0.5, 0.9]) == pytest.approx(0.75)
    rng = np.random.default_rng(0)
    yy = rng.integers(0, 2, 60)
    ss = np.round(rng.random(60), 1)  # with ties
    pos, neg = ss[yy == 1], ss[yy == 0]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auc_score(yy, ss) == pytest.approx(brute)
    from scipy.stats import mannwhitneyu
    assert auc_score(yy, ss) == pytest.approx(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
    assert math.isnan(auc_score([1, 1], [0.2, 0.3]))


def test_accuracy_logloss_and_bootstrap_interval():
    y = np.array([0] * 20 + [1] * 20)
    p = np.r_[np.linspace(0.0, 0.6, 20), np.linspace(0.4, 1.0, 20)]
    acc = accuracy_score(y, p)
    assert acc == pytest.approx(np.mean((p >= 0.5) == y))
    assert log_loss([1, 0], [0.9, 0.1]) == pytest.approx(-np.log(0.9))
    ci = bootstrap_ci(y, p, np.random.default_rng(1), n_boot=400)
    assert ci["accuracy_lo"] <= acc <= ci["accuracy_hi"]
    assert ci["auc_lo"] <= auc_score(y, p) <= ci["auc_hi"] and ci["auc_hi"] <= 1.0
    assert ci == bootstrap_ci(y, p, np.random.default_rng(1), n_boot=400)


def test_t_interval_matches_formula():
    mean, sd, lo, hi = t_interval([0.6, 0.7, 0.8])
    from scipy.stats import t
    half = t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert (mean, sd) == (pytest.approx(0.7), pytest.approx(0.1))
    assert lo == pytest.approx(0.7 - half) and hi == pytest.approx(0.7 + half)
    assert all(math.isnan(v) for v in t_interval([0.5])[1:])


# ------------------------------------------------------------------------------------------------
# data efficiency and the claims, on hand-made curves


SIZES = [8, 16, 32, 64]
BASE = [0.60, 0.70, 0.80, 0.85]


def test_equivalent_size_interpolates_in_log2_size():
    assert equivalent_size(SIZES, BASE, 0.75) == (pytest.approx(2 ** 4.5), "")
    assert equivalent_size(SIZES, BASE, 0.70) == (pytest.approx(16.0), "")
    assert equivalent_size(SIZES, BASE, 0.60) == (pytest.approx(8.0), "")
    assert equivalent_size(SIZES, BASE, 0.90) == (64.0, ">")
    assert equivalent_size(SIZES, BASE, 0.55) == (8.0, "<")
    # a non-monotone curve is read through its running maximum
    assert equivalent_size(SIZES, [0.6, 0.8, 0.7, 0.9], 0.75)[0] == pytest.approx(2 ** 3.75)
    assert equivalent_size(SIZES, [0.6, 0.8, 0.7, 0.9], 0.85)[0] == pytest.approx(2 ** 5.5)


def test_data_factor_on_a_hand_made_curve():
    f, b = data_factor(SIZES, BASE, 8, 0.75)          # strategy at 8/class matches the baseline at 22.6/class
    assert f == pytest.approx(2 ** 4.5 / 8) and b == ""
    assert format_factor(f, b) == "2.8x"
    f, b = data_factor(SIZES, BASE, 8, 0.95)
    assert (f, b) == (8.0, ">") and format_factor(f, b) == ">8x"
    f, b = data_factor(SIZES, BASE, 16, 0.5)
    assert (f, b) == (0.5, "<")


def make_runs(gains: dict[str, list[float]], seeds=3) -> pd.DataFrame:
    """Hand-made runs: baseline BASE (+-0.01 by seed), each strategy = baseline + gain at each size."""
    rows = []
    for strat, g in {"none": [0, 0, 0, 0], **gains}.items():
        for k in range(seeds):
            for n, b, d in zip(SIZES, BASE, g):
                acc = b + d + (k - 1) * 0.01
                rows.append(dict(modality="ct", strategy=strat, size_per_class=n, n_train=2 * n, seed_index=k,
                                 accuracy=acc, accuracy_lo=acc - 0.1, accuracy_hi=acc + 0.1, auc=acc + 0.05,
                                 auc_lo=acc, auc_hi=acc + 0.1, log_loss=0.5, n_eval=200, n_synthetic=0, steps=10,
                                 wall_s=1.0, detail=strat))
    return pd.DataFrame(rows)


def test_summarize_runs_and_claim_verdicts():
    runs = make_runs({"basic": [0.15, 0.10, 0.05, 0.02], "mixup": [0.03, 0.02, 0.0, 0.0],
                      "cutmix": [-0.05, 0.0, 0.0, 0.0]})
    s = summarize_runs(runs)
    b8 = s[(s.strategy == "basic") & (s.size_per_class == 8)].iloc[0]
    assert b8.accuracy_mean == pytest.approx(0.75) and b8.seeds == 3
    assert b8.accuracy_lo < 0.75 < b8.accuracy_hi and b8.ci == "t over 3 seeds"
    assert b8.delta_accuracy == pytest.approx(0.15) and b8.gain_accuracy_pct == pytest.approx(25.0)
    assert b8.data_factor_accuracy == pytest.approx(2 ** 4.5 / 8)
    n8 = s[(s.strategy == "none") & (s.size_per_class == 8)].iloc[0]
    assert n8.data_factor_accuracy == pytest.approx(1.0)
    c = claims_table(s).set_index("strategy")
    assert c.loc["basic", "claim_15_30pct"].startswith("yes: within 15-30%")
    assert c.loc["basic", "claim_2_5x_data"] == "yes: within 2-5x"
    assert c.loc["mixup", "claim_15_30pct"].startswith("no: below 15%")
    assert c.loc["mixup", "claim_2_5x_data"].startswith("no")
    assert c.loc["cutmix", "claim_15_30pct"].startswith("no: worse")
    text = claims_statement(claims_table(s))
    assert "holds only partly" in text and "basic" in text
    # one seed: intervals fall back to the run's bootstrap interval
    s1 = summarize_runs(make_runs({"basic": [0.15, 0.1, 0.05, 0.02]}, seeds=1))
    r = s1[(s1.strategy == "basic") & (s1.size_per_class == 8)].iloc[0]
    assert r.ci == "bootstrap over cases" and r.accuracy_lo == pytest.approx(r.accuracy_mean - 0.1)


# ------------------------------------------------------------------------------------------------
# classifier, cohort and the strategy study at tiny size


def blob_samples(n: int, rng: np.random.Generator, size: int = 24):
    """Lesion / no-lesion toy samples: a bright blob in half of them."""
    from mira.augment import Sample
    out, y = [], []
    for i in range(n):
        img = rng.normal(0.3, 0.05, (size, size)).astype(np.float32)
        lab = np.ones((size, size), np.uint8)
        c = i % 2
        if c:
            cy, cx = rng.integers(8, size - 8, 2)
            yy, xx = np.mgrid[:size, :size]
            m = (yy - cy) ** 2 + (xx - cx) ** 2 <= 9
            img[m] += 0.5
            lab[m] = 2
        out.append(Sample(image=img, label=lab, spacing=(1.0, 1.0), modality="xray",
                          legend={0: "bg", 1: "tissue", 2: "lesion"}, meta={"class_label": c}))
        y.append(c)
    return out, np.array(y)


def test_classifier_learns_a_visible_blob_and_is_deterministic():
    rng = np.random.default_rng(0)
    train, ytr = blob_samples(40, rng)
    val, yva = blob_samples(40, rng)
    enc = InputEncoder((0.0, 1.0), 24)
    ex = enc.batch([s.image for s in val])
    st = ClassifierSettings.from_mapping({"steps": 60, "batch_size": 8, "lr": 5e-3, "eval_every": 30})
    a = train_classifier(train, one_hot(ytr), lambda s: enc(s.image), seed=3, settings=st, eval_x=ex, eval_y=yva)
    b = train_classifier(train, one_hot(ytr), lambda s: enc(s.image), seed=3, settings=st, eval_x=ex, eval_y=yva)
    pa = a.predict_proba(ex)
    assert np.array_equal(pa, b.predict_proba(ex))
    assert auc_score(yva, pa) > 0.9
    assert [h["step"] for h in a.history] == [30, 60] and "eval_auc" in a.history[-1]
    m = train_classifier(train, one_hot(ytr), lambda s: enc(s.image), seed=3,
                         settings=ClassifierSettings.from_mapping({"steps": 4, "batch_size": 8}),
                         batch_mix="mixup", mix_alpha=0.4)
    assert len(m.history) == 1
    with pytest.raises(ParameterError):
        train_classifier(train, one_hot(ytr), lambda s: enc(s.image), seed=3, batch_mix="bogus")


def test_input_encoder_crops_and_resizes():
    img = np.zeros((24, 24), np.float32)
    img[6:18, 6:18] = 1.0
    x = InputEncoder((0.0, 1.0), 12, crop=12)(img)
    assert x.shape == (1, 12, 12) and x.min() == 1.0
    assert InputEncoder((0.0, 2.0), 8)(img).shape == (1, 8, 8)


def test_strategies_build_within_the_profiles(tmp_path):
    from mira.augment import RandAugment
    from mira.evaluate.strategies import STRATEGIES, build_strategy
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"best": RandAugment(1, 5).to_dict()}))
    for mod in ("ct", "mri", "xray", "us"):
        for name in STRATEGIES:
            s = build_strategy(name, mod, policy_path=pol)
            assert s.name == name and s.description
    assert build_strategy("advanced", "xray").detail == "occlusion"  # no elastic for X-ray
    assert "elastic" in build_strategy("advanced", "ct").detail
    pol.write_text(json.dumps({"best": {"kind": "none", "name": "no_augmentation"}}))
    s = build_strategy("policy", "ct", policy_path=pol)
    assert s.detail == "no_augmentation" and s.transform("x", np.random.default_rng(0)) == "x"
    with pytest.raises(ParameterError):
        build_strategy("bogus", "ct")


def fake_synthesize(modality, rng, ndim=2, size=48, lesion=True):
    """A fast stand-in for mira.synthesis.synthesize_case: an organ disc with an optional lesion."""
    from types import SimpleNamespace
    yy, xx = np.mgrid[:size, :size]
    organ = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (0.35 * size) ** 2
    img = np.where(organ, 60.0, -1000.0) + rng.normal(0, 5, (size, size))
    lab = organ.astype(np.uint8)
    if lesion:
        cy, cx = size // 2 + rng.integers(-5, 6, 2)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 <= 4
        img[m] = 200.0
        lab[m] = 2
    return SimpleNamespace(image=img.astype(np.float32), label=lab, spacing=(2.0, 2.0),
                           legend={0: "background", 1: "liver", 2: "lesion"}, class_label=int(lesion))


def test_cohort_patches_are_balanced_and_show_the_lesion(tmp_path):
    from mira.evaluate.cohort import CohortDesign, PatchSpec, load_cohort, make_cohort
    out = tmp_path / "c.npz"
    design = CohortDesign(pool_per_class=6, eval_per_class=3, image_size=48, patch=PatchSpec(12, 1.5))
    info = make_cohort(out, get_profile("ct"), design, seed=1, synthesize=fake_synthesize)
    assert info["stored"] == 18
    c = load_cohort(out, "ct")
    assert len(c.pool) == 12 and len(c.eval) == 6 and c.side == 12
    assert sorted(np.bincount(c.pool_y)) == [6, 6]
    for s, y in zip(c.pool, c.pool_y):
        assert s.image.shape == (18, 18)
        assert bool((s.label == 2).any()) == bool(y)
    make_cohort(tmp_path / "d.npz", get_profile("ct"), design, seed=1, synthesize=fake_synthesize)
    a, b = np.load(out), np.load(tmp_path / "d.npz")
    assert np.array_equal(a["images"], b["images"])
    with pytest.raises(InputError):
        load_cohort(out, "mri")


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    """A real (mira.synthesis) CT cohort at tiny size."""
    from mira.evaluate.cohort import CohortDesign, PatchSpec, load_cohort, make_cohort
    out = tmp_path_factory.mktemp("cohort") / "ct.npz"
    make_cohort(out, get_profile("ct"), CohortDesign(4, 4, 48, PatchSpec(12, 1.5)), seed=7)
    return out, load_cohort(out, "ct")


def fake_gan_dir(folder, n=4):
    from mira.dataset import DatasetWriter
    w = DatasetWriter(folder, "gan_ct", "ct", "synthetic", {})
    rng = np.random.default_rng(0)
    for i in range(n):
        w.add(f"gan_ct_{i:04d}", rng.normal(0, 200, (32, 32)).astype(np.float32), (11.875, 11.875))
    w.close()
    return folder


def test_strategy_study_runs_at_tiny_size(tiny_cohort, tmp_path):
    from mira.augment import RandAugment
    from mira.evaluate.classifier import ClassifierSettings
    from mira.evaluate.strategy_study import StrategyDesign, run_strategy_job
    from mira.study.report.strategy_tables import write_strategy_tables
    path, _ = tiny_cohort
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"best": RandAugment(2, 5).to_dict()}))
    gan = fake_gan_dir(tmp_path / "gan")
    runs, hists = [], []
    training = {"steps": 4, "batch_size": 4, "eval_every": 2}
    design = StrategyDesign(sizes=(2, 4), seeds=1, training=ClassifierSettings.from_mapping(training), input_size=None,
                            mixup_alpha=0.4, cutmix_alpha=1.0, gan_ratio=1.0, n_boot=20, confidence=0.95)
    for strat in ("none", "basic", "intensity", "advanced", "mixup", "cutmix", "mixup_cutmix", "policy", "gan"):
        r, h = tmp_path / f"{strat}_runs.csv", tmp_path / f"{strat}_history.csv"
        info = run_strategy_job(path, get_profile("ct"), strat, design, seed=7, out_runs=r, out_history=h,
                                policy_json=pol, gan_dir=gan)
        assert info["runs"] == 2
        runs.append(r)
        hists.append(h)
    df = pd.read_csv(tmp_path / "gan_runs.csv")
    assert list(df["n_synthetic"]) == [4, 4] and df["accuracy"].between(0, 1).all()
    again = tmp_path / "again.csv"
    run_strategy_job(path, get_profile("ct"), "basic", design, seed=7, out_runs=again,
                     out_history=tmp_path / "again_h.csv")
    cols = ["accuracy", "auc", "log_loss"]
    assert pd.read_csv(again)[cols].equals(pd.read_csv(tmp_path / "basic_runs.csv")[cols])  # deterministic
    out = {k: tmp_path / f"all_{k}.csv" for k in ("runs", "history", "summary", "claims")}
    write_strategy_tables(runs, hists, out_runs=out["runs"], out_history=out["history"], out_summary=out["summary"],
                          out_claims=out["claims"], out_md=tmp_path / "s.md")
    s = pd.read_csv(out["summary"])
    assert len(s) == 18 and set(s["ci"]) == {"bootstrap over cases"}
    assert len(pd.read_csv(out["claims"])) == 8
    md = (tmp_path / "s.md").read_text()
    assert "Verdict on the claims of the textbook chapter" in md and "data factor" in md


def test_classifier_scorer_plugs_into_the_policy_search(tiny_cohort):
    from mira.augment import Sample
    from mira.augment.policy import search_policy
    from mira.augment.scorers import SCORERS, make_scorer
    from mira.evaluate.scorer import SCORERS as EVALUATE_SCORERS
    from mira.synthesis import synthesize_case
    assert "classifier" in EVALUATE_SCORERS and "classifier" not in SCORERS  # chosen explicitly, never registered
    samples = []
    for i in range(6):
        c = synthesize_case("ct", np.random.default_rng(i), size=48, lesion=bool(i % 2))
        samples.append(Sample(image=c.image, label=c.label, spacing=c.spacing, modality="ct", legend=c.legend,
                              meta={"class_label": c.class_label}))
    scorer = make_scorer("classifier", {"patch_size": 12, "steps": 3, "batch_size": 4, "repeats": 1},
                         {**SCORERS, **EVALUATE_SCORERS})
    res = search_policy(samples[:4], samples[4:], scorer, np.random.default_rng(0), method="randaugment",
                        randaugment_n=[1], randaugment_m=[5])
    assert res.evaluated == 1 and len(res.candidates) == 2
    assert all(np.isfinite(c["score"]) and "val_auc" in c for c in res.candidates)


# ------------------------------------------------------------------------------------------------
# U-Net


def test_unet_trains_and_predicts_any_size():
    rng = np.random.default_rng(0)
    imgs, labs = [], []
    for _ in range(8):
        lab = np.zeros((32, 32), np.uint8)
        y0, x0 = rng.integers(4, 16, 2)
        lab[y0:y0 + 10, x0:x0 + 10] = 1
        imgs.append(np.where(lab == 1, 500.0, -800.0).astype(np.float32))
        labs.append(lab)
    loop, _ = unet_settings({"epochs": 20, "lr": 1e-2})
    res = train_unet(imgs, labs, get_profile("ct"), n_classes=2, seed=1, settings=loop, width=4, levels=2,
                     val_images=imgs[:2], val_labels=labs[:2])
    assert res.epochs_run == 20 and len(res.history) == 20 and res.best_epoch >= 1
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    pred = predict_labels(res.model, [imgs[0][:30, :29]], get_profile("ct"), 2)[0]
    assert pred.shape == (30, 29)
    assert mean_dice(pred, labs[0][:30, :29]) > 0.7


# ------------------------------------------------------------------------------------------------
# task study tables, findings, figures


def hand_dice():
    rows = []
    per = {("none", "clean", "clean"): [0.9, 0.9], ("low_dose", "moderate", "input"): [0.5, 0.6],
           ("low_dose", "moderate", "bm3d"): [0.6, 0.9], ("low_dose", "moderate", "dncnn"): [0.5, 0.45]}
    for (deg, lvl, meth), vals in per.items():
        cond = "clean" if meth == "clean" else ("degraded" if meth == "input" else "restored")
        for i, v in enumerate(vals):
            for lab in (1, 2):  # two labels with the same Dice: the case mean is v
                rows.append(dict(source="phantom", modality="ct", degradation=deg, level=lvl, method=meth,
                                 condition=cond, case_id=f"c{i}", label=lab, label_name=f"l{lab}", dice=v))
    return pd.DataFrame(rows)


def test_task_summary_change_is_paired_percent():
    from mira.evaluate.task_study import dice_change_table, per_label_table, task_markdown, task_summary
    metrics = tidy({"input": [20, 20], "bm3d": [24, 24], "dncnn": [26, 26]})
    s = task_summary(hand_dice(), metrics).set_index("method")
    assert s.loc["bm3d", "dice_mean"] == pytest.approx(0.75)
    # per case: (0.6-0.5)/0.5 = +20%, (0.9-0.6)/0.6 = +50% -> mean +35%
    assert s.loc["bm3d", "dice_change_pct"] == pytest.approx(35.0)
    assert s.loc["dncnn", "dice_change_pct"] == pytest.approx((0.0 - 25.0) / 2)
    # bootstrap interval over the two cases: the per-case changes +20 % and +50 % bound the resampled means
    assert s.loc["bm3d", "dice_change_pct_lo"] == pytest.approx(20.0)
    assert s.loc["bm3d", "dice_change_pct_hi"] == pytest.approx(50.0)
    assert s.loc["bm3d", "delta_dice_vs_clean"] == pytest.approx(0.75 - 0.9)
    assert s.loc["dncnn", "psnr_gain"] == pytest.approx(6.0) and bool(s.loc["dncnn", "psnr_winner"])
    assert bool(s.loc["bm3d", "dice_winner"]) and s.loc["bm3d", "dice_clean"] == pytest.approx(0.9)
    ch = dice_change_table(task_summary(hand_dice(), metrics)).set_index("method")
    assert bool(ch.loc["bm3d", "helps_dice"]) and not bool(ch.loc["dncnn", "helps_dice"])
    labels = per_label_table(hand_dice())
    assert {"l1", "l2"} <= set(labels.columns)
    md = task_markdown(task_summary(hand_dice(), metrics), ch.reset_index(), labels)
    assert "+35.0" in md and "| P |" in md and "| D |" in md


def test_findings_and_figures_from_hand_made_tables(tmp_path):
    from mira.evaluate.task_study import dice_change_table, task_summary
    from mira.study.report import evaluation_figures as F
    from mira.study.report.findings import write_findings
    from mira.study.report.training_curves import training_curves
    metrics = pd.concat([tidy({"input": [20, 21], "bm3d": [24, 25], "dncnn": [26, 27]}),
                         tidy({"input": [22, 23], "bm3d": [26, 25]}, level="mild"),
                         tidy({"bicubic": [25, 26], "edsr": [27, 28]}, degradation="downsample", level="x2")])
    metrics.to_csv(tmp_path / "metrics.csv", index=False)
    table = agg.restoration_table(metrics)
    table.to_csv(tmp_path / "restoration.csv", index=False)
    summ = task_summary(hand_dice(), metrics)
    summ.to_csv(tmp_path / "task.csv", index=False)
    dice_change_table(summ).to_csv(tmp_path / "change.csv", index=False)
    runs = make_runs({"basic": [0.15, 0.1, 0.05, 0.02]})
    s = summarize_runs(runs)
    s.to_csv(tmp_path / "strategies.csv", index=False)
    claims_table(s).to_csv(tmp_path / "claims.csv", index=False)
    text = write_findings(tmp_path / "restoration.csv", tmp_path / "task.csv", tmp_path / "change.csv",
                          tmp_path / "claims.csv", tmp_path / "findings.md")
    assert "**dncnn**" in text and "low_dose moderate" in text
    assert "PSNR winner is also the Dice winner in 0 of 1" in text
    assert "holds" in text
    hist = pd.DataFrame([dict(modality="ct", strategy=st, size_per_class=8, seed_index=0, step=k, train_loss=1 / k,
                              eval_accuracy=0.5 + 0.01 * k, eval_auc=0.5 + 0.02 * k, eval_log_loss=0.7)
                         for st in ("none", "basic") for k in (1, 2, 3)])
    hist.to_csv(tmp_path / "hist.csv", index=False)
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_dice": [0.3, 0.6], "elapsed_s": [1, 2]}).to_csv(
        tmp_path / "unet.csv", index=False)
    pd.DataFrame({"epoch": [1, 2], "train_loss": [0.1, 0.05], "val_psnr_db": [30, 31]}).to_csv(tmp_path / "rh.csv",
                                                                                                 index=False)
    assert F.severity_curves(tmp_path / "restoration.csv", tmp_path / "sev.png", "phantom", "ct") == 2
    assert F.box_plots(tmp_path / "metrics.csv", tmp_path / "box.png", "phantom", "ct") == 2
    assert training_curves(tmp_path / "train.png", [tmp_path / "rh.csv"], [tmp_path / "unet.csv"],
                           tmp_path / "hist.csv") == 6
    assert F.strategy_figure(tmp_path / "strategies.csv", tmp_path / "hist.csv", tmp_path / "strat.png") == 1
    assert F.dice_change_figure(tmp_path / "task.csv", tmp_path / "dice.png") == 1
    assert F.severity_curves(tmp_path / "restoration.csv", tmp_path / "none.png", "phantom", "us") == 0
    for name, grid in (("sev", (2, 2)), ("box", (1, 2)), ("train", (3, 2)), ("strat", (1, 3)), ("dice", (1, 2))):
        check_png(tmp_path / f"{name}.png", grid=grid)
    check_png(tmp_path / "none.png", min_std=0.01, min_ink=0.001)  # a one-line note


# ------------------------------------------------------------------------------------------------
# end to end on the tiny config: the evaluation targets, the figures target and the HTML report

#: The jobs the figures target may run: the rules the figures profile forces (tests/test_study_plan.py
#: checks they are exactly the rules of group "figures"), plus the target itself.
FIGURE_JOBS = set(yaml.safe_load((REPO / "profiles" / "figures" / "config.yaml").read_text())["forcerun"]) | {"figures"}


def _smk(work, *args, **kwargs):
    from conftest import run_snakemake
    return run_snakemake(work, *args, cores=None, timeout=1500, **kwargs)


def _jobs_run(proc) -> set[str]:
    """Job names of the 'Job stats' table Snakemake prints."""
    out = proc.stdout + proc.stderr
    if "Job stats" not in out:
        return set()
    block = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {ln.split()[0] for ln in block.splitlines()[3:] if ln.strip()}


@pytest.fixture(scope="module")
def tiny_eval_run(tiny_run):
    return tiny_run


@pytest.fixture
def ct_run_copy(ct_run, tmp_path):
    """A private copy of the shared CT-only run, for tests that change files (other workers read the original)."""
    import shutil
    dst = tmp_path / "copy"
    shutil.copytree(ct_run, dst, symlinks=True)
    return dst


@pytest.mark.e2e
def test_tiny_run_writes_the_evaluation_tables(tiny_eval_run):
    t = tiny_eval_run / "results" / "tables" / "evaluation"
    rest = pd.read_csv(t / "restoration.csv")
    assert {"psnr_mean", "psnr_sd", "ssim_mean", "mae_mean", "n", "best"} <= set(rest.columns)
    assert rest.groupby(["modality", "degradation", "level"])["psnr_best"].any().all()
    assert "**" in (t / "restoration.md").read_text()
    assert "Super-resolution case study" in (t / "sr_study.md").read_text()
    summ = pd.read_csv(t / "strategies.csv")
    assert "none" in set(summ["strategy"]) and summ["accuracy_mean"].between(0, 1).all()
    assert "Verdict on the claims of the textbook chapter" in (t / "strategies.md").read_text()
    task = pd.read_csv(t / "task.csv")
    assert {"dice_mean", "dice_change_pct", "dice_change_pct_lo", "dice_change_pct_hi", "delta_dice_vs_clean",
            "psnr_gain"} <= set(task.columns)
    assert "Task-oriented evaluation: lesion classification" in (t / "task_classification.md").read_text()
    findings = (t / "findings.md").read_text()
    assert "Which restoration method wins" in findings and "augmentation" in findings
    assert "Degradation severity grading" in (t / "earlier_stages.md").read_text()
    # the real sources of the tiny config are degraded and restored beside the phantoms (issue 15)
    assert {"phantom", "pydicom_ct", "pydicom_us"} <= set(rest["source"])
    assert set(rest[rest["source"] == "pydicom_ct"]["domain"]) == {"real"}
    verdicts = pd.read_csv(t / "restoration_verdicts.csv")
    assert {"phantom", "real"} <= set(verdicts["domain"])
    dncnn_real = verdicts[(verdicts["method"] == "dncnn") & (verdicts["domain"] == "real")]
    assert len(dncnn_real) and dncnn_real["verdict"].str.match(r"^(helps|harmful on .+)$").all()
    assert "Does it hold on real scans?" in findings and "real scans" in findings.split("Does it hold")[1]
    targets = pd.read_csv(tiny_eval_run / "results" / "tables" / "restore_targets.csv")
    assert "real" in set(targets["domain"]) and targets["target"].str.endswith("never below").any()


@pytest.mark.e2e
def test_figures_target_redraws_figures_without_upstream_jobs(ct_run_copy, ct_config):
    """On a copy of the CT-only run (every figure rule is in it): the figures target redraws every
    figure, and a deleted one, without running any computing job."""
    run = ct_run_copy
    from conftest import REPO
    figs = sorted((run / "results" / "figures").rglob("*.png"))
    evaluate_figs = [f for f in figs if "evaluate" in f.parts]
    assert len(evaluate_figs) >= 6
    before = {f: f.stat().st_mtime_ns for f in figs}
    missing = evaluate_figs[0]
    missing.unlink()
    proc = _smk(run, "figures", "--workflow-profile", str(REPO / "profiles" / "figures"), configfile=ct_config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ran = _jobs_run(proc)
    assert ran and ran <= FIGURE_JOBS, ran - FIGURE_JOBS
    assert {"evaluate_figure_grid", "overview_figure"} <= ran
    check_png(missing)
    # figures drawn by the figure jobs are redrawn; demo and GAN figures belong to computing jobs
    redrawn = [f for f in figs if f.stat().st_mtime_ns > before[f]]
    assert {f.parent.name for f in redrawn} >= {"overview", "degrade", "restore"} and len(redrawn) >= len(evaluate_figs)


@pytest.mark.e2e
def test_snakemake_report_builds(tiny_eval_run):
    proc = _smk(tiny_eval_run, "--report", "results/report.html")
    assert proc.returncode == 0, proc.stderr[-4000:]
    html = (tiny_eval_run / "results" / "report.html").read_text(encoding="utf-8", errors="replace")
    for category in ("Findings", "Task-oriented evaluation", "Augmentation strategies", "Super-resolution"):
        assert category in html

"""Every figure of mira.study.report on tiny synthetic inputs: panels drawn, size in pixels, not blank.

Each figure has a ``build_*_figure`` returning the matplotlib Figure; the tests count its panels and
images, then write it with the module's writer and check the PNG (figure_checks).
"""
from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from figure_checks import check_figure_images, check_png, image_axes, line_axes, saved_size  # noqa: E402
from mira.dataset import Dataset, DatasetWriter  # noqa: E402
from mira.modalities import get_profile  # noqa: E402
from mira.study.report import augmentation, evaluation_figures, grids, overview, training_curves  # noqa: E402
from mira.study.report.figures import save_figure  # noqa: E402

LEGEND = {0: "background", 1: "liver", 2: "lesion"}
CT = get_profile("ct")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def organ_case(rng: np.random.Generator, size: int = 32, lesion: bool = True):
    """CT-like disc (60 HU) in air with an optional bright lesion (200 HU), and its label map."""
    yy, xx = np.mgrid[:size, :size]
    organ = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (0.35 * size) ** 2
    img = np.where(organ, 60.0, -1000.0) + rng.normal(0, 5, (size, size))
    lab = organ.astype(np.uint8)
    if lesion:
        m = (yy - size // 2 - 3) ** 2 + (xx - size // 2) ** 2 <= 4
        img[m], lab[m] = 200.0, 2
    return img.astype(np.float32), lab


def write_dataset(folder, n: int = 3, size: int = 32, split: str = "test"):
    w = DatasetWriter(folder, "phantom", "ct", split, LEGEND)
    for i in range(n):
        img, lab = organ_case(np.random.default_rng(i), size)
        w.add(f"ct_{split}_{i:04d}", img, (1.5, 1.5), label=lab, class_label=i % 2)
    w.close()
    return folder


def save_and_check(fig, path, **checks):
    """Write ``fig`` like the study does and check the PNG, its size against the figure's own layout."""
    save_figure(fig, path)
    return check_png(path, size=saved_size(fig), **checks)


# ---- dataset overview ---------------------------------------------------------------------------


def test_overview_figure_draws_image_and_label_rows(tmp_path):
    d = write_dataset(tmp_path / "test", n=3)
    cases, legend = overview.load_cases([d], n_cases=6)
    fig = overview.build_overview_figure(cases, legend, CT)
    assert np.asarray(fig.axes).size == 6  # 2 rows (image, labels) x 3 cases
    check_figure_images(fig, 6, shapes=[(32, 32)] * 6)
    overlays = [ax for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 3  # the label map over the image in the second row
    assert fig.axes[0].images[0].get_clim() == CT.metric_window
    save_and_check(fig, tmp_path / "overview.png", grid=(2, 3))
    assert overview.overview_figure([d], tmp_path / "o.png", CT, n_cases=2) == 2
    check_png(tmp_path / "o.png", approx_size=(2.2 * 2 * 110, 2.3 * 2 * 110), grid=(2, 2))


def test_overview_display_window_is_the_profiles_metric_window(tmp_path):
    d = write_dataset(tmp_path / "test", n=1)
    cases, legend = overview.load_cases([d])
    narrow = get_profile("ct", {"metric_window": [-200, 300]})
    fig = overview.build_overview_figure(cases, legend, narrow)
    assert fig.axes[0].images[0].get_clim() == (-200.0, 300.0)
    assert "window -200..300" in fig._suptitle.get_text()


def test_overview_of_an_empty_dataset_is_a_note(tmp_path):
    fig = overview.build_overview_figure([], {}, CT)
    assert not image_axes(fig) and fig.axes[0].texts[0].get_text() == "no cases"


def test_dataset_stats_units_come_from_the_profile(tmp_path):
    from mira.study.report.dataset_table import dataset_stats

    d = write_dataset(tmp_path / "test", n=2)
    df = dataset_stats([d], CT)
    assert set(df["units"]) == {"HU"} and set(df["label_name"]) == {"background", "liver", "lesion"}
    assert set(dataset_stats([d], get_profile("mri"))["units"]) == {get_profile("mri").units}


# ---- degradation grid and comparison grid -------------------------------------------------------


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """Paired folders of 2 CT cases: noise mild/severe, downsample x2; a median-filtered restoration."""
    from scipy.ndimage import median_filter

    from mira.study.degrade_stage import degrade_dataset

    tmp_path = tmp_path_factory.mktemp("paired")
    clean = write_dataset(tmp_path / "clean", n=2, size=40)
    out = {}
    for name, level in (("gaussian_noise", "mild"), ("gaussian_noise", "severe"), ("downsample", "x2")):
        out[(name, level)] = tmp_path / "deg" / name / level
        degrade_dataset(clean, out[(name, level)], degradation=name, level=level, seed=1)
    meth = tmp_path / "restored" / "median"
    pds = Dataset(out[("gaussian_noise", "severe")])
    w = DatasetWriter(meth, "phantom", "ct", "test", LEGEND)
    for rec in pds.records:
        case = pds.load(rec)
        w.add(rec.case_id, median_filter(case.image, 3), case.spacing, label=case.label)
    w.close()
    out["median"] = meth
    return out


def test_degradation_figure_has_a_row_per_degradation(paired, tmp_path):
    from mira.study.report.degradation import build_degradation_figure, degradation_figure

    folders = [paired[k] for k in (("gaussian_noise", "mild"), ("gaussian_noise", "severe"), ("downsample", "x2"))]
    fig, case = build_degradation_figure(folders)
    assert case == "ct_test_0001"  # the first lesion case
    assert np.asarray(fig.axes).size == 2 * 3  # 2 degradations x (clean + 2 levels)
    # noise: clean + mild + severe; downsample: clean + x2 (its third cell is empty)
    check_figure_images(fig, 5)
    assert [ax.get_title() for ax in fig.axes[:3]][0] == "clean"
    assert fig.axes[0].images[0].get_array().shape == (40, 40) and fig.axes[4].images[0].get_array().shape == (20, 20)
    save_and_check(fig, tmp_path / "deg.png", grid=(1, 2))
    assert degradation_figure(folders, tmp_path / "deg2.png", case_id="ct_test_0000") == "ct_test_0000"
    check_png(tmp_path / "deg2.png", approx_size=(2.1 * 3 * 110, (2.3 * 2 + 0.3) * 110))


def test_comparison_grid_panels_and_scores(paired, tmp_path):
    noisy = paired[("gaussian_noise", "severe")]
    case = grids.load_grid_case(noisy, [paired["median"], paired["median"].parent / "input"], case_id="ct_test_0000")
    assert [name for name, _ in case.panels] == ["clean", "degraded (gaussian_noise severe)", "median"]
    fig = grids.build_comparison_figure(case, CT)
    top = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(top) == 3 and all(ax.child_axes and ax.child_axes[0].images for ax in top)  # zoomed insets
    assert "dB" in top[1].get_title() and "dB" in top[2].get_title()
    diffs = [ax for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "RdBu_r"]
    assert len(diffs) == 2  # degraded - clean, median - clean
    check_figure_images(fig, 5, shapes=[(40, 40)] * 5)
    save_and_check(fig, tmp_path / "grid.png", grid=(2, 3))
    assert grids.comparison_grid(noisy, [paired["median"]], tmp_path / "g.png", CT) == "ct_test_0001"
    check_png(tmp_path / "g.png", approx_size=(2.3 * 3 * 110, 4.9 * 110), grid=(2, 3))


def test_comparison_grid_enlarges_the_low_resolution_input(paired):
    case = grids.load_grid_case(paired[("downsample", "x2")], [])
    assert case.panels[1][1].shape == case.reference.shape == (40, 40)


def test_comparison_grid_scores_with_the_profiles_window(paired):
    case = grids.load_grid_case(paired[("gaussian_noise", "severe")], [paired["median"]])
    wide = grids.build_comparison_figure(case, CT)
    narrow = grids.build_comparison_figure(case, get_profile("ct", {"metric_window": [-100, 300]}))
    t_wide = [ax.get_title() for ax in wide.axes if ax.images][1]
    t_narrow = [ax.get_title() for ax in narrow.axes if ax.images][1]
    assert t_wide != t_narrow  # PSNR/SSIM over the overridden window
    assert narrow.axes[0].images[0].get_clim() == (-100.0, 300.0)


def test_zoom_box_centres_on_the_lesion():
    lab = np.zeros((40, 40), np.uint8)
    lab[5:35, 5:35] = 1
    lab[30:33, 30:33] = 2
    y0, y1, x0, x1 = grids.zoom_box(lab, lab.shape, 0.25)
    assert (y1 - y0, x1 - x0) == (10, 10) and y0 <= 31 < y1 and x0 <= 31 < x1
    assert grids.zoom_box(None, (40, 40), 0.25) == (15, 25, 15, 25)


# ---- curves from tables -------------------------------------------------------------------------


def restoration_rows() -> pd.DataFrame:
    rows = []
    for deg, levels in (("low_dose", ("mild", "moderate", "severe")), ("downsample", ("x2", "x4"))):
        for k, lv in enumerate(levels):
            for m, gain in (("input", 0.0), ("bm3d", 3.0)):
                rows.append(dict(source="phantom", modality="ct", degradation=deg, level=lv, method=m,
                                 psnr_mean=30 - 3 * k + gain, psnr_sd=0.5, ssim_mean=0.9 - 0.1 * k, ssim_sd=0.02))
    return pd.DataFrame(rows)


def tidy_rows() -> pd.DataFrame:
    rows = []
    for deg, lv in (("low_dose", "moderate"), ("downsample", "x2")):
        for m, base in (("input", 25.0), ("bm3d", 28.0), ("dncnn", 29.0)):
            for c in range(4):
                rows.append(dict(source="phantom", modality="ct", split="test", degradation=deg, level=lv, method=m,
                                 case_id=f"c{c}", metric="psnr", value=base + 0.3 * c))
    return pd.DataFrame(rows)


def test_severity_figure_two_rows_per_degradation(tmp_path):
    fig, n = evaluation_figures.build_severity_figure(restoration_rows(), "phantom", "ct")
    assert n == 2 and len(fig.axes) == 4 and len(line_axes(fig)) == 4
    assert [ax.get_title() for ax in fig.axes[:2]] == ["low_dose", "downsample"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mild", "moderate", "severe"]
    save_and_check(fig, tmp_path / "sev.png", grid=(2, 2))
    fig, n = evaluation_figures.build_severity_figure(restoration_rows(), "phantom", "us")
    assert n == 0 and not line_axes(fig)


def test_box_figure_one_panel_per_degradation(tmp_path):
    fig, n = evaluation_figures.build_box_figure(tidy_rows(), "phantom", "ct")
    assert n == 2 and len(fig.axes) == 2
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["input", "bm3d", "dncnn"]
        dots = [ln for ln in ax.lines if ln.get_marker() == "."]
        assert len(dots) == 3 and all(len(ln.get_ydata()) == 4 for ln in dots)
    save_and_check(fig, tmp_path / "box.png", grid=(1, 2))


def strategy_tables(modalities=("ct", "mri")):
    rows, hist = [], []
    for mod in modalities:
        for strat, lift in (("none", 0.0), ("basic", 0.05)):
            for size in (4, 8, 16):
                acc = 0.6 + lift + 0.01 * size
                rows.append(dict(modality=mod, strategy=strat, size_per_class=size, accuracy_mean=acc,
                                 accuracy_lo=acc - 0.05, accuracy_hi=acc + 0.05, auc_mean=acc + 0.05,
                                 auc_lo=acc, auc_hi=acc + 0.1))
                for step in (1, 2, 3):
                    hist.append(dict(modality=mod, strategy=strat, size_per_class=size, seed_index=0, step=step,
                                     train_loss=1.0 / step, eval_accuracy=0.5 + 0.05 * step, eval_auc=0.5 + 0.1 * step))
    return pd.DataFrame(rows), pd.DataFrame(hist)


def test_strategy_figure_three_panels_per_modality(tmp_path):
    summary, hist = strategy_tables(("ct",))
    fig, n = evaluation_figures.build_strategy_figure(summary, hist)
    assert n == 1 and len(fig.axes) == 3 and len(line_axes(fig)) == 3
    assert all(len(ax.lines) >= 2 for ax in fig.axes)  # one curve per strategy in every panel
    assert fig.axes[0].collections  # confidence bands
    save_and_check(fig, tmp_path / "strat.png", grid=(1, 3))
    fig, n = evaluation_figures.build_strategy_figure(summary.iloc[:0])
    assert n == 0


def test_dice_change_figure_bars_and_scatter(tmp_path):
    task = pd.DataFrame([dict(condition="restored", modality=m, method=meth, degradation="low_dose", level=lv,
                              dice_change_pct=d, psnr_gain=g)
                         for m in ("ct", "mri") for meth, d, g in (("bm3d", 3.0, 2.0), ("dncnn", -1.0, 3.0))
                         for lv in ("mild", "severe")])
    fig, n = evaluation_figures.build_dice_change_figure(task)
    assert n == 2 and len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 4  # 2 methods x 2 modalities
    assert len(fig.axes[1].collections) == 2  # one scatter per modality
    save_and_check(fig, tmp_path / "dice.png", grid=(1, 2))
    fig, n = evaluation_figures.build_dice_change_figure(task.assign(condition="clean"))
    assert n == 0


def write_histories(tmp_path):
    paths = {}
    for arch, target in (("dncnn", "ct"), ("srcnn", "x2")):
        p = tmp_path / "models" / arch / target / "history.csv"
        p.parent.mkdir(parents=True)
        pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.1, 0.05, 0.04], "val_psnr_db": [28, 30, 31]}).to_csv(
            p, index=False)
        paths[arch] = p
    unet = tmp_path / "models" / "unet" / "ct" / "history.csv"
    unet.parent.mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_dice": [0.3, 0.6]}).to_csv(unet, index=False)
    strat = tmp_path / "hist.csv"
    strategy_tables(("ct",))[1].to_csv(strat, index=False)
    return [paths["dncnn"], paths["srcnn"]], [unet], strat


def test_restoration_training_figure(tmp_path):
    restore, _, _ = write_histories(tmp_path)
    fig = training_curves.build_training_figure(restore)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["dncnn ct", "srcnn x2"]
    save_and_check(fig, tmp_path / "train.png", grid=(1, 2))
    # a self-supervised run's history holds minus its loss, not a PSNR: no line on the PSNR axis
    (restore[0].parent / "model.json").write_text('{"score_kind": "neg_ss_loss"}', encoding="utf-8")
    fig = training_curves.build_training_figure(restore)
    assert len(fig.axes[0].lines) == 1 and len(fig.axes[1].lines) == 2


def test_training_curves_of_every_family(tmp_path):
    restore, unet, strat = write_histories(tmp_path)
    fig, n = training_curves.build_training_curves_figure(restore, unet, strat)
    assert n == 6 and len(fig.axes) == 6 and len(line_axes(fig)) == 6
    save_and_check(fig, tmp_path / "all.png", grid=(3, 2))
    assert training_curves.training_curves(tmp_path / "none.png") == 0
    check_png(tmp_path / "none.png", min_std=0.01, min_ink=0.001)


# ---- augmentation -------------------------------------------------------------------------------


def test_gan_grid_figure_real_row_and_generated_rows(tmp_path):
    rng = np.random.default_rng(0)
    fake = rng.uniform(-1000, 500, (12, 16, 16)).astype(np.float32)
    real = rng.uniform(-1000, 500, (5, 16, 16)).astype(np.float32)
    stats = dict(mmd2=0.1, mmd2_reference=0.05, mmd2_pvalue=0.2, ssim_diversity_fake=0.3, ssim_diversity_real=0.4)
    fig = augmentation.build_gan_grid_figure(fake, real, CT, stats, iterations=7)
    assert np.asarray(fig.axes).size == 3 * 8  # one real row + 12 generated in rows of 8
    check_figure_images(fig, 5 + 12, shapes=[(16, 16)] * 17)
    assert "7 iterations" in fig._suptitle.get_text()
    save_and_check(fig, tmp_path / "gan.png", grid=(2, 3))


def test_demo_figure_rows_of_panels(tmp_path):
    from mira.augment.demo import demo_panels
    from mira.augment.sample import Sample

    img, lab = organ_case(np.random.default_rng(0), 32)
    sample = Sample(img, lab, modality="ct", legend=LEGEND, meta={"case_id": "c0"})
    panels = demo_panels(sample, CT, np.random.default_rng(0))
    fig = augmentation.build_demo_figure(panels, CT, "demo")
    check_figure_images(fig, len(panels))
    assert sum(1 for ax in fig.axes if ax.collections) >= 2  # label contours on spatial panels
    save_and_check(fig, tmp_path / "demo.png", grid=(3, 3))


def test_combined_tables_and_gan_table(tmp_path):
    for i, mod in enumerate(("ct", "mri")):
        pd.DataFrame([dict(source="phantom", modality=mod, transform="rotation", variants=4, applied=4,
                           parameters="rotation_deg -10..10", value_min=-1000 + i, value_max=500,
                           value_range_kept=True, extra=1)]).to_csv(tmp_path / f"s{i}.csv", index=False)
    parts = [tmp_path / "s0.csv", tmp_path / "s1.csv"]
    n = augmentation.write_summary_table(parts, tmp_path / "s.csv", tmp_path / "s.md")
    md = (tmp_path / "s.md").read_text()
    assert n == 2 and md.startswith("### Augmentation summary") and "extra" not in md
    assert "extra" in pd.read_csv(tmp_path / "s.csv").columns
    stats = dict(mmd2=0.1, mmd2_reference=0.05)
    (tmp_path / "g.json").write_text(json.dumps(dict(modality="ct", image_size=32, iterations=3, cpu_s=1.0,
                                                     stopped_by="iterations", n_training_images=8, statistics=stats)))
    assert augmentation.write_gan_table([tmp_path / "g.json"], tmp_path / "gan.csv", tmp_path / "gan.md") == 1
    assert "mmd2" in (tmp_path / "gan.md").read_text()


# ---- the checks themselves ----------------------------------------------------------------------


def test_png_checks_catch_blank_figures_and_empty_panels(tmp_path):
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 3, figsize=(6, 2))
    for ax in axes:
        ax.axis("off")
    for ax in axes[::2]:
        ax.imshow(rng.random((8, 8)), cmap="gray")
    save_figure(fig, tmp_path / "two.png")
    check_png(tmp_path / "two.png", size=saved_size(fig), approx_size=(6 * 110, 2 * 110))
    with pytest.raises(AssertionError, match=r"nothing drawn in panel cells \[\(0, 1\)\]"):
        check_png(tmp_path / "two.png", grid=(1, 3))  # the middle panel is empty
    with pytest.raises(AssertionError, match="expected"):
        check_png(tmp_path / "two.png", size=(600, 200))
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.axis("off")
    save_figure(fig, tmp_path / "white.png")
    with pytest.raises(AssertionError, match="blank|not white"):
        check_png(tmp_path / "white.png")
    with pytest.raises(AssertionError, match="image panels"):
        check_figure_images(fig, 1)

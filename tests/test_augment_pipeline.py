"""End to end: the augmentation rules of the real Snakefile on the tiny config (CT, 2D and 3D)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from figure_checks import check_png

pytestmark = pytest.mark.e2e

TARGETS = (
    "results/figures/augment/phantom_ct_demo.png",
    "results/figures/augment/phantom3d_ct_demo.png",
    "results/tables/augment/constraints/phantom_ct.csv",
    "results/tables/augment/constraints/phantom3d_ct.csv",
    "results/augment/policy/ct.json",
    "results/figures/augment/gan_ct.png",
)


@pytest.fixture(scope="module")
def augment_run(tiny_run):
    """The augmentation outputs of the shared tiny run of the whole DAG."""
    for target in TARGETS:
        assert (tiny_run / target).exists(), target
    return tiny_run / "results"


def test_demo_figures_and_summaries(augment_run):
    for src in ("phantom", "phantom3d"):
        check_png(augment_run / "figures" / "augment" / f"{src}_ct_demo.png", grid=(3, 3))  # basic/intensity/advanced
        summary = pd.read_csv(augment_run / "tables" / "augment" / "summary" / f"{src}_ct.csv")
        inside = summary[summary["within_profile"]]
        assert inside["value_range_kept"].all() and (summary["variants"] > 0).all()
        assert inside["value_min"].min() >= -1024 and inside["value_max"].max() <= 3071


def test_constraint_tables(augment_run):
    for src in ("phantom", "phantom3d"):
        t = pd.read_csv(augment_run / "tables" / "augment" / "constraints" / f"{src}_ct.csv",
                        keep_default_na=False, na_values=[""])
        rows = t.set_index("transform")
        assert rows.loc["rotation", "dice_mean"] > 0.9 and rows["in_range"].all()
        assert rows.loc["contrast", "dice_mean"] == 1.0
        assert rows.loc["elastic_textbook", "dice_mean"] < rows.loc["elastic", "dice_mean"]


def test_policy_and_gan_outputs(augment_run):
    pol = json.loads((augment_run / "augment" / "policy" / "ct.json").read_text())
    assert pol["best"]["kind"] in ("autoaugment", "randaugment", "none")
    assert pol["baseline"]["name"] == "no_augmentation"
    side = json.loads((augment_run / "models" / "gan" / "ct" / "generator.json").read_text())
    assert side["iterations"] >= 1 and side["cpu_s"] < 30 and side["image_size"] == 64
    assert (augment_run / "models" / "gan" / "ct" / "generator.pt").stat().st_size > 1000
    assert (augment_run / "augment" / "gan" / "ct" / "samples" / "manifest.csv").is_file()
    # one row of real held-out images over rows of 8 generated ones, 1.6 x 1.7 in per panel
    check_png(augment_run / "figures" / "augment" / "gan_ct.png", approx_size=(1.6 * 8 * 110, 1.7 * 2 * 110),
              ratio=(0.6, 2.5), grid=(1, 4))

"""The pipeline's task study through the library's task_change: Dice changes with bootstrap intervals, and the
classification branch (mira.evaluate.task_classification, the evaluate_task_classification job)."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from snakemake.iocontainers import Namedlist

from mira.config import validate_config
from mira.evaluate import task_change
from mira.evaluate.cohort import PatchSpec, extract_patches
from mira.evaluate.task_change import dice_rows
from mira.evaluate.task_classification import lesion_patch_pairs, patch_sites
from mira.evaluate.task_study import CLASSIFICATION_COLUMNS, task_markdown, task_summary
from mira.modalities import get_profile
from mira.seeding import rng_for
from mira.study.jobs import Job, job_for
from mira.study.settings import Settings


def _named(*items, **named) -> Namedlist:
    out = Namedlist(list(items))
    for key, value in named.items():
        out.append(value)
        out._set_name(key, len(out) - 1)
    return out


def _disc_cases(n: int = 6, size: int = 24):
    """Label maps with one disc (label 1) and images: clean = 100 inside; degraded/restored lose the disc edge."""
    yy, xx = np.mgrid[:size, :size]
    rng = np.random.default_rng(0)
    cases = []
    for i in range(n):
        r = 4 + i % 3
        lab = ((yy - 12) ** 2 + (xx - 12) ** 2 <= r * r).astype(np.uint8)
        clean = 100.0 * lab
        degraded = clean + rng.normal(0, 60, clean.shape)
        restored = clean + rng.normal(0, 25, clean.shape)
        cases.append({"case_id": f"c{i}", "clean": clean, "degraded": degraded, "restored": {"smooth": restored},
                      "label": lab})
    return cases


def _threshold(image):
    return (np.asarray(image) > 50).astype(np.uint8)


def _pipeline_dice(cases) -> pd.DataFrame:
    """The pipeline's tidy Dice table of the cases (what evaluate_task writes), through the same dice_rows."""
    ids, labs = [c["case_id"] for c in cases], [c["label"] for c in cases]
    rows = []
    for cond, meth, imgs in (("clean", "clean", [c["clean"] for c in cases]),
                             ("degraded", "input", [c["degraded"] for c in cases]),
                             ("restored", "smooth", [c["restored"]["smooth"] for c in cases])):
        lvl, deg = ("clean", "none") if cond == "clean" else ("moderate", "gaussian_noise")
        rows += dice_rows(_threshold, imgs, labs, ids, base={"source": "phantom", "modality": "ct", "degradation": deg,
                                                              "level": lvl, "method": meth, "condition": cond})
    return pd.DataFrame(rows)


def test_pipeline_task_summary_equals_task_change_summary():
    cases = _disc_cases()
    lib = task_change(_threshold, cases, task="segmentation", n_boot=300, level=0.9, seed=11).summary
    pipe = task_summary(_pipeline_dice(cases), n_boot=300, level=0.9, seed=11).set_index("method")
    lib = lib.set_index("method")
    for meth, lmeth in (("input", "degraded"), ("smooth", "smooth")):
        for col in ("n", "dice_mean", "dice_sd", "delta_dice_vs_clean", "delta_dice_vs_clean_lo",
                    "delta_dice_vs_clean_hi"):
            assert pipe.loc[meth, col] == pytest.approx(lib.loc[lmeth, col], abs=1e-12), (meth, col)
    for col in ("", "_lo", "_hi"):
        want = lib.loc["smooth"]
        assert pipe.loc["smooth", f"dice_change_pct{col}"] == pytest.approx(want[f"delta_dice_pct_vs_degraded{col}"])
        assert pipe.loc["smooth", f"delta_dice_vs_degraded{col}"] == pytest.approx(want[f"delta_dice_vs_degraded{col}"])
    # a restoration that removes most of the noise helps: change > 0 and its interval above 0
    assert pipe.loc["smooth", "dice_change_pct_lo"] > 0 and pipe.loc["smooth", "delta_dice_vs_degraded"] > 0
    # deterministic: the same seed gives the same table, another seed other bounds
    again = task_summary(_pipeline_dice(cases), n_boot=300, level=0.9, seed=11).set_index("method")
    pd.testing.assert_frame_equal(again, pipe)
    other = task_summary(_pipeline_dice(cases), n_boot=300, level=0.9, seed=12).set_index("method")
    assert other.loc["smooth", "dice_change_pct"] == pipe.loc["smooth", "dice_change_pct"]
    assert other.loc["smooth", "dice_change_pct_lo"] != pipe.loc["smooth", "dice_change_pct_lo"]


def test_interval_columns_exist_and_bracket_the_mean():
    s = task_summary(_pipeline_dice(_disc_cases()), n_boot=200, seed=3)
    for col in ("dice_change_pct", "delta_dice_vs_degraded", "delta_dice_vs_clean"):
        assert {col, f"{col}_lo", f"{col}_hi"} <= set(s.columns)
        assert (s[f"{col}_lo"] <= s[col] + 1e-12).all() and (s[col] <= s[f"{col}_hi"] + 1e-12).all(), col
    base = s[s["condition"] == "degraded"].iloc[0]
    assert base["dice_change_pct"] == 0.0 and base["delta_dice_vs_clean"] < 0  # noise costs Dice
    md = task_markdown(s, pd.DataFrame(), pd.DataFrame())
    r = s[s["method"] == "smooth"].iloc[0]
    assert f"{r.dice_change_pct:+.1f} [{r.dice_change_pct_lo:+.1f}, {r.dice_change_pct_hi:+.1f}]" in md


def test_patches_are_cut_where_extract_patches_cuts_them():
    """patch_sites recovers the positions of mira.evaluate.cohort.extract_patches; every version is cut there."""
    prof = get_profile("ct")
    size, spec = 40, PatchSpec(8, 1.5)
    yy, xx = np.mgrid[:size, :size]
    labels, classes, images = [], [], []
    for i in range(6):
        lab = np.where((yy - 20) ** 2 + (xx - 20) ** 2 <= 144, 7, 0).astype(np.uint8)  # liver disc
        if i % 2:
            lab[(yy - 14 - i) ** 2 + (xx - 18) ** 2 <= 6] = 12  # lesion
        labels.append(lab)
        classes.append(i % 2)
        images.append(np.random.default_rng(i).normal(0, 30, (size, size)) + 10.0 * lab)
    legend = {0: "background", 7: "liver", 12: "lesion"}
    want, _, cls = extract_patches(images, labels, classes, legend, prof, rng_for(5, "sites"), spec)
    sites, cls2 = patch_sites(labels, classes, legend, prof, spec, rng_for(5, "sites"))
    assert np.array_equal(cls, cls2) and len(sites) == 6
    got, y, case = lesion_patch_pairs({"a": images, "b": [im + 1.0 for im in images]}, labels, classes, legend, prof,
                                      spec, rng_for(5, "sites"), per_image=2)
    assert np.array_equal(got["a"][:6], want)  # the first draw: exactly extract_patches' patches
    assert np.allclose(got["b"], got["a"] + 1.0)  # the same positions in every version
    assert len(y) == 12 and case[:6] == [s[0] for s in sites]


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory):
    """Synthetic CT phantoms (train/test splits) and a restored folder pair (input, gaussian) of the test split."""
    from scipy import ndimage as ndi

    from mira.dataset import Dataset, DatasetWriter
    from mira.degrade import apply
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset
    from mira.study.restore_stage import FOLDER_KEYS

    root = tmp_path_factory.mktemp("task_cls")
    for split, n in (("train", 8), ("test", 6)):
        write_synthetic_dataset(root / split, SyntheticSpec("phantom", "ct", split, n_cases=n, size=48), seed=7)
    test = Dataset(root / "test")
    prof = get_profile("ct")
    restored = []
    for method in ("input", "gaussian"):
        out = root / "restored" / method
        w = DatasetWriter(out, "phantom", "ct", "test", test.legend)
        for k, c in enumerate(test):
            noisy = apply("low_dose", c.image, "severe", rng_for(1, "noise", k), profile=prof).image
            img = noisy if method == "input" else ndi.gaussian_filter(noisy, 1.0)
            w.add(c.record.case_id, img.astype(np.float32), c.spacing, label=c.label, class_label=c.record.class_label)
        w.close()
        info = dict(zip(FOLDER_KEYS, ("phantom", "ct", "test", "low_dose", "severe", method)))
        (out / "restore.json").write_text(json.dumps(info))
        restored.append(out)
    return root, restored


def _class_job(root, restored, out, seed=7):
    cfg = {"seed": seed, "evaluate": {"task": {"bootstrap": 100, "classification": {"patches_per_image": 3}},
                                      "strategies": {"patch_size": 12, "training": {"steps": 20, "batch_size": 8}}}}
    j = Job(input=_named(train=str(root / "train"), clean=str(root / "test"), restored=[str(r) for r in restored]),
            output=_named(str(out)), wildcards=_named(source="phantom", modality="ct"), threads=1,
            log=logging.getLogger("test-task-pipeline"), settings=Settings.from_config(validate_config(cfg)),
            rule="evaluate_task_classification")
    job_for("evaluate_task_classification")(j)
    return pd.read_csv(out, dtype={"level": str})


def test_classification_job_writes_accuracy_and_auc_changes(class_folders, tmp_path):
    root, restored = class_folders
    t = _class_job(root, restored, tmp_path / "a.csv")
    assert list(t.columns) == CLASSIFICATION_COLUMNS
    assert list(t["condition"]) == ["clean", "degraded", "restored"]
    assert list(t["method"]) == ["clean", "input", "gaussian"] and t["n"].nunique() == 1 and (t["n"] > 6).all()
    assert t["accuracy"].between(0, 1).all() and t["auc"].between(0, 1).all()
    g = t.set_index("method")
    for m in ("accuracy", "auc"):
        assert np.isfinite(g.loc["gaussian", f"delta_{m}_vs_degraded"])
        assert g.loc["gaussian", f"delta_{m}_vs_degraded_lo"] <= g.loc["gaussian", f"delta_{m}_vs_degraded"]
        assert g.loc["gaussian", f"delta_{m}_vs_degraded"] <= g.loc["gaussian", f"delta_{m}_vs_degraded_hi"]
        assert g.loc["input", f"delta_{m}_vs_clean"] == pytest.approx(g.loc["input", m] - g.loc["clean", m], abs=1e-5)
    # deterministic: the same seed, the same bytes
    _class_job(root, restored, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    # the table job combines and renders it
    j = Job(input=_named(str(tmp_path / "a.csv")),
            output=_named(csv=str(tmp_path / "t.csv"), md=str(tmp_path / "t.md")), wildcards=_named(), threads=1,
            log=logging.getLogger("t"), settings=Settings.from_config(validate_config({})),
            rule="evaluate_task_classification_table")
    job_for("evaluate_task_classification_table")(j)
    md = (tmp_path / "t.md").read_text()
    assert "| phantom | ct | low_dose | severe | gaussian |" in md and "AUC [lo, hi]" in md

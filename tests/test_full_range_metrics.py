"""Full-range error figures beside the windowed PSNR/SSIM: a method that damages bone is seen.

PSNR/SSIM over the modality's fixed window clip bone and metal away; the full-range PSNR, the
unclipped MAE and the MAE above the window must not (library, per-case metrics, table, findings).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydicom.data import get_testdata_file

from mira.errors import ParameterError
from mira.ingest import load_series
from mira.metrics import full_data_range, mae, mae_above_window, mae_full_range, psnr, psnr_full_range, ssim
from mira.modalities import get_profile
from mira.synthesis import synthesize_case

CT, MRI, XRAY = get_profile("ct"), get_profile("mri"), get_profile("xray")
#: the soft-tissue window the issue names (bone above 240 HU lies outside it)
SOFT = CT.with_overrides({"metric_window": [-160.0, 240.0]})


def _ct_small() -> np.ndarray:
    """pydicom's real CT slice, through mira's ingestion, in HU."""
    return np.asarray(load_series(get_testdata_file("CT_small.dcm"), "ct")[0].image, dtype=np.float64)


def _phantom() -> np.ndarray:
    return synthesize_case("ct", np.random.default_rng(0), size=64).image.astype(np.float64)


def _wipe_bone(image: np.ndarray, profile) -> np.ndarray:
    """The bone-wiping 'method': everything above the window top set to the window top."""
    return np.minimum(image, profile.metric_window[1])


@pytest.mark.parametrize("load", [_ct_small, _phantom], ids=["CT_small", "phantom"])
@pytest.mark.parametrize("profile", [CT, SOFT], ids=["window-1000..1000", "window-160..240"])
def test_wiping_bone_is_perfect_in_the_window_but_not_over_the_full_range(load, profile):
    ref = load()
    hi = profile.metric_window[1]
    assert (ref > hi).sum() >= 10  # both images hold bone above either window's top
    wiped = _wipe_bone(ref, profile)
    noisy = ref + np.random.default_rng(1).normal(0.0, 20.0, ref.shape)  # an honest, noisy result
    # the window cannot tell the wiped image from the reference
    assert psnr(ref, wiped, profile) == float("inf")
    assert ssim(ref, wiped, profile) == pytest.approx(1.0)
    assert mae(ref, wiped, profile) == 0.0
    # the full-range figures can
    assert np.isfinite(psnr_full_range(ref, wiped, profile))
    assert mae_full_range(ref, wiped, profile) == pytest.approx(np.mean(ref - wiped))
    bone = mae_above_window(ref, wiped, profile)
    assert bone == pytest.approx(np.mean(ref[ref > hi] - hi))
    assert bone > 40.0  # HU: the bone's mean height above the window top
    # ... and rank the wiping below noise of 20 HU on bone, although the window ranks it above
    assert psnr(ref, wiped, profile) > psnr(ref, noisy, profile)
    assert bone > 2 * mae_above_window(ref, noisy, profile)
    if profile is SOFT:  # 9 % of CT_small (1.4 % of the phantom) is flattened: the full-range PSNR falls below noise
        assert psnr_full_range(ref, wiped, profile) < psnr_full_range(ref, noisy, profile)


def test_identical_images_give_inf_and_zero():
    ref = _ct_small()
    assert psnr_full_range(ref, ref.copy(), CT) == float("inf")
    assert mae_full_range(ref, ref.copy(), CT) == 0.0
    assert mae_above_window(ref, ref.copy(), CT) == 0.0


def test_full_range_units_are_native_and_the_range_is_the_physical_one():
    ref = np.zeros((32, 32))
    ref[8:24, 8:24] = 1500.0  # bone above the +1000 HU window top
    test = ref + 10.0
    # MAE in HU, unclipped; PSNR data range = CT value range width 3071 - (-1024) = 4095 HU
    assert full_data_range(CT) == 4095.0
    assert mae_full_range(ref, test, CT) == pytest.approx(10.0)
    assert psnr_full_range(ref, test, CT) == pytest.approx(10 * np.log10(4095.0**2 / 100.0), abs=1e-9)
    assert mae_above_window(ref, test, CT) == pytest.approx(10.0)
    # an error only on the bone: invisible to the window, 500 HU above it
    up = ref.copy()
    up[ref > 1000] += 500.0
    assert mae(ref, up, CT) == 0.0 and psnr(ref, up, CT) == float("inf")
    assert mae_above_window(ref, up, CT) == pytest.approx(500.0)
    assert mae_full_range(ref, up, CT) == pytest.approx(500.0 * (ref > 1000).mean())
    # masks restrict the unclipped error
    m = np.zeros_like(ref, bool)
    m[:4] = True
    assert mae_full_range(ref, up, CT, mask=m) == 0.0 and psnr_full_range(ref, up, CT, mask=m) == float("inf")


def test_full_range_equals_windowed_psnr_where_the_range_is_the_window():
    rng = np.random.default_rng(2)
    ref = rng.uniform(0.1, 0.9, (32, 32))
    test = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1)
    assert psnr_full_range(ref, test, XRAY) == pytest.approx(psnr(ref, test, XRAY), abs=1e-9)
    assert mae_full_range(ref, test, XRAY) == pytest.approx(mae(ref, test, XRAY), abs=1e-12)
    assert np.isnan(mae_above_window(ref, test, XRAY))  # nothing lies above an X-ray's 0..1 window
    # MRI's range is unbounded above: the data range covers the window and the reference
    assert full_data_range(MRI, ref) == 1.0 and full_data_range(MRI, ref * 3) == pytest.approx(3 * ref.max())
    with pytest.raises(ParameterError, match="unbounded"):
        full_data_range(MRI)


def test_bad_inputs_are_refused():
    ref = np.zeros((8, 8))
    with pytest.raises(ParameterError, match="shape"):
        psnr_full_range(ref, ref[:4], CT)
    with pytest.raises(ParameterError, match="shape"):
        mae_above_window(ref, ref[:4], CT)
    with pytest.raises(ParameterError, match="mask"):
        mae_full_range(ref, ref, CT, mask=np.ones((4, 4), bool))
    with pytest.raises(TypeError):
        psnr_full_range(ref, ref, "ct")  # a modality name would ignore the config's profile overrides


def test_restored_folder_metrics_csv_has_the_full_range_columns(tmp_path):
    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset
    from mira.study.degrade_stage import degrade_dataset
    from mira.study.report.restoration_targets import read_metrics
    from mira.study.restore_stage import METRICS, restore_folder

    write_synthetic_dataset(tmp_path / "ct", SyntheticSpec("phantom", "ct", "test", n_cases=2, size=48), seed=3)
    degrade_dataset(tmp_path / "ct", tmp_path / "deg", degradation="gaussian_noise", level="moderate", seed=3)
    restore_folder(tmp_path / "deg", tmp_path / "input", "input", SOFT)
    df = read_metrics([tmp_path / "input"])
    assert {"psnr_full_db", "mae_full", "mae_above_window"} <= set(df["metric"]) == set(METRICS)
    v = df.pivot_table(index="case_id", columns="metric", values="value")
    assert len(v) == 2 and np.isfinite(v[["psnr_full_db", "mae_full", "mae_above_window"]].to_numpy()).all()
    assert (v["mae_full"] >= v["mae"] - 1e-9).all()  # the window clip can only hide error
    # restore.json stays strict JSON (no NaN/Infinity) even where a metric has no value
    json.loads((tmp_path / "input" / "restore.json").read_text(), parse_constant=lambda c: pytest.fail(c))


def _tidy(rows: dict[str, dict[str, float]], modality: str = "ct") -> pd.DataFrame:
    """Tidy per-case rows (two cases with the given means +- 1 %) of one noise folder group."""
    out = []
    for method, metrics in rows.items():
        for case, f in (("c1", 0.99), ("c2", 1.01)):
            out += [{"source": "phantom", "modality": modality, "split": "test", "degradation": "gaussian_noise",
                     "level": "moderate", "method": method, "case_id": case, "metric": m, "value": val * f}
                    for m, val in metrics.items()]
    return pd.DataFrame(out)


def _summary_with_a_bone_wiper() -> pd.DataFrame:
    ct = _tidy({"input": {"psnr": 30.0, "ssim": 0.8, "mae": 20.0, "psnr_full_db": 36.0, "mae_full": 21.0,
                          "mae_above_window": 20.0, "wall_s": 0.0, "cpu_s": 0.0},
                "honest": {"psnr": 34.0, "ssim": 0.9, "mae": 12.0, "psnr_full_db": 40.0, "mae_full": 13.0,
                           "mae_above_window": 14.0, "wall_s": 0.1, "cpu_s": 0.1},
                "wiper": {"psnr": 35.0, "ssim": 0.92, "mae": 10.0, "psnr_full_db": 33.0, "mae_full": 25.0,
                          "mae_above_window": 300.0, "wall_s": 0.1, "cpu_s": 0.1}})
    mri = _tidy({"input": {"psnr": 25.0, "ssim": 0.7, "mae": 0.05, "psnr_full_db": 25.0, "mae_full": 0.05},
                 "honest": {"psnr": 28.0, "ssim": 0.8, "mae": 0.03, "psnr_full_db": 28.0, "mae_full": 0.03}}, "mri")
    return pd.concat([ct, mri], ignore_index=True)


def test_restoration_table_and_markdown_show_the_full_range_beside_the_window():
    from mira.study.report.restoration_tables import restoration_markdown, restoration_table

    table = restoration_table(_summary_with_a_bone_wiper())
    for col in ("psnr_full_db_mean", "mae_full_mean", "mae_above_window_mean"):
        assert col in table
    t = table.set_index(["modality", "method"])
    assert t.loc[("ct", "wiper"), "best"].startswith("psnr, ssim, mae")  # the window crowns the wiper ...
    assert t.loc[("ct", "honest"), "best"] == "psnr_full_db, mae_full, mae_above_window"  # ... the full range not
    assert "mae_above_window" not in t.loc[("mri", "honest"), "best"]  # no MRI pixel above the window: no winner
    md = restoration_markdown(table)
    assert "| PSNR window (dB) | SSIM | MAE window | PSNR full range (dB) | MAE full range | MAE > window |" in md
    wiper = next(ln for ln in md.splitlines() if "| wiper |" in ln)
    assert "300.0 ± " in wiper and "25.0 ± " in wiper
    mri_row = next(ln for ln in md.splitlines() if "| mri |" in ln and "| honest |" in ln)
    assert "| n/a |" in mri_row


def test_findings_name_a_method_whose_windowed_gain_hides_a_full_range_loss(tmp_path):
    from mira.study.report.findings import full_range_findings, write_findings
    from mira.study.report.restoration_domains import hidden_losses
    from mira.study.report.restoration_tables import restoration_table, write_csv

    table = restoration_table(_summary_with_a_bone_wiper())
    hidden = hidden_losses(table)
    assert hidden["method"].tolist() == ["wiper"]
    assert hidden["reason"].iloc[0] == "full-range MAE worse, MAE above the window worse"
    lines = full_range_findings(table)
    assert len(lines) == 1 and "**wiper**" in lines[0] and "honest" not in lines[0] and "HU" in lines[0]
    # through the CSV the pipeline writes
    write_csv(table, tmp_path / "restoration.csv")
    text = write_findings(tmp_path / "restoration.csv", None, None, None, tmp_path / "findings.md")
    assert lines[0] in text
    # without the wiper, nothing is hidden; without the full-range columns, nothing is claimed
    clean = restoration_table(_summary_with_a_bone_wiper().query("method != 'wiper'"))
    assert full_range_findings(clean)[0].startswith("- None")
    old = restoration_table(_summary_with_a_bone_wiper().query("metric in ['psnr', 'ssim', 'mae']"))
    assert full_range_findings(old)[0].startswith("- Not measured")

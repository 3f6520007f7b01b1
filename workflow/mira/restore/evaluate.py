"""Restore the degradation stage's paired folders and score every case: tidy per-case metric rows.

Input: one paired folder of :mod:`mira.degrade.pairs` (``results/degraded/<source>/<modality>/<split>/
<degradation>/<level>``). Denoisers restore the degraded images of the noise degradations; the
super-resolution methods the low-resolution images of ``downsample/x<scale>`` (output on the
reference grid). Output: one folder per method::

    results/restored/<source>/<modality>/<split>/<degradation>/<level>/<method>/
      manifest.csv, legend.json   a mira dataset of the RESTORED images (reference grid and spacing)
      images/<case>.nii.gz        restored image, float32, native units
      labels/<case>.nii.gz        the reference label map (for the task studies downstream)
      metrics.csv                 tidy rows, columns METRIC_COLUMNS
      restore.json                method, parameters, model sidecar summary, input folder, means

Restored images and labels carry the reference's geometry (origin and direction in the patient,
:mod:`mira.geometry`), so they overlay the clean and the original image in a viewer.

Metrics per case (``metric`` column): ``psnr`` (dB) and ``ssim`` over the modality's fixed window
(:mod:`mira.metrics.fidelity`, through scikit-image: CT -1000..1000 HU, i.e. data range 2000 HU; MRI,
X-ray and ultrasound 0..1), ``mae`` in native units (HU for CT) after clipping to that window,
``wall_s`` and ``cpu_s``: wall-clock and process CPU time (all threads) of the restoration call for
that image. Every method restores the first case once before timing (warm-up: imports, caches, the
first torch call), so timings compare steady-state costs.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, atomic_path, write_text
from ..dataset import DatasetWriter
from ..errors import InputError, ParameterError
from ..metrics.fidelity import mae, psnr, ssim
from . import get_method, restore

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)

METRIC_COLUMNS = ("source", "modality", "split", "degradation", "level", "method", "case_id", "metric", "value")
METRICS = ("psnr", "ssim", "mae", "wall_s", "cpu_s")
GROUP = ["source", "modality", "split", "degradation", "level", "method"]
SR_DEGRADATION = "downsample"
METRICS_CSV = "metrics.csv"
INFO_JSON = "restore.json"


def _scale_of(level: str) -> int:
    if not (level.startswith("x") and level[1:].isdigit()):
        raise ParameterError(f"super-resolution folders have levels x<scale>, got {level!r}")
    return int(level[1:])


def score(reference: np.ndarray, restored: np.ndarray, modality: str) -> dict[str, float]:
    """PSNR (dB), SSIM and MAE (native units) of ``restored`` against ``reference`` (fixed window)."""
    return {"psnr": psnr(reference, restored, modality), "ssim": ssim(reference, restored, modality),
            "mae": mae(reference, restored, modality)}


def oracle_sigma(pair, modality: str) -> float:
    """The true noise level of a pair in native units (for ``sigma_mode="oracle"``).

    MRI Rician noise: the per-channel sigma recorded in the pair's parameters; otherwise the standard
    deviation of ``degraded - reference`` (inside the scan sector for ultrasound).
    """
    if modality == "mri" and isinstance(pair.params.get("sigma"), (int, float)):
        return float(pair.params["sigma"])
    diff = np.asarray(pair.degraded, dtype=np.float64) - np.asarray(pair.reference, dtype=np.float64)
    if modality == "us":
        from .noise_models import sector_mask

        m = sector_mask(pair.degraded)
        return float(diff[m].std()) if m.sum() > 1 else float(diff.std())
    return float(diff.std())


def restore_folder(paired_dir: PathLike, out_dir: PathLike, method: str, *, model: PathLike | None = None,
                   noise_model: bool = True, params: Mapping[str, Any] | None = None,
                   sigma_mode: str = "estimate") -> pd.DataFrame:
    """Restore every case of a paired folder with ``method`` and write the restored folder (atomically).

    Parameters
    ----------
    paired_dir : path
        A paired clean/degraded folder (:mod:`mira.degrade.pairs`).
    out_dir : path
        The restored folder to write (module docstring).
    method : str
        A method of :data:`mira.restore.METHODS`; a denoiser for noise folders, a super-resolution
        method for ``downsample/x<scale>`` folders.
    model : path, optional
        Deep methods: the checkpoint. Its sidecar must not list any case of this folder (same source)
        among its training or validation cases.
    noise_model : bool
        Classical denoisers: modality-specific noise handling.
    params : mapping, optional
        Method parameters.
    sigma_mode : str
        Classical denoisers: ``"estimate"`` (blind: the wavelet MAD estimate, default) or ``"oracle"``
        (the true noise level of each pair, :func:`oracle_sigma`: a non-blind upper reference).

    Returns
    -------
    pandas.DataFrame
        The tidy metric rows (also ``metrics.csv``).
    """
    from ..degrade.pairs import PairedDataset

    m = get_method(method)
    pairs = PairedDataset(paired_dir)
    if not pairs.rows:
        raise InputError(f"{paired_dir}: no cases to restore")
    info = pairs.info
    first = pairs.rows[0]
    modality, degradation, level = first["modality"], first["degradation"], first["level"]
    source = info.get("source") or pairs.dataset.records[0].source
    split = info.get("split") or pairs.dataset.records[0].split
    is_sr = degradation == SR_DEGRADATION
    if is_sr and m.task != "sr":
        raise ParameterError(f"{paired_dir}: {method} is a denoiser; super-resolution inputs need one of the SR methods")
    if not is_sr and m.task == "sr":
        raise ParameterError(f"{paired_dir}: {method} is a super-resolution method; this folder holds {degradation} images")
    scale = _scale_of(level) if is_sr else None
    loaded = None
    if m.deep:
        from .inference import check_unseen, load_model

        if model is None:
            raise ParameterError(f"{method} needs a trained model checkpoint")
        loaded = load_model(model)
        check_unseen(loaded.meta, source, [r["case_id"] for r in pairs.rows], where=str(paired_dir))
    if sigma_mode not in ("estimate", "oracle"):
        raise ParameterError(f"sigma_mode must be 'estimate' or 'oracle', got {sigma_mode!r}")
    oracle = sigma_mode == "oracle" and m.family == "classical"
    kwargs: dict[str, Any] = dict(params or {})
    if m.family == "classical":
        kwargs["noise_model"] = noise_model
    if m.deep:
        kwargs["model"] = loaded
    rows: list[dict] = []
    with atomic_dir(out_dir) as tmp:
        writer = DatasetWriter(tmp, source, modality, split, pairs.dataset.legend)
        for k, row in enumerate(pairs.rows):
            pair = pairs.load(row)
            if oracle:
                kwargs["sigma"] = oracle_sigma(pair, modality)
            if k == 0:  # warm-up, untimed
                restore(method, pair.degraded, modality, scale=scale, **kwargs)
            t0, c0 = time.perf_counter(), time.process_time()
            out = restore(method, pair.degraded, modality, scale=scale, **kwargs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            out = out.astype(np.float32)
            if out.shape != pair.reference.shape:
                raise InputError(f"{paired_dir}: {method} produced shape {out.shape} for case {pair.case_id}, "
                                 f"reference is {pair.reference.shape}")
            writer.add(pair.case_id, out, pair.reference_spacing, label=pair.reference_label,
                       class_label=pair.class_label, geometry=pair.reference_geometry)
            values = {**score(pair.reference, out, modality), "wall_s": wall, "cpu_s": cpu}
            for metric in METRICS:
                rows.append({"source": source, "modality": modality, "split": split, "degradation": degradation,
                             "level": level, "method": method, "case_id": pair.case_id, "metric": metric,
                             "value": float(values[metric])})
            log.info("%s %s/%s %s %s: PSNR %.2f dB, SSIM %.4f, %.3f s CPU", modality, degradation, level, method,
                     pair.case_id, values["psnr"], values["ssim"], cpu)
        writer.close()
        table = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
        with atomic_path(tmp / METRICS_CSV) as t:
            table.to_csv(t, index=False)
        means = table.groupby("metric")["value"].mean().to_dict()
        meta = {"method": method, "task": m.task, "family": m.family, "summary": m.summary, "params": dict(params or {}),
                "noise_model": bool(noise_model) if m.family == "classical" else None,
                "sigma_mode": sigma_mode if m.family == "classical" else None, "input": str(paired_dir),
                "source": source, "modality": modality, "split": split, "degradation": degradation, "level": level,
                "scale": scale, "cases": len(pairs.rows), "means": {k: round(float(v), 6) for k, v in means.items()}}
        if loaded is not None:
            keep = ("architecture", "params", "scale", "modalities", "seed", "epochs", "best_val_psnr_db", "wall_time_s")
            meta["model"] = {"path": str(model), **{k: loaded.meta.get(k) for k in keep}}
        write_text(tmp / INFO_JSON, json.dumps(meta, indent=2) + "\n")
    return table


# ---- tables -------------------------------------------------------------------------------------------


def read_metrics(paths: Iterable[PathLike]) -> pd.DataFrame:
    """Concatenate ``metrics.csv`` files (or restored folders holding one)."""
    frames = []
    for p in paths:
        path = Path(p)
        path = path / METRICS_CSV if path.is_dir() else path
        if not path.is_file():
            raise InputError(f"{path}: no metrics table")
        frames.append(pd.read_csv(path, dtype={"case_id": str, "level": str}))
    if not frames:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(METRIC_COLUMNS)]


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1), median, min, max and n per method and metric."""
    g = df.groupby(GROUP + ["metric"], sort=False)["value"]
    out = g.agg(n="count", mean="mean", sd="std", median="median", min="min", max="max").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    return out


def _pm(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def summary_markdown(summary: pd.DataFrame, title: str = "Restoration") -> str:
    """Markdown table: one row per (source, modality, split, degradation, level, method)."""
    wide = summary.pivot_table(index=GROUP, columns="metric", values=["mean", "sd", "n"], sort=False)
    lines = [f"# {title}", "",
             "PSNR/SSIM over each modality's fixed window (CT -1000..1000 HU, others 0..1), MAE in native units "
             "(HU for CT), CPU seconds per image (process time, all threads); mean ± sd over n test cases.", "",
             "| source | modality | degradation | level | method | n | PSNR (dB) | SSIM | MAE | CPU s/image |",
             "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, row in wide.iterrows():
        src, mod, _split, deg, lvl, meth = key
        n = int(row[("n", "psnr")])
        lines.append(f"| {src} | {mod} | {deg} | {lvl} | {meth} | {n} | {_pm(row[('mean', 'psnr')], row[('sd', 'psnr')], 2)} | "
                     f"{_pm(row[('mean', 'ssim')], row[('sd', 'ssim')], 4)} | {_pm(row[('mean', 'mae')], row[('sd', 'mae')], 4 if mod != 'ct' else 1)} | "
                     f"{row[('mean', 'cpu_s')]:.3f} |")
    return "\n".join(lines) + "\n"


def _paired(df: pd.DataFrame, keys: dict, a: str, b: str, metric: str = "psnr") -> pd.Series:
    """Per-case ``a - b`` differences of ``metric`` within the group ``keys``."""
    sel = df
    for k, v in keys.items():
        sel = sel[sel[k] == v]
    sel = sel[sel["metric"] == metric]
    va = sel[sel["method"] == a].set_index("case_id")["value"]
    vb = sel[sel["method"] == b].set_index("case_id")["value"]
    common = va.index.intersection(vb.index)
    return (va[common] - vb[common]).astype(float)


def _mean_of(df: pd.DataFrame, keys: dict, method: str, metric: str) -> float:
    sel = df
    for k, v in {**keys, "method": method, "metric": metric}.items():
        sel = sel[sel[k] == v]
    return float(sel["value"].mean()) if len(sel) else float("nan")


TARGET_COLUMNS = ("source", "modality", "degradation", "level", "target", "measured", "sd", "n", "required", "met")


def targets_table(df: pd.DataFrame, level: str = "moderate", sr_level: str = "x2", dncnn_margin_db: float = 0.3,
                  speedup: float = 4.0, sr_margin_db: float = 1.0) -> pd.DataFrame:
    """The issue's quality and speed targets, measured on the per-case rows (paired differences).

    Rows per (source, modality, noise degradation) at ``level``: every classical denoiser vs the
    noisy input (PSNR gain > 0), DnCNN vs BM3D (PSNR gain >= ``dncnn_margin_db``) and their CPU time
    ratio (>= ``speedup``); per (source, modality) at ``sr_level``: SRCNN vs bicubic (>= ``sr_margin_db``)
    and EDSR vs SRCNN (>= 0). Differences are per case, reported as mean and sd over the cases.
    """
    rows = []
    noise = df[(df["level"] == level) & (df["degradation"] != SR_DEGRADATION)]
    for (src, mod, deg), grp in noise.groupby(["source", "modality", "degradation"], sort=False):
        keys = {}
        present = set(grp["method"])

        def add(target, diff: pd.Series, required: float, fmt_ratio=False):
            mean = float(diff.mean()) if len(diff) else float("nan")
            rows.append({"source": src, "modality": mod, "degradation": deg, "level": level, "target": target,
                         "measured": mean, "sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0, "n": int(len(diff)),
                         "required": required, "met": bool(np.isfinite(mean) and mean >= required)})

        if "input" in present:
            for meth in sorted(present):
                if get_method(meth).family == "classical":
                    d = _paired(grp, keys, meth, "input")
                    add(f"{meth} - input PSNR (dB)", d, 1e-9)
        if {"dncnn", "bm3d"} <= present:
            add("dncnn - bm3d PSNR (dB)", _paired(grp, keys, "dncnn", "bm3d"), dncnn_margin_db)
            c_b = grp[(grp["method"] == "bm3d") & (grp["metric"] == "cpu_s")].set_index("case_id")["value"]
            c_d = grp[(grp["method"] == "dncnn") & (grp["metric"] == "cpu_s")].set_index("case_id")["value"]
            ratio = pd.Series([c_b.mean() / max(c_d.mean(), 1e-9)])
            add("bm3d / dncnn CPU time", ratio, speedup)
            rows[-1]["sd"], rows[-1]["n"] = 0.0, int(min(len(c_b), len(c_d)))
    sr = df[(df["degradation"] == SR_DEGRADATION) & (df["level"] == sr_level)]
    for (src, mod), grp in sr.groupby(["source", "modality"], sort=False):
        present = set(grp["method"])
        for a, b, req in (("srcnn", "bicubic", sr_margin_db), ("edsr", "srcnn", 0.0)):
            if {a, b} <= present:
                d = _paired(grp, {}, a, b)
                mean = float(d.mean()) if len(d) else float("nan")
                rows.append({"source": src, "modality": mod, "degradation": SR_DEGRADATION, "level": sr_level,
                             "target": f"{a} - {b} PSNR (dB)", "measured": mean,
                             "sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0, "n": int(len(d)), "required": req,
                             "met": bool(np.isfinite(mean) and mean >= req)})
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS))


def targets_markdown(targets: pd.DataFrame, title: str = "Restoration targets") -> str:
    """Markdown of :func:`targets_table` with met/missed and the shortfall."""
    lines = [f"# {title}", "",
             "Per-case paired differences (mean ± sd over n test cases); CPU ratio of the mean CPU seconds per image.",
             "", "| source | modality | degradation | level | target | measured | required | met |",
             "| --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    for _, r in targets.iterrows():
        ratio = "CPU" in r["target"]
        meas = f"{r['measured']:.1f}x" if ratio else _pm(r["measured"], r["sd"], 2)
        req = f">= {r['required']:.1f}x" if ratio else ("> 0" if r["required"] < 1e-6 else f">= {r['required']:.1f}")
        met = "yes" if r["met"] else (f"no (short by {r['required'] - r['measured']:.2f}{'x' if ratio else ' dB'})")
        lines.append(f"| {r['source']} | {r['modality']} | {r['degradation']} | {r['level']} | {r['target']} | {meas} | "
                     f"{req} | {met} |")
    n_met = int(targets["met"].sum()) if len(targets) else 0
    lines += ["", f"{n_met} of {len(targets)} targets met."]
    return "\n".join(lines) + "\n"


def write_tables(metric_paths: Sequence[PathLike], out_csv: PathLike, summary_csv: PathLike, summary_md: PathLike,
                 targets_csv: PathLike, targets_md: PathLike, level: str = "moderate") -> pd.DataFrame:
    """Combine per-folder metrics into the tidy table, the summary and the targets tables."""
    df = read_metrics(metric_paths)
    summ = summarise(df)
    tg = targets_table(df, level=level)
    for frame, path in ((df, out_csv), (summ, summary_csv), (tg, targets_csv)):
        with atomic_path(path) as t:
            frame.to_csv(t, index=False)
    write_text(summary_md, summary_markdown(summ, "Restoration: per-method metrics on the degraded test sets"))
    write_text(targets_md, targets_markdown(tg, f"Restoration targets ({level} noise, SR x2)"))
    return summ

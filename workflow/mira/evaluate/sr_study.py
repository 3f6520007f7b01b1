"""The super-resolution case study: images and any set of upscalers in, per-image PSNR/SSIM and gains out.

:func:`sr_case_study` is the study from a notebook: it makes the low-resolution input of every
high-resolution image with mira's ``downsample`` degradation (:func:`mira.degrade.apply`: Gaussian
anti-aliasing, ``scale`` times fewer pixels per axis, the image cropped to a multiple of ``scale``),
upscales it with every upscaler, and scores each output against the cropped high-resolution
reference with :mod:`mira.metrics` (PSNR and SSIM over the profile's metric window, MAE in native
units), exactly as the restoration stage scores its super-resolution folders.

:func:`sr_case_table` and :func:`sr_summary` turn tidy per-case metrics (the restoration stage's
contract: ``source, modality, split, degradation, level, method, case_id, metric, value``) into the
study's tables: per image, scale and method the low-resolution baseline (bicubic upsampling to the
reference grid) against the method, with the gains; the averages per scale and method with the
fraction of images improved. The pipeline's tables (:mod:`mira.study.report.restoration_tables`)
are these same functions on the restoration stage's metrics.

An upscaler is ``callable(low_res, scale) -> high_res`` (native units in and out, output
``scale`` times larger per axis), the name of an interpolation kernel (``nearest``, ``bilinear``,
``bicubic``, ``lanczos``: :func:`mira.restore.interpolation.upscale`), a loaded mira network
(:func:`mira.restore.inference.load_model`, SRCNN or EDSR) or any ``torch.nn.Module``
(:func:`module_upscaler`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..modalities import ModalityProfile, require_profile
from .tables import DIRECTIONS, mark_best

SR_DEGRADATION = "downsample"
SR_BASELINE = "bicubic"
#: Metrics of the case table by default (the pipeline's SR tables).
SR_METRICS = ("psnr", "ssim")
CASE_KEYS = ["source", "modality", "scale", "method", "case_id"]

Upscaler = Callable[[np.ndarray, int], np.ndarray]


# ---- the tables ---------------------------------------------------------------------------------------------


def _case_columns(metrics: Sequence[str]) -> list[str]:
    return CASE_KEYS + [f"{p}_{m}" for m in metrics for p in ("lr", "sr", "gain")]


def sr_case_table(df: pd.DataFrame, baseline: str = SR_BASELINE, metrics: Sequence[str] = SR_METRICS) -> pd.DataFrame:
    """Per image, scale and SR method: the baseline's and the method's metrics and the gains (SR - LR).

    Parameters
    ----------
    df : DataFrame
        Tidy per-case metrics (``source, modality, degradation, level, method, case_id, metric,
        value``); rows of other degradations than ``downsample`` are ignored. ``scale`` is parsed from
        the level (``x2`` -> 2).
    baseline : str
        The method whose output is the low-resolution reference (``lr_*`` columns).
    metrics : sequence of str
        Metrics to tabulate (columns ``lr_<m>``, ``sr_<m>``, ``gain_<m>``).

    Images without a baseline row are left out.
    """
    metrics = list(metrics)
    sr = df[(df["degradation"] == SR_DEGRADATION) & df["metric"].isin(metrics)]
    if sr.empty:
        return pd.DataFrame(columns=_case_columns(metrics))
    wide = sr.pivot_table(index=["source", "modality", "level", "case_id", "method"], columns="metric",
                          values="value", aggfunc="mean").reset_index()
    metrics = [m for m in metrics if m in wide.columns]
    base = wide[wide["method"] == baseline].drop(columns="method").rename(columns={m: f"lr_{m}" for m in metrics})
    meth = wide[wide["method"] != baseline].rename(columns={m: f"sr_{m}" for m in metrics})
    out = meth.merge(base, on=["source", "modality", "level", "case_id"], how="inner")
    for m in metrics:
        out[f"gain_{m}"] = out[f"sr_{m}"] - out[f"lr_{m}"]
    out["scale"] = out["level"].astype(str).str.lstrip("x").astype(int)
    return out[_case_columns(metrics)].sort_values(CASE_KEYS).reset_index(drop=True)


def sr_summary(cases: pd.DataFrame) -> pd.DataFrame:
    """Averages of :func:`sr_case_table` per (source, modality, scale, method).

    For every metric ``m`` of the case table: mean and sd (ddof 1, finite values: an infinite PSNR is
    left out) of ``lr_m``, ``sr_m`` and ``gain_m``; ``n`` images; ``improved_m`` the fraction of
    images the method improves (gain > 0, or < 0 for a lower-is-better metric such as MAE); ``best``
    marks the largest mean PSNR gain (else of the first metric) per (source, modality, scale).
    """
    metrics = [c[3:] for c in cases.columns if c.startswith("lr_")]
    rows = []
    for key, g in cases.groupby(CASE_KEYS[:-1], sort=False):
        row: dict[str, Any] = dict(zip(CASE_KEYS[:-1], key))
        row["n"] = len(g)
        for m in metrics:
            for c in (f"lr_{m}", f"sr_{m}", f"gain_{m}"):
                v = g[c][np.isfinite(g[c].astype(float))]
                row[f"{c}_mean"] = float(v.mean()) if len(v) else float("nan")
                row[f"{c}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        for m in metrics:
            row[f"improved_{m}"] = float((DIRECTIONS.get(m, 1) * g[f"gain_{m}"] > 0).mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty and metrics:
        m = "psnr" if "psnr" in metrics else metrics[0]
        col = f"gain_{m}"
        out = mark_best(out.assign(metric=col, mean=out[f"{col}_mean"]), ["source", "modality", "scale"],
                        directions={col: DIRECTIONS.get(m, 1)}).drop(columns=["metric", "mean"])
    return out


# ---- upscalers ----------------------------------------------------------------------------------------------


def interpolation_upscaler(kernel: str, profile: ModalityProfile | None = None) -> Upscaler:
    """``upscaler(low_res, scale)`` of an interpolation kernel (clipped to the profile's value range).

    ``kernel``: ``nearest``, ``bilinear``, ``bicubic`` or ``lanczos``. At ``scale = 1`` it returns a
    copy of its input.
    """
    from ..restore.interpolation import KERNELS, upscale

    if kernel not in KERNELS:
        raise ParameterError(f"upscaler: unknown interpolation kernel {kernel!r} (known: {', '.join(KERNELS)})")

    def up(low_res: np.ndarray, scale: int) -> np.ndarray:
        if int(scale) == 1:
            return np.array(low_res, dtype=np.float64)
        return upscale(low_res, int(scale), kernel, profile)

    up.__name__ = f"upscale_{kernel}"
    return up


def module_upscaler(module: Any, profile: ModalityProfile) -> Upscaler:
    """``upscaler(low_res, scale)`` of a ``torch.nn.Module`` (run on its device, without gradients).

    The module gets the low-resolution image in mira's working scale (the profile's metric window
    mapped to 0..1, :func:`mira.restore.noise_models.window_normalise`) as a ``(1, 1, h, w)``
    tensor. An output ``scale`` times larger is taken as it is (EDSR-style); an output the size of
    its input means an SRCNN-style network, which is run again on the bicubic upsampling. The result
    goes back to native units, clipped to the profile's value range.
    """
    from ..restore.interpolation import upscale_bicubic
    from ..restore.noise_models import window_denormalise, window_normalise

    prof = require_profile(profile, "module_upscaler")

    def run(x: np.ndarray) -> np.ndarray:
        from ..nn.device import model_device
        from ..restore.inference import forward_unit

        return forward_unit(module, [window_normalise(x, prof)], model_device(module))[0]

    def up(low_res: np.ndarray, scale: int) -> np.ndarray:
        lr = np.asarray(low_res, dtype=np.float64)
        y = run(lr)
        if y.shape == lr.shape and int(scale) > 1:
            y = run(upscale_bicubic(lr, int(scale)))
        return prof.clip(window_denormalise(y, prof))

    return up


def as_upscaler(obj: Any, profile: ModalityProfile, name: str = "upscaler") -> Upscaler:
    """An upscaler from a kernel name, a loaded mira network, a ``torch.nn.Module`` or a callable."""
    if isinstance(obj, str):
        return interpolation_upscaler(obj, profile)
    if hasattr(obj, "architecture") and hasattr(obj, "module") and hasattr(obj, "meta"):  # mira LoadedModel
        from ..restore import restore

        return lambda lr, scale: restore(obj.architecture, lr, profile, scale=scale, model=obj)
    try:
        import torch

        if isinstance(obj, torch.nn.Module):
            return module_upscaler(obj, profile)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if callable(obj):
        return obj
    raise ParameterError(f"upscaler {name!r}: expected a callable(low_res, scale), a kernel name or a torch module, "
                         f"got {type(obj).__name__}")


# ---- the study ----------------------------------------------------------------------------------------------


@dataclass
class SRCaseStudy:
    """Result of :func:`sr_case_study`.

    Attributes
    ----------
    metrics : DataFrame
        Tidy per-image metrics of every upscaler, the baseline included (the restoration stage's
        columns: ``source, modality, split, degradation, level, method, case_id, metric, value``).
    cases : DataFrame
        :func:`sr_case_table`: per image and method, baseline and method metrics and the gains.
    summary : DataFrame
        :func:`sr_summary`: means, sds and the fraction of images improved per method.
    """

    metrics: pd.DataFrame
    cases: pd.DataFrame
    summary: pd.DataFrame


def _low_res(image: np.ndarray, profile: ModalityProfile, scale: int,
             spacing: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(low_res, reference)``: the downsample degradation's input and cropped reference."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ParameterError(f"sr_case_study takes 2D images, got shape {img.shape}")
    if scale == 1:
        return img.copy(), img
    from ..degrade import apply

    out = apply(SR_DEGRADATION, img, f"x{scale}", profile=profile, spacing=spacing)
    return out.image, out.reference


def _scores(reference: np.ndarray, output: np.ndarray, profile: ModalityProfile, metrics: Sequence[str]) -> dict:
    from .. import metrics as mm

    return {m: getattr(mm, m)(reference, output, profile) for m in metrics}


def sr_case_study(images: Sequence[np.ndarray], upscalers: Mapping[str, Any], *, profile: ModalityProfile,
                  scale: int, spacing: Sequence[float] | None = None, case_ids: Sequence[str] | None = None,
                  baseline: str = SR_BASELINE, metrics: Sequence[str] = ("psnr", "ssim", "mae"),
                  source: str = "user") -> SRCaseStudy:
    """Super-resolve the low-resolution versions of ``images`` with every upscaler and score them.

    Parameters
    ----------
    images : sequence of ndarray
        High-resolution 2D images ``(y, x)`` in the profile's native units (HU for CT).
    upscalers : mapping of str to upscaler
        Name -> ``callable(low_res, scale) -> high_res``, an interpolation kernel name, a loaded
        mira network or a ``torch.nn.Module`` (module docstring, :func:`as_upscaler`).
    profile : ModalityProfile
        The resolved modality profile (``mira.get_profile("ct")``): the degradation's clip range and
        default spacing, the metric window of PSNR/SSIM.
    scale : int
        Downsampling factor, 1..8 (1: the identity, the sanity check of a pipeline: every output
        equals its reference).
    spacing : sequence of float, optional
        Pixel spacing in mm (default: the profile's); the anti-aliasing filter is in pixels, so it
        changes nothing but the recorded geometry.
    case_ids : sequence of str, optional
        Names of the images (default ``case000``, ``case001``, ...).
    baseline : str
        The low-resolution reference method (default ``bicubic``; added as an interpolation upscaler
        when ``upscalers`` lacks it).
    metrics : sequence of str
        Functions of :mod:`mira.metrics` taking ``(reference, test, profile)``: ``psnr`` (dB),
        ``ssim`` (0..1), ``mae`` (native units).
    source : str
        Value of the ``source`` column.

    Returns
    -------
    SRCaseStudy

    Raises
    ------
    ParameterError
        A scale outside 1..8, an upscaler that is not callable or returns the wrong shape, an
        unknown metric.
    """
    prof = require_profile(profile, "sr_case_study")
    s = int(scale)
    if s != scale or not 1 <= s <= 8:
        raise ParameterError(f"sr_case_study: scale must be an integer in 1..8, got {scale!r}")
    unknown = [m for m in metrics if m not in ("psnr", "ssim", "mae")]
    if unknown:
        raise ParameterError(f"sr_case_study: unknown metrics {unknown} (known: psnr, ssim, mae)")
    ups = {baseline: as_upscaler(upscalers.get(baseline, baseline), prof, baseline)}
    ups.update({str(k): as_upscaler(v, prof, str(k)) for k, v in upscalers.items() if k != baseline})
    ids = list(case_ids) if case_ids is not None else [f"case{i:03d}" for i in range(len(images))]
    if len(ids) != len(images):
        raise ParameterError(f"sr_case_study: {len(ids)} case ids for {len(images)} images")
    rows = []
    for cid, image in zip(ids, images):
        low, ref = _low_res(image, prof, s, spacing)
        for name, up in ups.items():
            out = np.asarray(up(low, s), dtype=np.float64)
            if out.shape != ref.shape:
                raise ParameterError(f"upscaler {name!r} returned shape {out.shape} for a low-resolution image of "
                                     f"shape {low.shape} at scale {s}; expected {ref.shape}")
            for m, v in _scores(ref, out, prof, metrics).items():
                rows.append({"source": source, "modality": prof.name, "split": "test", "degradation": SR_DEGRADATION,
                             "level": f"x{s}", "method": name, "case_id": str(cid), "metric": m, "value": float(v)})
    tidy = pd.DataFrame(rows)
    cases = sr_case_table(tidy, baseline, list(metrics))
    return SRCaseStudy(metrics=tidy, cases=cases, summary=sr_summary(cases))


__all__ = ["SR_DEGRADATION", "SR_BASELINE", "SR_METRICS", "sr_case_table", "sr_summary", "interpolation_upscaler",
           "module_upscaler", "as_upscaler", "SRCaseStudy", "sr_case_study"]

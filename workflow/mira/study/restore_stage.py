"""Restore the degradation stage's paired folders and score every case: restored images, per-case metrics.

Input: one paired folder of :mod:`mira.degrade.pairs` (one source, modality, split, degradation and
level). Denoisers restore the degraded images of the noise degradations; the
super-resolution methods the low-resolution images of ``downsample/x<scale>`` (output on the
reference grid). Output: one folder per method (paths: :mod:`mira.study.plan`)::

    restored/<source>/<modality>/<split>/<degradation>/<level>/<method>/
      manifest.csv, legend.json   a mira dataset of the RESTORED images (reference grid and spacing)
      images/<case>.nii.gz        restored image, float32, native units
      labels/<case>.nii.gz        the reference label map (for the task studies downstream)
      metrics.csv                 tidy rows, columns METRIC_COLUMNS
      restore.json                method, parameters, model sidecar summary, input folder, means, and the
                                  folder's source, modality, split, degradation and level (read them
                                  with :func:`read_info`, never from the path)

Restored images and labels carry the reference's geometry (origin and direction in the patient,
:mod:`mira.geometry`), so they overlay the clean and the original image in a viewer.

Metrics per case (``metric`` column): ``psnr`` (dB) and ``ssim`` over the resolved profile's
``metric_window`` (:mod:`mira.metrics.fidelity`, through scikit-image; CT's default window
-1000..1000 HU, i.e. data range 2000 HU; MRI, X-ray and ultrasound 0..1; a ``profiles:`` override of
``metric_window`` changes them), ``mae`` in native units (HU for CT) after clipping to that window;
beside them the full-range figures, which see what the window leaves out (bone, metal):
``psnr_full_db`` (dB, unclipped, data range the width of the profile's ``value_range``: 4095 HU for
CT), ``mae_full`` (native units, unclipped) and ``mae_above_window`` (native units, on the
reference's pixels above the window top: CT bone and metal; empty (NaN) where there are none);
``wall_s`` and ``cpu_s``: wall-clock and process CPU time (all threads) of the restoration call for
that image. Every method restores the first case once before timing (warm-up: imports, caches, the
first torch call), so timings compare steady-state costs.

Tables over many folders (summary, targets) are the report's (:mod:`mira.study.report`).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_dir, atomic_path, write_text
from ..dataset import DatasetWriter
from ..errors import InputError, ParameterError
from ..metrics.fidelity import mae, mae_above_window, mae_full_range, psnr, psnr_full_range, ssim
from ..modalities import ModalityProfile
from ..restore import Method, get_method, restore
from ..restore.guard import DEFAULT_LIMIT

PathLike = str | os.PathLike
log = logging.getLogger(__name__)

METRIC_COLUMNS = ("source", "modality", "split", "degradation", "level", "method", "case_id", "metric", "value")
METRICS = ("psnr", "ssim", "mae", "psnr_full_db", "mae_full", "mae_above_window", "wall_s", "cpu_s")
GROUP = ["source", "modality", "split", "degradation", "level", "method"]
SR_DEGRADATION = "downsample"
METRICS_CSV = "metrics.csv"
INFO_JSON = "restore.json"
#: Keys of ``restore.json`` that name the restored folder (see :func:`read_info`).
FOLDER_KEYS = ("source", "modality", "split", "degradation", "level", "method")
#: Method families that take the noise model and an assumed noise level (classical and zero-shot denoisers).
SIGMA_FAMILIES = ("classical", "zero-shot")
_MODEL_KEYS = ("architecture", "params", "scale", "modalities", "seed", "epochs", "best_val_psnr_db", "wall_time_s")


@dataclass(frozen=True)
class DenoiseOptions:
    """How the classical denoisers run (config ``restore.noise_model`` and ``restore.denoise``).

    The field defaults are the library's own (those of :func:`mira.restore.restore`); the pipeline
    builds this from the settings (:meth:`from_settings`).

    Attributes
    ----------
    noise_model : bool
        Modality-specific noise handling (Rician bias, log-speckle, sector mask).
    params : mapping
        Per method, its parameters (``{"tv": {"weight": 0.05}}``); methods not listed get none.
    sigma_mode : str
        ``"estimate"`` (blind: the wavelet MAD estimate) or ``"oracle"`` (the true noise level of each
        pair, :func:`oracle_sigma`: a non-blind upper reference).
    guard : float or None
        Network denoisers: the noise-consistency guard limit (:mod:`mira.restore.guard`; None: off).
    """

    noise_model: bool = True
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sigma_mode: str = "estimate"
    guard: float | None = DEFAULT_LIMIT

    @classmethod
    def from_settings(cls, restore: Any) -> DenoiseOptions:
        """The options of the settings' ``restore`` section (``noise_model``, ``denoise.params``, ``denoise.sigma``,
        ``denoise.guard``)."""
        guard = restore.denoise.guard
        return cls(noise_model=bool(restore.noise_model), params=restore.denoise.params.to_dict(),
                   sigma_mode=str(restore.denoise.sigma), guard=None if guard is None else float(guard))

    def params_for(self, method: str) -> dict[str, Any]:
        """Parameters of ``method`` as a plain dict (empty when none are configured)."""
        return dict(self.params.get(method) or {})


@dataclass(frozen=True)
class FolderKey:
    """What one paired (and restored) folder holds: source, modality, split, degradation, level."""

    source: str
    modality: str
    split: str
    degradation: str
    level: str

    @property
    def is_sr(self) -> bool:
        return self.degradation == SR_DEGRADATION


def _scale_of(level: str) -> int:
    if not (level.startswith("x") and level[1:].isdigit()):
        raise ParameterError(f"super-resolution folders have levels x<scale>, got {level!r}")
    return int(level[1:])


def score(reference: np.ndarray, restored: np.ndarray, profile: ModalityProfile) -> dict[str, float]:
    """PSNR (dB), SSIM and MAE (native units) of ``restored`` against ``reference`` over the profile's window,
    and the full-range PSNR (dB), MAE and MAE above the window (native units; NaN without such pixels)."""
    return {"psnr": psnr(reference, restored, profile), "ssim": ssim(reference, restored, profile),
            "mae": mae(reference, restored, profile), "psnr_full_db": psnr_full_range(reference, restored, profile),
            "mae_full": mae_full_range(reference, restored, profile),
            "mae_above_window": mae_above_window(reference, restored, profile)}


def oracle_sigma(pair: Any, profile: ModalityProfile) -> float:
    """The true noise level of a pair in native units (for ``sigma_mode="oracle"``).

    MRI Rician noise: the per-channel sigma recorded in the pair's parameters; otherwise the standard
    deviation of ``degraded - reference`` (inside the scan sector for ultrasound).
    """
    if profile.name == "mri" and isinstance(pair.params.get("sigma"), (int, float)):
        return float(pair.params["sigma"])
    diff = np.asarray(pair.degraded, dtype=np.float64) - np.asarray(pair.reference, dtype=np.float64)
    if profile.name == "us":
        from ..restore.noise_models import sector_mask

        m = sector_mask(pair.degraded)
        return float(diff[m].std()) if m.sum() > 1 else float(diff.std())
    return float(diff.std())


def read_info(folder: PathLike) -> dict[str, Any]:
    """The ``restore.json`` of a restored folder (its :data:`FOLDER_KEYS`, method, parameters, means)."""
    path = Path(folder) / INFO_JSON
    if not path.is_file():
        raise InputError(f"{folder}: not a restored folder (no {INFO_JSON})")
    return json.loads(path.read_text(encoding="utf-8"))


def _open_pairs(paired_dir: PathLike, m: Method, profile: ModalityProfile) -> tuple[Any, FolderKey]:
    """The paired folder and its key; checks it has cases, the modality and the method's task."""
    from ..degrade.pairs import PairedDataset

    pairs = PairedDataset(paired_dir)
    if not pairs.rows:
        raise InputError(f"{paired_dir}: no cases to restore")
    first, info = pairs.rows[0], pairs.info
    key = FolderKey(source=info.get("source") or pairs.dataset.records[0].source, modality=first["modality"],
                    split=info.get("split") or pairs.dataset.records[0].split, degradation=first["degradation"],
                    level=first["level"])
    if key.modality != profile.name:
        raise InputError(f"{paired_dir}: a {key.modality} folder restored with the {profile.name} profile")
    if key.is_sr and m.task != "sr":
        raise ParameterError(f"{paired_dir}: {m.name} is a denoiser; super-resolution inputs need one of the SR "
                             "methods")
    if not key.is_sr and m.task == "sr":
        raise ParameterError(f"{paired_dir}: {m.name} is a super-resolution method; this folder holds "
                             f"{key.degradation} images")
    return pairs, key


def _method_kwargs(m: Method, options: DenoiseOptions, loaded: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`mira.restore.restore` for every case of the folder."""
    if options.sigma_mode not in ("estimate", "oracle"):
        raise ParameterError(f"sigma_mode must be 'estimate' or 'oracle', got {options.sigma_mode!r}")
    kwargs: dict[str, Any] = options.params_for(m.name)
    if m.family in SIGMA_FAMILIES:
        kwargs["noise_model"] = options.noise_model
    if m.deep:
        kwargs["model"] = loaded
        if m.task == "denoise":
            kwargs["guard"] = options.guard
    return kwargs


def _load_checked_model(m: Method, model: PathLike | None, pairs: Any, key: FolderKey, where: str) -> Any:
    """Deep methods: the loaded checkpoint, refused if it was trained on a case of this folder."""
    if not m.deep:
        return None
    from ..restore.inference import check_unseen, load_model

    if model is None:
        raise ParameterError(f"{m.name} needs a trained model checkpoint")
    loaded = load_model(model)
    check_unseen(loaded.meta, key.source, [r["case_id"] for r in pairs.rows], where=where)
    return loaded


def _restore_cases(pairs: Any, key: FolderKey, m: Method, profile: ModalityProfile, kwargs: dict[str, Any],
                   oracle: bool, writer: DatasetWriter, where: str) -> list[dict]:
    """Restore, time, write and score every case; the tidy metric rows."""
    scale = _scale_of(key.level) if key.is_sr else None
    rows: list[dict] = []
    for k, row in enumerate(pairs.rows):
        pair = pairs.load(row)
        if oracle:
            kwargs["sigma"] = oracle_sigma(pair, profile)
        if k == 0:  # warm-up, untimed
            restore(m.name, pair.degraded, profile, scale=scale, **kwargs)
        t0, c0 = time.perf_counter(), time.process_time()
        out = restore(m.name, pair.degraded, profile, scale=scale, **kwargs)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = out.astype(np.float32)
        if out.shape != pair.reference.shape:
            raise InputError(f"{where}: {m.name} produced shape {out.shape} for case {pair.case_id}, "
                             f"reference is {pair.reference.shape}")
        writer.add(pair.case_id, out, pair.reference_spacing, label=pair.reference_label,
                   class_label=pair.class_label, geometry=pair.reference_geometry)
        values = {**score(pair.reference, out, profile), "wall_s": wall, "cpu_s": cpu}
        for metric in METRICS:
            rows.append({**asdict(key), "method": m.name, "case_id": pair.case_id, "metric": metric,
                         "value": float(values[metric])})
        log.info("%s %s/%s %s %s: PSNR %.2f dB, SSIM %.4f, %.3f s CPU", key.modality, key.degradation, key.level,
                 m.name, pair.case_id, values["psnr"], values["ssim"], cpu)
    return rows


def _info(m: Method, options: DenoiseOptions, key: FolderKey, table: pd.DataFrame, paired_dir: PathLike,
          n_cases: int, model: PathLike | None, loaded: Any) -> dict[str, Any]:
    """The folder's ``restore.json``."""
    means = table.groupby("metric")["value"].mean().to_dict()
    classical = m.family in SIGMA_FAMILIES
    meta = {"method": m.name, "task": m.task, "family": m.family, "summary": m.summary,
            "params": options.params_for(m.name), "noise_model": bool(options.noise_model) if classical else None,
            "sigma_mode": options.sigma_mode if classical else None, "input": str(paired_dir),
            "source": key.source, "modality": key.modality, "split": key.split, "degradation": key.degradation,
            "level": key.level, "scale": _scale_of(key.level) if key.is_sr else None, "cases": n_cases,
            "means": {k: round(float(v), 6) if np.isfinite(v) else None for k, v in means.items()}}
    if loaded is not None:
        meta["model"] = {"path": str(model), **{k: loaded.meta.get(k) for k in _MODEL_KEYS}}
    return meta


def restore_folder(paired_dir: PathLike, out_dir: PathLike, method: str, profile: ModalityProfile, *,
                   model: PathLike | None = None, options: DenoiseOptions | None = None) -> pd.DataFrame:
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
    profile : ModalityProfile
        The folder's resolved modality profile (``Settings.profile(modality)``): the restoration's
        working window and the metric window of PSNR/SSIM/MAE.
    model : path, optional
        Deep methods: the checkpoint. Its sidecar must not list any case of this folder (same source)
        among its training or validation cases.
    options : DenoiseOptions, optional
        Classical denoisers: noise model, parameters, assumed noise level (default: the library's).

    Returns
    -------
    pandas.DataFrame
        The tidy metric rows (also ``metrics.csv``).
    """
    opts = options or DenoiseOptions()
    m = get_method(method)
    pairs, key = _open_pairs(paired_dir, m, profile)
    loaded = _load_checked_model(m, model, pairs, key, str(paired_dir))
    kwargs = _method_kwargs(m, opts, loaded)
    oracle = opts.sigma_mode == "oracle" and m.family in SIGMA_FAMILIES
    with atomic_dir(out_dir) as tmp:
        writer = DatasetWriter(tmp, key.source, key.modality, key.split, pairs.dataset.legend)
        rows = _restore_cases(pairs, key, m, profile, kwargs, oracle, writer, str(paired_dir))
        writer.close()
        table = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
        with atomic_path(tmp / METRICS_CSV) as t:
            table.to_csv(t, index=False)
        meta = _info(m, opts, key, table, paired_dir, len(pairs.rows), model, loaded)
        write_text(tmp / INFO_JSON, json.dumps(meta, indent=2) + "\n")
    return table


__all__ = [
    "FOLDER_KEYS",
    "GROUP",
    "INFO_JSON",
    "METRICS",
    "METRICS_CSV",
    "METRIC_COLUMNS",
    "DenoiseOptions",
    "FolderKey",
    "oracle_sigma",
    "read_info",
    "restore_folder",
    "score",
]

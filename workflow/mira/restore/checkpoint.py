"""A trained restoration network on disk: the checkpoint, its JSON sidecar and the per-epoch history.

``model.pt`` holds the state dict, ``model.json`` the sidecar (the data contract of
:mod:`mira.restore.inference`), ``history.csv`` one row per epoch (:data:`~mira.restore.settings.HISTORY_COLUMNS`).
"""
from __future__ import annotations

import csv
import io as _io
import json
import os
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np
import torch

from ..atomic import write_text, write_torch
from ..nn.fit import FitResult
from .inference import sidecar_path
from .settings import HISTORY_COLUMNS

PathLike = Union[str, os.PathLike]


def history_rows(res: FitResult) -> list[dict]:
    """The epochs of a run as rows of :data:`~mira.restore.settings.HISTORY_COLUMNS` (``history.csv``)."""
    return [{"epoch": r["epoch"], "steps": r["steps"], "lr": r["lr"], "train_loss": r["train_loss"],
             "val_psnr_db": r["score"], "elapsed_s": r["elapsed_s"], "planned_epochs": r["planned_epochs"]}
            for r in res.history]


def _json_default(obj):
    for kind, cast in ((np.integer, int), (np.floating, float), (Path, str)):
        if isinstance(obj, kind):
            return cast(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_checkpoint(module: torch.nn.Module, meta: Mapping[str, Any], path: PathLike) -> None:
    """Write the state dict to ``path`` (``.pt``) and ``meta`` to the JSON sidecar beside it, atomically.

    ``meta`` needs at least ``architecture``, ``params``, ``task`` and ``scale`` (see
    :func:`mira.restore.inference.load_model`).
    """
    out = Path(path)
    write_torch(out, {k: v.detach().cpu() for k, v in module.state_dict().items()})
    write_text(sidecar_path(out), json.dumps(dict(meta), indent=2, default=_json_default) + "\n")


def write_history(res: FitResult, path: PathLike) -> None:
    """Write ``history.csv``: one row per epoch of the run (:func:`history_rows`)."""
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
    w.writeheader()
    for row in history_rows(res):
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, buf.getvalue())


__all__ = ["history_rows", "save_checkpoint", "write_history"]

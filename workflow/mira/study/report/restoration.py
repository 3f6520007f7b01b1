"""The trained-networks table of the restoration stage (one row per network, from the JSON sidecars)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence, Union

import pandas as pd

from ...atomic import atomic_path, write_text

PathLike = Union[str, os.PathLike]

MODEL_COLUMNS = ("architecture", "target", "modalities", "scale", "parameters", "training", "sources",
                 "train_images", "epochs", "planned_epochs", "best_epoch", "best_val_psnr_db", "stopped_by",
                 "wall_time_s", "cpu_time_s", "threads", "device", "seed")


def models_table(sidecars: Sequence[PathLike]) -> pd.DataFrame:
    """One row per trained network, from the JSON sidecars."""
    rows = []
    for p in sidecars:
        meta = json.loads(Path(p).read_text(encoding="utf-8"))
        target = f"x{meta['scale']}" if meta["task"] == "sr" else "-".join(meta["modalities"])
        n_train = sum(len(d["cases"]) for d in meta["data"]["train"])
        sources = " ".join(dict.fromkeys(d.get("source", "") for d in meta["data"]["train"]))
        mode = (meta.get("training") or {}).get("mode", "supervised")
        # self-supervised runs select on minus their loss, which is not a PSNR (sidecar score_kind)
        best = meta["best_val_psnr_db"] if meta.get("score_kind", "psnr_db") == "psnr_db" else float("nan")
        rows.append({"architecture": meta["architecture"], "target": target, "modalities": " ".join(meta["modalities"]),
                     "scale": meta["scale"], "parameters": meta["parameters"], "training": mode, "sources": sources,
                     "train_images": n_train,
                     "epochs": meta["epochs"], "planned_epochs": meta["planned_epochs"],
                     "best_epoch": meta["best_epoch"],
                     "best_val_psnr_db": best, "stopped_by": meta["stopped_by"],
                     "wall_time_s": meta["wall_time_s"], "cpu_time_s": meta["cpu_time_s"], "threads": meta["threads"],
                     "device": meta["device"], "seed": meta["seed"]})
    return pd.DataFrame(rows, columns=list(MODEL_COLUMNS))


def write_models_table(sidecars: Sequence[PathLike], out_csv: PathLike, out_md: PathLike) -> pd.DataFrame:
    """Write :func:`models_table` as CSV and as a Markdown table; returns the table."""
    df = models_table(sidecars)
    with atomic_path(out_csv) as t:
        df.to_csv(t, index=False)
    lines = ["# Restoration networks trained in the pipeline", "",
             "Training split only (validation split for the per-epoch PSNR); weights of the best validation epoch. "
             "Sources: the training sources (phantom, real scans or both); training: supervised or a self-supervised "
             "mode (its validation score is not a PSNR: n/a).", "",
             "| network | target | modalities | training | sources | parameters | train images | epochs (planned) | "
             "best epoch | best val PSNR (dB) | stopped by | wall s | CPU s |",
             "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for _, r in df.iterrows():
        lines.append(f"| {r['architecture']} | {r['target']} | {r['modalities']} | {r['training']} | {r['sources']} | "
                     f"{r['parameters']:,} | {r['train_images']} | "
                     f"{r['epochs']} ({r['planned_epochs']}) | {r['best_epoch']} | {r['best_val_psnr_db']:.2f} | "
                     f"{r['stopped_by']} | {r['wall_time_s']:.0f} | {r['cpu_time_s']:.0f} |")
    if df.empty:
        lines.append("| (none) | | | | | | | | | | | | |")
    write_text(out_md, "\n".join(lines) + "\n")
    return df

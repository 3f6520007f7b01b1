"""Figures and the trained-models table of the restoration stage."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_text
from ..errors import InputError

PathLike = Union[str, os.PathLike]

MODEL_COLUMNS = ("architecture", "target", "modalities", "scale", "parameters", "train_images", "epochs",
                 "planned_epochs", "best_epoch", "best_val_psnr_db", "stopped_by", "wall_time_s", "cpu_time_s", "threads",
                 "device", "seed")


def models_table(sidecars: Sequence[PathLike]) -> pd.DataFrame:
    """One row per trained network, from the JSON sidecars."""
    rows = []
    for p in sidecars:
        meta = json.loads(Path(p).read_text(encoding="utf-8"))
        target = f"x{meta['scale']}" if meta["task"] == "sr" else "-".join(meta["modalities"])
        n_train = sum(len(d["cases"]) for d in meta["data"]["train"])
        rows.append({"architecture": meta["architecture"], "target": target, "modalities": " ".join(meta["modalities"]),
                     "scale": meta["scale"], "parameters": meta["parameters"], "train_images": n_train,
                     "epochs": meta["epochs"], "planned_epochs": meta["planned_epochs"], "best_epoch": meta["best_epoch"],
                     "best_val_psnr_db": meta["best_val_psnr_db"], "stopped_by": meta["stopped_by"],
                     "wall_time_s": meta["wall_time_s"], "cpu_time_s": meta["cpu_time_s"], "threads": meta["threads"],
                     "device": meta["device"], "seed": meta["seed"]})
    return pd.DataFrame(rows, columns=list(MODEL_COLUMNS))


def write_models_table(sidecars: Sequence[PathLike], out_csv: PathLike, out_md: PathLike) -> pd.DataFrame:
    df = models_table(sidecars)
    with atomic_path(out_csv) as t:
        df.to_csv(t, index=False)
    lines = ["# Restoration networks trained in the pipeline", "",
             "Training split only (validation split for the per-epoch PSNR); weights of the best validation epoch.", "",
             "| network | target | modalities | parameters | train images | epochs (planned) | best epoch | "
             "best val PSNR (dB) | stopped by | wall s | CPU s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for _, r in df.iterrows():
        lines.append(f"| {r['architecture']} | {r['target']} | {r['modalities']} | {r['parameters']:,} | {r['train_images']} | "
                     f"{r['epochs']} ({r['planned_epochs']}) | {r['best_epoch']} | {r['best_val_psnr_db']:.2f} | "
                     f"{r['stopped_by']} | {r['wall_time_s']:.0f} | {r['cpu_time_s']:.0f} |")
    if df.empty:
        lines.append("| (none) | | | | | | | | | | |")
    write_text(out_md, "\n".join(lines) + "\n")
    return df


def _folder_parts(folder: PathLike) -> tuple[str, str, str]:
    p = Path(folder)
    return p.parent.parent.name, p.parent.name, p.name  # degradation, level, method


def restoration_figure(restored: Sequence[PathLike], paired: Sequence[PathLike], out_png: PathLike,
                       case_id: str | None = None) -> str:
    """Grid for one (source, modality): a row per paired folder (clean, degraded input, each method).

    Each panel is titled with its PSNR against the reference; display window = the modality's
    metric window. Returns the case id drawn.
    """
    import matplotlib.pyplot as plt

    from ..dataset import Dataset
    from ..degrade.pairs import PairedDataset
    from ..modalities import get_profile
    from ..report.figures import display_slice, save_figure
    from .evaluate import score

    rows = []
    modality = ""
    for pdir in paired:
        pds = PairedDataset(pdir)
        modality = pds.rows[0]["modality"] if pds.rows else modality
        if not pds.rows:
            raise InputError(f"{pdir}: no cases")
        ids = [r["case_id"] for r in pds.rows]
        cid = case_id if case_id else ids[0]
        if cid not in ids:
            raise InputError(f"{pdir}: no case {cid!r} (figure_case)")
        case_id = cid
        pair = pds.load(next(r for r in pds.rows if r["case_id"] == cid))
        key = Path(pdir).parts[-5:]  # source, modality, split, degradation, level
        meths = [r for r in restored if Path(r).parent.parts[-5:] == key and Path(r).name != "input"]
        rows.append((pdir, pair, meths))
    if not rows:
        raise InputError("restoration figure: no folders to draw")
    ncol = 2 + max(len(m) for _, _, m in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.9 * ncol, 2.5 * len(rows)), squeeze=False)
    vmin, vmax = get_profile(modality).metric_window
    for i, (pdir, pair, meths) in enumerate(rows):
        deg, lvl = Path(pdir).parent.name, Path(pdir).name
        panels = [("reference", pair.reference, None), (f"{deg} {lvl}", pair.degraded, None)]
        for mdir in meths:
            ds = Dataset(mdir)
            rec = next(r for r in ds.records if r.case_id == case_id)
            img = ds.load(rec).image
            panels.append((_folder_parts(mdir)[2], img, score(pair.reference, img, modality)))
        if pair.degraded.shape == pair.reference.shape:
            panels[1] = (panels[1][0], pair.degraded, score(pair.reference, pair.degraded, modality))
        for j in range(ncol):
            ax = axes[i, j]
            ax.axis("off")
            if j >= len(panels):
                continue
            name, img, sc = panels[j]
            ax.imshow(display_slice(img), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(name if sc is None else f"{name}\n{sc['psnr']:.2f} dB / {sc['ssim']:.3f}", fontsize=7)
    fig.suptitle(f"{modality}: case {case_id} (PSNR / SSIM vs reference, window {vmin:g}..{vmax:g})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, out_png)
    return str(case_id)


def training_figure(histories: Sequence[PathLike], out_png: PathLike) -> int:
    """Validation PSNR and training loss per epoch of every network (one line each)."""
    import matplotlib.pyplot as plt

    from ..report.figures import save_figure

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for h in histories:
        p = Path(h)
        df = pd.read_csv(p)
        label = f"{p.parent.parent.name} {p.parent.name}"
        # per epoch, not per wall second: the figure is then the same bytes on every machine
        a1.plot(df["epoch"], df["val_psnr_db"], marker=".", label=label)
        a2.semilogy(df["epoch"], df["train_loss"], label=label)
    a1.set_xlabel("epoch")
    a1.set_ylabel("validation PSNR (dB)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("training loss")
    if histories:
        a1.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save_figure(fig, out_png)
    return len(histories)

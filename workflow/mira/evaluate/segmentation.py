"""A small U-Net for the task-oriented evaluation: training on clean phantoms, inference, Dice.

The segmentation network is the *instrument* of the task study (:mod:`mira.evaluate.task_study`):
trained once per modality on the clean training phantoms and their label maps, then applied
unchanged to clean, degraded and restored test images. A restoration helps the downstream task if
the Dice of its output is closer to the Dice on clean images than the Dice of the degraded input.

* **Network** (:class:`UNet`, Ronneberger et al. 2015, scaled down): ``levels`` resolution levels
  of two 3x3 conv-BN-ReLU layers (``width``, ``2 width``, ... channels), max-pool down, bilinear
  up-sampling and skip concatenation, a 1x1 head with one logit per label value. Inputs whose
  size is not a multiple of ``2**levels`` are padded (edge values) and the output cropped.
* **Input**: the metric window of the modality's profile mapped to 0..1 (CT -1000..1000 HU by
  default), clipped to -0.5..1.5, the same scale the restoration networks use. The caller passes
  the resolved profile (with the config's ``profiles:`` overrides).
* **Training** (:func:`train_unet`, through :func:`mira.nn.fit.fit`): cross-entropy plus soft Dice
  (mean over the label values present in the batch), Adam, whole images, ``epochs`` passes (or
  until ``time_budget_s``, checked after each epoch), random horizontal flips of image and label
  (``flip: true``). Validation Dice (mean over labels present) per epoch; the weights of the best
  validation epoch are kept. The network runs on the GPU when torch sees one.
* **Dice** (:func:`dice_per_label`): ``2 |P & R| / (|P| + |R|)`` per label value; NaN when the
  label is absent from both prediction and reference (left out of means), 0 when it is in only one.

References
----------
Ronneberger O, Fischer P, Brox T (2015) U-Net: convolutional networks for biomedical image
segmentation. MICCAI, LNCS 9351:234-241.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from ..atomic import atomic_path, write_text, write_torch
from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile, require_profile
from ..nn.settings import TrainSettings

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# Dice


def dice_per_label(pred: np.ndarray, ref: np.ndarray, labels: Sequence[int] | None = None) -> dict[int, float]:
    """Dice of every label value (default: every non-zero value in ``pred`` or ``ref``).

    NaN when a label is absent from both maps; 0 when present in only one.
    """
    p, r = np.asarray(pred), np.asarray(ref)
    if p.shape != r.shape:
        raise ParameterError(f"prediction shape {p.shape} != reference shape {r.shape}")
    if labels is None:
        labels = sorted(int(v) for v in np.union1d(np.unique(p), np.unique(r)) if v != 0)
    out = {}
    for lab in labels:
        a, b = p == lab, r == lab
        den = int(a.sum()) + int(b.sum())
        out[int(lab)] = float("nan") if den == 0 else 2.0 * float(np.logical_and(a, b).sum()) / den
    return out


def mean_dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean Dice over the non-zero labels of the reference (NaN if it has none)."""
    labs = [int(v) for v in np.unique(ref) if v != 0]
    vals = [v for v in dice_per_label(pred, ref, labs).values() if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


# ------------------------------------------------------------------------------------------------
# network


def _block(cin: int, cout: int):
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def build_unet(n_classes: int, width: int = 16, levels: int = 3):
    """The small U-Net (module docstring) as a ``torch.nn.Module``."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    if n_classes < 2 or width < 1 or not 1 <= levels <= 5:
        raise ParameterError("U-Net needs n_classes >= 2, width >= 1, 1 <= levels <= 5 "
                             f"(got {n_classes}, {width}, {levels})")

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [width * 2 ** k for k in range(levels + 1)]
            self.levels = levels
            self.down = nn.ModuleList([_block(1 if k == 0 else chans[k - 1], chans[k]) for k in range(levels)])
            self.bottom = _block(chans[levels - 1], chans[levels])
            self.up = nn.ModuleList([_block(chans[k + 1] + chans[k], chans[k]) for k in reversed(range(levels))])
            self.head = nn.Conv2d(chans[0], n_classes, 1)

        def forward(self, x):
            skips = []
            for blk in self.down:
                x = blk(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottom(x)
            for blk, skip in zip(self.up, reversed(skips)):
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
                x = blk(torch.cat([x, skip], dim=1))
            return self.head(x)

    return UNet()


def to_unit(image: np.ndarray, profile: ModalityProfile) -> np.ndarray:
    """Native units -> the network's input scale (the profile's metric window to 0..1, clipped to -0.5..1.5)."""
    lo, hi = require_profile(profile, "to_unit").metric_window
    return np.clip((np.asarray(image, np.float32) - lo) / (hi - lo), -0.5, 1.5).astype(np.float32)


def _pad(x: np.ndarray, mult: int) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % mult, (-w) % mult
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], mode="edge")
    return x, (h, w)


# ------------------------------------------------------------------------------------------------
# settings, training and inference

#: Keys of ``evaluate.segmentation`` that set the network and its training, in the sidecar's order.
SEGMENTATION_KEYS: tuple[str, ...] = ("width", "levels", "epochs", "batch_size", "lr", "time_budget_s", "flip")
#: Values of keys a library caller leaves out (the workflow fills every key from the schema).
LIBRARY_DEFAULTS: dict[str, Any] = {"width": 16, "levels": 3, "epochs": 40, "batch_size": 4, "lr": 2e-3,
                                    "time_budget_s": 0.0, "flip": True}


def unet_settings(m: Mapping[str, Any] | None = None) -> tuple[TrainSettings, dict[str, Any]]:
    """The loop settings and the full record (:data:`SEGMENTATION_KEYS`) of an ``evaluate.segmentation`` mapping.

    The loop: ``epochs``, ``batch_size``, ``lr`` and the wall-clock ``time_budget_s`` checked after
    each epoch (epochs are always whole). The record's ``width``, ``levels`` and ``flip`` set the
    network and the augmentation.
    """
    given = dict(m or {})
    bad = sorted(set(given) - set(SEGMENTATION_KEYS))
    if bad:
        raise ParameterError(f"unknown U-Net settings {bad} (known: {sorted(SEGMENTATION_KEYS)})")
    rec = {k: given.get(k, LIBRARY_DEFAULTS[k]) for k in SEGMENTATION_KEYS}
    loop = TrainSettings(epochs=rec["epochs"], batch_size=rec["batch_size"], lr=rec["lr"],
                         budget_s=rec["time_budget_s"], budget_check="epoch", budget_clock="wall")
    return loop, rec


@dataclass
class TrainedUNet:
    model: Any
    n_classes: int
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_dice: float = float("nan")
    epochs_run: int = 0
    wall_s: float = 0.0
    stopped_by: str = "epochs"


def _soft_dice_loss(logits, target, n_classes: int):
    import torch
    import torch.nn.functional as F

    prob = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target, n_classes).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    den = prob.sum(dims) + onehot.sum(dims)
    present = onehot.sum(dims) > 0
    dice = (2 * inter + 1e-5) / (den + 1e-5)
    return 1.0 - dice[present].mean() if present.any() else torch.zeros((), dtype=logits.dtype, device=logits.device)


def predict_labels(model, images: Sequence[np.ndarray], profile: ModalityProfile, levels: int | None = None,
                   batch: int = 8) -> list[np.ndarray]:
    """Label maps (argmax) of 2D images in native units (3D: slice by slice), on the network's device."""
    import torch

    from ..nn.device import model_device

    mult = 2 ** int(levels if levels is not None else getattr(model, "levels", 3))
    device = model_device(model)
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for img in images:
            arr = np.asarray(img)
            slices = [arr] if arr.ndim == 2 else list(arr)
            preds = []
            for k in range(0, len(slices), batch):
                chunk = np.stack([to_unit(s, profile) for s in slices[k:k + batch]])[:, None]
                x, (h, w) = _pad(chunk, mult)
                logits = model(torch.from_numpy(np.ascontiguousarray(x)).to(device))
                preds.append(logits.argmax(1).cpu().numpy()[:, :h, :w].astype(np.uint8))
            p = np.concatenate(preds)
            out.append(p[0] if arr.ndim == 2 else p)
    return out


def _flip_batches(x_all: np.ndarray, y_all: np.ndarray, batch_size: int, flip: bool, rng: np.random.Generator):
    """``batches(epoch)`` of :func:`mira.nn.fit.fit`: a permutation per epoch, random left-right flips."""
    def batches(epoch: int):
        order = rng.permutation(len(x_all))
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            xb, yb = x_all[idx].copy(), y_all[idx].copy()
            if flip:
                fl = rng.random(len(idx)) < 0.5
                xb[fl], yb[fl] = xb[fl][..., ::-1], yb[fl][..., ::-1]
            yield np.ascontiguousarray(xb), np.ascontiguousarray(yb)

    return batches


def train_unet(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], profile: ModalityProfile, *,
               n_classes: int, seed: int, settings: TrainSettings | None = None, width: int = 16, levels: int = 3,
               flip: bool = True, val_images: Sequence[np.ndarray] = (),
               val_labels: Sequence[np.ndarray] = ()) -> TrainedUNet:
    """Train the U-Net on 2D images (native units) and label maps (module docstring).

    ``settings`` is the loop (:func:`unet_settings`; default: 40 epochs of batches of 4, lr 2e-3);
    ``seed`` seeds the initialisation, the batch order and the flips. ``width``, ``levels``: the
    network; ``flip``: random left-right flips.
    """
    import torch.nn.functional as F

    from ..nn.fit import fit

    st = (settings or unet_settings()[0]).replace(seed=int(seed) % (2 ** 63), deterministic=True)
    if not len(images) or len(images) != len(labels):
        raise ParameterError(f"need as many label maps as images (got {len(images)} and {len(labels)})")
    shapes = {np.asarray(i).shape for i in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ParameterError(f"U-Net training takes 2D images of one shape, got {sorted(shapes)}")
    mult = 2 ** int(levels)
    x_all, _ = _pad(np.stack([to_unit(i, profile) for i in images])[:, None], mult)
    y_all, _ = _pad(np.stack([np.asarray(lab, np.int64) for lab in labels]), mult)
    if int(y_all.max()) >= n_classes:
        raise ParameterError(f"label value {int(y_all.max())} >= n_classes {n_classes}")

    def loss(model, batch):
        xt, yt = batch
        logits = model(xt)
        return F.cross_entropy(logits, yt) + _soft_dice_loss(logits, yt, n_classes)

    def validate(model, epoch: int) -> float:
        preds = predict_labels(model, val_images, profile, levels)
        return float(np.nanmean([mean_dice(p, np.asarray(r)) for p, r in zip(preds, val_labels)]))

    fr = fit(lambda: build_unet(n_classes, width, levels), _flip_batches(x_all, y_all, st.batch_size, flip,
                                                                         np.random.default_rng(seed)),
             st, loss=loss, validate=validate if len(val_images) else None, score_name="val Dice", logger=log,
             label=f"U-Net {profile.name} ")
    history = [{"epoch": r["epoch"], "train_loss": r["train_loss"], "elapsed_s": r["elapsed_s"],
                **({"val_dice": r["score"]} if r["score"] is not None else {})} for r in fr.history]
    found = len(val_images) and np.isfinite(fr.best_score)
    return TrainedUNet(model=fr.model, n_classes=n_classes, history=history, best_epoch=fr.best_epoch,
                       best_val_dice=fr.best_score if found else float("nan"), epochs_run=fr.epochs,
                       wall_s=fr.wall_time_s, stopped_by="time_budget" if fr.stopped_by == "budget" else "epochs")


# ------------------------------------------------------------------------------------------------
# the rule's entry point and checkpoint I/O


def train_segmentation(train_dir: PathLike, val_dir: PathLike, *, profile: ModalityProfile, seed: int,
                       out_model: PathLike, out_sidecar: PathLike, out_history: PathLike,
                       settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train the U-Net on a dataset folder's images and label maps; write weights, sidecar and history.

    ``profile`` is the resolved profile of the folders' modality (input window); ``settings`` the
    keys of :data:`SEGMENTATION_KEYS` (config ``evaluate.segmentation``).
    """
    import pandas as pd

    from ..dataset import Dataset
    from ..seeding import derive_seed

    modality = require_profile(profile, "train_segmentation").name
    loop, rec = unet_settings(settings)
    tr, va = Dataset(train_dir), Dataset(val_dir)
    cases = [c for c in tr if c.label is not None]
    vcases = [c for c in va if c.label is not None]
    if not cases:
        raise InputError(f"{train_dir}: no labelled cases to train the segmentation network on")
    if any(c.image.ndim != 2 for c in cases):
        raise InputError(f"{train_dir}: the task study's U-Net trains on 2D images")
    legend = {**tr.legend, **va.legend}
    n_classes = int(max([max(legend, default=0)] + [int(c.label.max()) for c in cases])) + 1
    if rec["flip"] and any(w in str(n).lower() for n in legend.values() for w in ("left", "right")):
        rec["flip"] = False  # a flip would swap left/right structures
    tseed = derive_seed(seed, "evaluate-unet", modality)
    res = train_unet([c.image for c in cases], [c.label for c in cases], profile, n_classes=n_classes, seed=tseed,
                     settings=loop, width=rec["width"], levels=rec["levels"], flip=rec["flip"],
                     val_images=[c.image for c in vcases], val_labels=[c.label for c in vcases])
    write_torch(out_model, res.model.cpu().state_dict())
    sidecar = {
        "architecture": "unet", "reference": "Ronneberger et al. 2015 (scaled down)", "modality": modality,
        "params": {"n_classes": n_classes, "width": rec["width"], "levels": rec["levels"]},
        "legend": {str(k): v for k, v in sorted(legend.items())}, "input": "metric window -> 0..1, clipped -0.5..1.5",
        "settings": rec, "seed": int(tseed),
        "data": {"train": {"folder": str(train_dir), "cases": [c.record.case_id for c in cases]},
                 "val": {"folder": str(val_dir), "cases": [c.record.case_id for c in vcases]}},
        "epochs": res.epochs_run, "best_epoch": res.best_epoch, "stopped_by": res.stopped_by,
        "wall_s": round(res.wall_s, 3),
        "final_val_dice": None if not np.isfinite(res.best_val_dice) else round(res.best_val_dice, 4),
    }
    write_text(out_sidecar, json.dumps(sidecar, indent=1) + "\n")
    with atomic_path(out_history) as tmp:
        pd.DataFrame(res.history).to_csv(tmp, index=False, float_format="%.6g")
    return {"epochs": res.epochs_run, "best_val_dice": sidecar["final_val_dice"], "wall_s": sidecar["wall_s"]}


@dataclass
class LoadedUNet:
    """A trained U-Net with its sidecar and the profile of its modality (the input window)."""

    model: Any
    meta: dict
    profile: ModalityProfile

    @property
    def modality(self) -> str:
        return self.meta["modality"]

    @property
    def legend(self) -> dict[int, str]:
        return {int(k): v for k, v in self.meta.get("legend", {}).items()}

    def segment(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return predict_labels(self.model, images, self.profile, self.meta["params"]["levels"])


def load_unet(model_path: PathLike, sidecar_path: PathLike | None = None, *, profile: ModalityProfile,
              device: str = "auto") -> LoadedUNet:
    """Load a U-Net checkpoint (``.pt`` state dict) and its JSON sidecar (default: same name, ``.json``).

    ``profile`` is the resolved profile of the network's modality (its metric window is the input
    scale); the network goes to ``device`` (:func:`mira.nn.device.resolve_device`).
    """
    import torch

    from ..nn.device import resolve_device

    p = Path(model_path)
    side = Path(sidecar_path) if sidecar_path is not None else p.with_suffix(".json")
    if not p.is_file() or not side.is_file():
        raise InputError(f"{p}: U-Net checkpoint or its sidecar {side.name} is missing")
    meta = json.loads(side.read_text(encoding="utf-8"))
    prof = require_profile(profile, "load_unet")
    if meta.get("modality") not in (None, prof.name):
        raise ParameterError(f"{p}: the U-Net was trained on {meta['modality']}, not {prof.name}")
    prm = meta["params"]
    model = build_unet(int(prm["n_classes"]), int(prm["width"]), int(prm["levels"]))
    try:
        model.load_state_dict(torch.load(p, map_location="cpu", weights_only=True))
    except (RuntimeError, EOFError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc
        raise InputError(f"{p}: cannot load the U-Net weights ({msg})") from None
    model.to(resolve_device(device)).eval()
    return LoadedUNet(model=model, meta=meta, profile=prof)


__all__ = ["dice_per_label", "mean_dice", "build_unet", "to_unit", "unet_settings", "SEGMENTATION_KEYS", "TrainedUNet",
           "train_unet", "predict_labels", "train_segmentation", "LoadedUNet", "load_unet"]

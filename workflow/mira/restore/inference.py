"""Apply a trained restoration network: load a checkpoint with its JSON sidecar, run it on images.

A checkpoint is two files (the data contract of :mod:`mira.restore.training`)::

    <dir>/model.pt     the network's state dict (torch.save), loaded with weights_only=True
    <dir>/model.json   the sidecar: architecture and its parameters, task, scale, modalities,
                       training data (case ids per dataset), seed, epochs, wall time, best val PSNR

Images go in and come out in native units; inside, they are window-normalised per modality
(:func:`mira.restore.noise_models.window_normalise`). SRCNN receives the bicubic upsampling of the
low-resolution image (:func:`mira.restore.interpolation.upscale_bicubic`), EDSR the low-resolution
image itself. Volumes are processed slice by slice. The model runs on the GPU when
``torch.cuda.is_available()`` and ``device="auto"``, otherwise on the CPU
(:func:`mira.nn.device.resolve_device`; ``"cuda"`` without a CUDA device is refused).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
import torch

from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile, require_profile
from ..nn.device import resolve_device
from .guard import DEFAULT_LIMIT, NOISE_LEVELS, guard_residual
from .interpolation import check_scale, upscale_bicubic
from .models import ARCHITECTURES, build_model
from .noise_models import window_denormalise, window_normalise
from .tiling import forward_tiled, needs_tiling

PathLike = Union[str, os.PathLike]


def sidecar_path(model_path: PathLike) -> Path:
    """The JSON sidecar beside a checkpoint: ``model.pt`` -> ``model.json``."""
    return Path(model_path).with_suffix(".json")


@dataclass
class LoadedModel:
    """A network in eval mode with its sidecar metadata."""

    module: torch.nn.Module
    meta: dict
    path: Path
    device: torch.device

    @property
    def architecture(self) -> str:
        return self.meta["architecture"]

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def scale(self) -> int:
        return int(self.meta.get("scale", 1))

    @property
    def modalities(self) -> list[str]:
        return list(self.meta.get("modalities", []))


def load_model(path: PathLike, device: str | None = "auto") -> LoadedModel:
    """Load a checkpoint (``.pt`` state dict + ``.json`` sidecar) for inference.

    Raises
    ------
    InputError
        The checkpoint or its sidecar is missing or does not match the architecture.
    """
    p = Path(path)
    side = sidecar_path(p)
    if not p.is_file():
        raise InputError(f"{p}: no such model checkpoint (train it first, e.g. with the train_restorer rule)")
    if not side.is_file():
        raise InputError(f"{side}: the checkpoint {p.name} has no JSON sidecar")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{side}: not valid JSON ({exc})") from None
    for key in ("architecture", "params", "task"):
        if key not in meta:
            raise InputError(f"{side}: sidecar lacks the key {key!r}")
    model = build_model(meta["architecture"], meta["params"], scale=int(meta.get("scale", 1)))
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, EOFError, OSError) as exc:  # corrupt file or mismatched tensors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot load the {meta['architecture']} weights ({msg})") from None
    dev = resolve_device(device)
    model.to(dev).eval()
    return LoadedModel(module=model, meta=meta, path=p, device=dev)


def prepare_input(architecture: str, image: np.ndarray, profile: ModalityProfile, scale: int = 1) -> np.ndarray:
    """The network input (working scale) for one 2D image in native units.

    DnCNN: the noisy image; SRCNN: its bicubic upsampling by ``scale``; EDSR: the LR image.
    """
    if ARCHITECTURES.get(architecture) is None:
        raise ParameterError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    if architecture == "srcnn":
        image = upscale_bicubic(image, scale)
    return window_normalise(image, profile)


@torch.no_grad()
def forward_unit(module: torch.nn.Module, inputs: Sequence[np.ndarray], device: torch.device,
                 batch: int = 16) -> list[np.ndarray]:
    """Run ``module`` (eval mode) on 2D working-scale arrays, batching those of equal shape."""
    module.eval()
    out: list[np.ndarray | None] = [None] * len(inputs)
    groups: dict[tuple, list[int]] = {}
    for i, x in enumerate(inputs):
        groups.setdefault(tuple(x.shape), []).append(i)
    for idx in groups.values():
        for k in range(0, len(idx), batch):
            chunk = idx[k:k + batch]
            t = torch.from_numpy(np.stack([inputs[i] for i in chunk]).astype(np.float32)[:, None]).to(device)
            y = module(t).float().cpu().numpy()[:, 0].astype(np.float64)
            for j, i in enumerate(chunk):
                out[i] = y[j]
    return out  # type: ignore[return-value]


#: Side of the tiles large images are restored in, network-input pixels (a 512 x 512 slice runs whole).
DEFAULT_TILE = 512
#: Default noise-consistency guard of the denoisers (local noise standard deviations; None: off).
DEFAULT_GUARD: float | None = DEFAULT_LIMIT


def apply_model(model: LoadedModel, image: np.ndarray, profile: ModalityProfile, *,
                scale: int | None = None, tile: int | None = DEFAULT_TILE,
                guard: float | None = DEFAULT_GUARD) -> np.ndarray:
    """Restore ``image`` (native units) with a loaded network; returns native units, clipped to the range.

    Parameters
    ----------
    model : LoadedModel
        From :func:`load_model`.
    image : array
        2D or 3D (slice by slice) image: the noisy image for DnCNN, the low-resolution image for the
        super-resolution networks.
    profile : ModalityProfile
        Resolved profile of a modality the network was trained on; its ``metric_window`` must be the
        normalisation window recorded in the sidecar (``meta["normalisation"]``) when there is one.
    scale : int, optional
        Super-resolution only: the requested upscaling factor; must equal the model's scale.
    tile : int or None
        A network input larger than ``tile x tile`` pixels runs in overlapping tiles of that core size
        (:func:`mira.restore.tiling.forward_tiled`: bounded memory, the same result up to rounding);
        ``None`` runs every image whole.
    guard : float or None
        Denoisers only: the noise-consistency guard (:mod:`mira.restore.guard`): where the removed
        residual's local RMS exceeds ``guard`` local noise standard deviations of the input, it is
        shrunk to that, so a network that removes image structure on unfamiliar images falls back
        towards its input. ``None`` turns it off (the network's raw output).

    Raises
    ------
    ParameterError
        Wrong modality, normalisation window or scale for this model, or a bad image.
    """
    prof = require_profile(profile, "apply_model")
    if model.modalities and prof.name not in model.modalities:
        raise ParameterError(f"{model.path}: {model.architecture} was trained on {model.modalities}, not {prof.name}")
    trained = (model.meta.get("normalisation") or {}).get(prof.name)
    if trained is not None and [float(v) for v in trained] != [float(v) for v in prof.metric_window]:
        raise ParameterError(f"{model.path}: {model.architecture} was trained with the {prof.name} window "
                             f"{list(trained)}, not {list(prof.metric_window)} "
                             f"(retrain it after changing profiles.{prof.name}.metric_window)")
    if model.task == "sr":
        s = model.scale if scale is None else check_scale(scale)
        if s != model.scale:
            raise ParameterError(f"{model.path}: {model.architecture} model is for x{model.scale}, asked for x{s}")
    else:
        if scale not in (None, 1):
            raise ParameterError(f"{model.architecture} is a denoiser: no scale (got {scale})")
        s = 1
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ParameterError(f"networks take 2D or 3D images, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ParameterError("image contains NaN or inf")
    slices = [img] if img.ndim == 2 else list(img)
    inputs = [prepare_input(model.architecture, sl, prof, s) for sl in slices]
    if any(needs_tiling(x.shape, tile) for x in inputs):
        outs = [forward_tiled(model.module, x, model.device, int(tile)) for x in inputs]
    else:
        outs = forward_unit(model.module, inputs, model.device)
    if model.task == "denoise" and guard is not None:
        from .classical import denoise_wavelet_bayesshrink

        refs = [window_normalise(denoise_wavelet_bayesshrink(sl, prof), prof) for sl in slices]
        levels = NOISE_LEVELS.get(prof.name, 1)
        outs = [guard_residual(x, o, r, guard, levels=levels) for x, o, r in zip(inputs, outs, refs)]
    out = outs[0] if img.ndim == 2 else np.stack(outs)
    return prof.clip(window_denormalise(out, prof))


def training_case_ids(meta: dict) -> set[tuple[str, str]]:
    """``(source, case_id)`` of every case a model saw in training or validation (from its sidecar)."""
    seen: set[tuple[str, str]] = set()
    for part in ("train", "val"):
        for ds in meta.get("data", {}).get(part, []):
            seen.update((ds.get("source", ""), c) for c in ds.get("cases", []))
    return seen


def check_unseen(meta: dict, source: str, case_ids: Iterable[str], where: str = "") -> None:
    """Raise InputError if any ``(source, case_id)`` was used to train or validate the model."""
    seen = training_case_ids(meta)
    overlap = sorted(c for c in case_ids if (source, c) in seen)
    if overlap:
        raise InputError(f"{where or 'evaluation set'}: case(s) {overlap[:5]}{'...' if len(overlap) > 5 else ''} "
                         f"of source {source!r} were used to train {meta.get('architecture')}; deep models are "
                         "evaluated only on unseen cases")

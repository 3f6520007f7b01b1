"""Training of the restoration networks (DnCNN, SRCNN, EDSR-style): data, patches, validation, checkpoints.

Data
    Images come from dataset folders of the **training split** (the validation split for validation);
    the test split is never read. Degraded inputs are made on the fly with the degradation stage's own
    physics (:func:`mira.degrade.apply`), never from the degraded test folders:

    * denoising (DnCNN): each training image is degraded ``copies`` times, each time with a noise model
      drawn from the modality's noise specs and a level drawn log-uniformly from the spec's range
      (blind training over a range of noise levels; e.g. CT low-dose from 2e3 to 8e5 photons/ray);
    * super-resolution: each image is downsampled by ``scale`` exactly as the test inputs are
      (``mira.degrade.apply("downsample", ...)``; SRCNN gets its bicubic upsampling).

    Validation images are degraded at the calibrated mild/moderate/severe levels (denoising) or at
    the scale (SR), with fixed generators.

Loop (:func:`mira.nn.fit.fit`, the one training loop of mira)
    Random patches (``patch_size`` px on the target grid) with random flips/rot90 (the 8 dihedral
    transforms, applied identically to input and target), mini-batches of ``batch_size``, Adam.
    An epoch is ``steps_per_epoch`` steps followed by the validation PSNR (mira.metrics.psnr, the
    window of the modality's profile). Learning rate: a cosine from ``lr`` to ``lr * min_lr_factor``
    over the wall-time budget (its position is the elapsed fraction of the budget, so load spikes on a shared
    machine do not distort it) or, without a budget, over ``epochs * steps_per_epoch`` steps. Training
    stops after ``epochs`` epochs, after ``patience`` epochs without a better validation PSNR (early
    stopping), or when the wall-time budget is spent (checked after every step). The weights of the
    best validation epoch are saved. ``planned_epochs`` in the log and sidecar is the running estimate
    of the epochs that fit the budget.

Determinism
    Weights are initialised under ``torch.manual_seed(derive_seed(seed, ...))`` inside
    :func:`torch.random.fork_rng` (the global stream is left untouched); patches, augmentations and
    degradations come from :func:`mira.seeding.rng_for` generators; ``torch.use_deterministic_algorithms``
    is on during training. With ``budget_s: 0`` (epochs decide) the run is bit-identical on the CPU for a
    given seed, thread count and settings (tested). A wall-time budget makes the number of epochs and
    the learning-rate schedule depend on the machine's speed and load, so budgeted runs are
    reproducible only up to that: the sidecar and ``history.csv`` record the epochs, steps and rates
    actually used. GPU training is not bit-reproducible (cuDNN).

Outputs (:func:`train_restorer`)
    ``model.pt`` (state dict), ``model.json`` (sidecar: architecture and parameters, task, scale,
    modalities, data with every case id, noise specs, seed, training settings, epochs, wall and CPU
    time, best validation PSNR, stop reason) and optionally ``history.csv`` (one row per epoch).
"""
from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch

from ..atomic import write_text, write_torch
from ..dataset import Dataset
from ..errors import InputError, ParameterError
from ..metrics.fidelity import psnr
from ..modalities import ModalityProfile
from ..nn.device import model_device, resolve_device
from ..nn.fit import FitResult, TrainSettings, fit, seeded
from ..seeding import derive_seed, rng_for
from .inference import forward_unit, prepare_input, sidecar_path
from .interpolation import check_scale
from .models import ARCHITECTURES, build_model, count_parameters
from .noise_models import window_denormalise, window_normalise
from .settings import HISTORY_COLUMNS, VAL_LEVELS, PatchSettings, noise_specs_for, restore_training

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)

# ---- data ------------------------------------------------------------------------------------------


@dataclass
class _Image:
    case_id: str
    source: str
    modality: str
    image: np.ndarray          # 2D, native units
    spacing: tuple[float, ...]


@dataclass
class _Sample:
    """One training/validation pair: network input and target (working scale), plus the native target."""

    inp: np.ndarray
    target: np.ndarray
    profile: ModalityProfile
    target_native: np.ndarray | None = None
    tag: str = ""
    weight: float = 1.0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_images(dirs: Sequence[PathLike], part: str, limit_per_modality: int | None = None
                 ) -> tuple[list[_Image], list[dict]]:
    images: list[_Image] = []
    provenance: list[dict] = []
    if not dirs:
        raise InputError(f"no {part} dataset folders given")
    for d in dirs:
        ds = Dataset(d)
        if part == "train" and any(r.split == "test" for r in ds.records):
            raise InputError(f"{d}: training data must not come from a test split")
        recs = ds.records[:limit_per_modality] if limit_per_modality else ds.records
        if not recs:
            raise InputError(f"{d}: the {part} dataset has no cases")
        for rec in recs:
            case = ds.load(rec)
            slices = [case.image] if case.image.ndim == 2 else list(case.image)
            sp = tuple(case.spacing[-2:])
            for k, sl in enumerate(slices):
                cid = rec.case_id if len(slices) == 1 else f"{rec.case_id}#z{k}"
                images.append(_Image(cid, rec.source, rec.modality, np.asarray(sl, dtype=np.float64), sp))
        provenance.append({"dir": str(d), "source": recs[0].source, "modality": recs[0].modality,
                           "split": recs[0].split, "cases": [r.case_id for r in recs],
                           "manifest_sha256": _sha256(Path(d) / "manifest.csv")})
    return images, provenance


def _draw_noise(spec: dict, profile: ModalityProfile, rng: np.random.Generator) -> dict:
    from ..degrade import level_params

    lo, hi = spec["range"]
    value = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    params = level_params(spec["degradation"], profile, "moderate")
    default = params.get(spec["parameter"])
    params[spec["parameter"]] = int(round(value)) if isinstance(default, (int, np.integer)) else value
    return params


def _denoise_samples(images: list[_Image], specs: dict[str, list[dict]], copies: int, seed: int, arch: str,
                     profiles: Mapping[str, ModalityProfile]) -> list[_Sample]:
    from ..degrade import apply

    out = []
    for im in images:
        prof = profiles[im.modality]
        for c in range(copies):
            rng = rng_for(seed, "restore-train", arch, im.source, im.modality, im.case_id, c)
            sp = specs[im.modality][int(rng.integers(len(specs[im.modality])))]
            params = _draw_noise(sp, prof, rng)
            deg = apply(sp["degradation"], im.image, params, rng, profile=prof, spacing=im.spacing)
            inp, tgt = window_normalise(deg.image, prof), window_normalise(deg.reference, prof)
            noise_var = float(np.mean((inp - tgt) ** 2))
            tag = f"{sp['degradation']}:{sp['parameter']}={params[sp['parameter']]:.4g}"
            out.append(_Sample(inp, tgt, prof, tag=tag, weight=1.0 / max(noise_var, 1e-8)))
    return out


def _denoise_val(images: list[_Image], specs: dict[str, list[dict]], seed: int, arch: str,
                 profiles: Mapping[str, ModalityProfile]) -> list[_Sample]:
    from ..degrade import apply

    out = []
    for im in images:
        prof = profiles[im.modality]
        for sp in specs[im.modality]:
            for level in VAL_LEVELS:
                rng = rng_for(seed, "restore-val", arch, im.source, im.modality, im.case_id, sp["degradation"], level)
                deg = apply(sp["degradation"], im.image, level, rng, profile=prof, spacing=im.spacing)
                out.append(_Sample(prepare_input(arch, deg.image, prof), window_normalise(deg.reference, prof),
                                   prof, target_native=deg.reference, tag=f"{sp['degradation']}/{level}"))
    return out


def _sr_samples(images: list[_Image], scale: int, arch: str, profiles: Mapping[str, ModalityProfile],
                native: bool = False) -> list[_Sample]:
    from ..degrade import apply

    out = []
    for im in images:
        prof = profiles[im.modality]
        deg = apply("downsample", im.image, f"x{scale}", None, profile=prof, spacing=im.spacing)
        inp = prepare_input(arch, deg.image, prof, scale)
        out.append(_Sample(inp, window_normalise(deg.reference, prof), prof,
                           target_native=deg.reference if native else None, tag=f"x{scale}"))
    return out


class PatchSampler:
    """Draws random aligned (input, target) patches with random dihedral transforms.

    ``factor`` is the target/input grid ratio (1 for DnCNN and SRCNN, ``scale`` for EDSR); target
    patches are ``patch`` pixels, input patches ``patch // factor``.
    """

    def __init__(self, samples: Sequence[_Sample], patch: int, factor: int, rng: np.random.Generator):
        self.samples = list(samples)
        self.factor = int(factor)
        self.patch = (int(patch) // self.factor) * self.factor
        self.rng = rng
        small = [s for s in self.samples if min(s.inp.shape) < self.patch // self.factor]
        if small:
            raise ParameterError(f"patch_size {patch} does not fit image(s) of input shape {small[0].inp.shape}")

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` patches: inputs ``(n, 1, p_in, p_in)``, targets ``(n, 1, p, p)`` and sample weights ``(n,)``."""
        p_in = self.patch // self.factor
        xs, ys, ws = [], [], []
        for _ in range(n):
            s = self.samples[int(self.rng.integers(len(self.samples)))]
            i = int(self.rng.integers(s.inp.shape[0] - p_in + 1))
            j = int(self.rng.integers(s.inp.shape[1] - p_in + 1))
            k = int(self.rng.integers(8))
            x = s.inp[i:i + p_in, j:j + p_in]
            y = s.target[i * self.factor:i * self.factor + self.patch, j * self.factor:j * self.factor + self.patch]
            x, y = np.rot90(x, k % 4), np.rot90(y, k % 4)
            if k >= 4:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
            ws.append(s.weight)
        w = np.asarray(ws, dtype=np.float32)
        return (np.ascontiguousarray(np.stack(xs)[:, None], dtype=np.float32),
                np.ascontiguousarray(np.stack(ys)[:, None], dtype=np.float32), w / w.mean())


@torch.no_grad()
def recalibrate_batch_norm(module: torch.nn.Module, sampler: "PatchSampler", batches: int, batch_size: int,
                           device: torch.device) -> bool:
    """Recompute batch-norm population statistics on fresh training batches ("precise BN").

    The running averages lag behind a network that is still changing quickly, which makes
    eval-mode outputs (validation, inference) worse than the training loss suggests; averaging the
    batch statistics of ``batches`` batches of the current network removes that lag. Returns False
    when the network has no batch norm.
    """
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return False
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    module.train()
    for _ in range(batches):
        xb, _, _ = sampler.batch(batch_size)
        module(torch.from_numpy(xb).to(device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    module.eval()
    return True


def validation_psnr(module: torch.nn.Module, samples: Sequence[_Sample], device: torch.device) -> float:
    """Mean PSNR (dB, window of each sample's profile) of the network's outputs on the validation samples."""
    outs = forward_unit(module, [s.inp for s in samples], device)
    vals = []
    for s, o in zip(samples, outs):
        prof = s.profile
        restored = prof.clip(window_denormalise(o, prof))
        ref = s.target_native if s.target_native is not None else window_denormalise(s.target, prof)
        vals.append(min(psnr(ref, restored, prof), 100.0))
    return float(np.mean(vals))


# ---- training through mira.nn.fit ------------------------------------------------------------------


def patch_loss(kind: str):
    """``loss(model, (x, y, w))`` of :func:`mira.nn.fit.fit`: per-patch MSE or L1, mean over patches
    (``"nmse"``: weighted by the patches' inverse noise variance)."""

    def loss(model: torch.nn.Module, batch) -> torch.Tensor:
        x, y, w = batch
        out = model(x)
        err = (out - y) ** 2 if kind in ("mse", "nmse") else (out - y).abs()
        per_sample = err.mean(dim=(1, 2, 3))
        return (per_sample * w).mean() if kind == "nmse" else per_sample.mean()

    return loss


def train_network(module: torch.nn.Module, sampler: PatchSampler, val: Sequence[_Sample], loop: TrainSettings,
                  patch: PatchSettings, *, logger: logging.Logger | None = None, label: str = "") -> FitResult:
    """Train ``module`` in place with :func:`mira.nn.fit.fit` on ``sampler``'s patches (module docstring).

    Every epoch ends with the batch-norm recalibration (``patch.bn_batches``) and the validation
    PSNR; the best validation weights are loaded into ``module``.
    """
    def batches(epoch: int):
        return (sampler.batch(loop.batch_size) for _ in range(loop.steps_per_epoch))

    def validate(model: torch.nn.Module, epoch: int) -> float:
        device = model_device(model)
        recalibrate_batch_norm(model, sampler, patch.bn_batches, loop.batch_size, device)
        return validation_psnr(model, val, device)

    return fit(module, batches, loop, loss=patch_loss(patch.loss), validate=validate, score_name="val PSNR",
               logger=logger or log, label=label)


def history_rows(res: FitResult) -> list[dict]:
    """The epochs of a run as rows of :data:`~mira.restore.settings.HISTORY_COLUMNS` (``history.csv``)."""
    return [{"epoch": r["epoch"], "steps": r["steps"], "lr": r["lr"], "train_loss": r["train_loss"],
             "val_psnr_db": r["score"], "elapsed_s": r["elapsed_s"], "planned_epochs": r["planned_epochs"]}
            for r in res.history]


# ---- the pipeline entry point ----------------------------------------------------------------------


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_checkpoint(module: torch.nn.Module, meta: Mapping[str, Any], path: PathLike) -> None:
    """Write the state dict to ``path`` (``.pt``) and ``meta`` to the JSON sidecar beside it, atomically.

    ``meta`` needs at least ``architecture``, ``params``, ``task`` and ``scale`` (see
    :func:`mira.restore.inference.load_model`).
    """
    out = Path(path)
    write_torch(out, {k: v.detach().cpu() for k, v in module.state_dict().items()})
    write_text(sidecar_path(out), json.dumps(dict(meta), indent=2, default=_json_default) + "\n")


def _check_architecture(architecture: str, scale: int) -> tuple[str, str, int]:
    """``(arch, task, scale)``, with the scale checked against the task."""
    arch = str(architecture).lower()
    if arch not in ARCHITECTURES:
        raise ParameterError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    task = ARCHITECTURES[arch]
    if task == "sr":
        scale = check_scale(scale)
    elif scale != 1:
        raise ParameterError(f"{arch} is a denoiser: scale must be 1, got {scale}")
    return arch, task, scale


@dataclass
class _Data:
    """The prepared training and validation samples of one network, with their provenance."""

    samples: list[_Sample]
    val: list[_Sample]
    specs: dict
    factor: int
    modalities: list[str]
    provenance: dict
    n_images: int


def _prepare_data(arch: str, task: str, scale: int, train_dirs, val_dirs, patch: PatchSettings, seed: int,
                  profiles: Mapping[str, ModalityProfile], train_noise: Mapping[str, Any] | None) -> _Data:
    """Load the images, check the splits and make the (degraded input, target) samples."""
    train_imgs, train_prov = _load_images(train_dirs, "train")
    val_imgs, val_prov = _load_images(val_dirs, "val", limit_per_modality=patch.val_cases)
    train_ids = {(im.source, im.case_id) for im in train_imgs}
    leaked = sorted(c for src, c in {(im.source, im.case_id) for im in val_imgs} if (src, c) in train_ids)
    if leaked:
        raise InputError(f"validation cases {leaked[:5]} also appear in the training data")
    modalities = sorted({im.modality for im in train_imgs})
    if sorted({im.modality for im in val_imgs}) != modalities:
        raise InputError(f"training modalities {modalities} and validation modalities "
                         f"{sorted({im.modality for im in val_imgs})} differ")
    missing = [m for m in modalities if m not in profiles]
    if missing:
        raise ParameterError(f"no modality profile given for {missing} (profiles= maps each modality to its profile)")
    if task == "denoise":
        specs = {m: noise_specs_for(profiles[m], train_noise) for m in modalities}
        samples = _denoise_samples(train_imgs, specs, patch.copies, seed, arch, profiles)
        val = _denoise_val(val_imgs, specs, seed, arch, profiles)
        factor = 1
    else:
        specs = {}
        samples = _sr_samples(train_imgs, scale, arch, profiles)
        val = _sr_samples(val_imgs, scale, arch, profiles, native=True)
        factor = scale if arch == "edsr" else 1
    return _Data(samples, val, specs, factor, modalities, {"train": train_prov, "val": val_prov}, len(train_imgs))


def _sidecar(arch: str, task: str, scale: int, arch_params, data: _Data, profiles, record: dict, seed: int,
             module: torch.nn.Module, res: FitResult, prep_s: float) -> dict:
    """The checkpoint's JSON sidecar (the data contract of :mod:`mira.restore.inference`)."""
    ms = data.modalities
    return {
        "architecture": arch, "params": dict(arch_params or {}), "task": task, "scale": int(scale), "modalities": ms,
        "normalisation": {m: list(profiles[m].metric_window) for m in ms},
        "data": {**data.provenance, "train_samples": len(data.samples), "val_samples": len(data.val)},
        "noise": (data.specs if task == "denoise"
                  else {m: [{"degradation": "downsample", "level": f"x{scale}"}] for m in ms}),
        "seed": int(seed), "training": record, "parameters": count_parameters(module),
        "epochs": res.epochs, "planned_epochs": res.planned_epochs, "steps": res.steps, "best_epoch": res.best_epoch,
        "best_val_psnr_db": round(res.best_score, 4),
        "final_val_psnr_db": round(res.history[-1]["score"], 4) if res.history else None,
        "stopped_by": res.stopped_by, "wall_time_s": round(res.wall_time_s, 2), "cpu_time_s": round(res.cpu_time_s, 2),
        "data_prep_s": round(prep_s, 2), "device": str(res.device), "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def _write_history(res: FitResult, path: PathLike) -> None:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
    w.writeheader()
    for row in history_rows(res):
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, buf.getvalue())


def train_restorer(architecture: str, train_dirs: Sequence[PathLike], val_dirs: Sequence[PathLike],
                   out_model: PathLike, *, seed: int, profiles: Mapping[str, ModalityProfile], scale: int = 1,
                   arch_params: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None,
                   train_noise: Mapping[str, Any] | None = None, history_csv: PathLike | None = None,
                   logger: logging.Logger | None = None) -> dict:
    """Train one network on dataset folders and write ``out_model`` (.pt) plus its JSON sidecar.

    Parameters
    ----------
    architecture : str
        ``"dncnn"``, ``"srcnn"`` or ``"edsr"``.
    train_dirs, val_dirs : sequence of path
        Dataset folders of the training and validation splits (one per modality; several pool them).
    out_model : path
        Checkpoint path (``model.pt``); the sidecar is written beside it (``model.json``).
    seed : int
        The global seed; every generator is derived from it, the architecture and the scale.
    profiles : mapping of str to ModalityProfile
        The resolved profile of every modality in the folders (working scale, PSNR window, clip).
    scale : int
        Super-resolution factor (2..8); must be 1 (default) for DnCNN.
    arch_params : mapping
        Architecture parameters (see :mod:`mira.restore.models`).
    settings : mapping
        Training settings: keys of :data:`mira.restore.settings.TRAINING_KEYS`
        (:func:`~mira.restore.settings.restore_training`).
    train_noise : mapping, optional
        DnCNN noise specs per modality (``restore.train_noise``; default :data:`DEFAULT_TRAIN_NOISE`).
    history_csv : path, optional
        Where to write one row per epoch.

    Returns
    -------
    dict
        The sidecar.
    """
    lg = logger or log
    arch, task, scale = _check_architecture(architecture, scale)
    loop, patch, record = restore_training(settings)
    torch.set_num_threads(int(loop.threads))
    device = resolve_device(loop.device)
    t_prep = time.perf_counter()
    data = _prepare_data(arch, task, scale, train_dirs, val_dirs, patch, seed, profiles, train_noise)
    key = (arch, f"x{scale}" if task == "sr" else "-".join(data.modalities))
    prep_s = time.perf_counter() - t_prep
    lg.info("%s %s: %d training samples from %d images, %d validation images, data prepared in %.1f s",
            arch, key[1], len(data.samples), data.n_images, len(data.val), prep_s)
    with seeded(derive_seed(seed, "restore-init", *key) % (2 ** 63)):
        module = build_model(arch, arch_params, scale=scale)
    sampler = PatchSampler(data.samples, patch.patch_size, data.factor, rng_for(seed, "restore-patches", *key))
    lg.info("%s: %d parameters, device %s, %d threads, budget %s", arch, count_parameters(module), device,
            torch.get_num_threads(), f"{loop.budget_s:g} s" if loop.budget_s else "none")
    res = train_network(module, sampler, data.val, loop, patch, logger=lg, label=f"{arch} {key[1]} ")
    meta = _sidecar(arch, task, scale, arch_params, data, profiles, record, seed, module, res, prep_s)
    save_checkpoint(module, meta, out_model)
    if history_csv is not None:
        _write_history(res, history_csv)
    lg.info("%s %s: best val PSNR %.2f dB at epoch %d of %d (%s), %.1f s wall, %.1f s CPU", arch, key[1],
            res.best_score, res.best_epoch, res.epochs, res.stopped_by, res.wall_time_s, res.cpu_time_s)
    return meta

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

Sources and selection
    Training folders may come from several sources (e.g. ``phantom`` and a real ``hospital_ct``);
    every sample keeps its source. ``source_weights`` sets the probability of drawing a patch from
    each source (:class:`~mira.restore.batches.PatchSampler`), ``select_source`` the source
    whose validation images alone select the epoch; every source's score is logged each epoch and
    the sidecar records the weights, the selection and the best score per source.

Self-supervised denoising (``mode``: ``neighbor2neighbor`` or ``noise2self``, DnCNN only)
    The network never sees a clean image: the training images are degraded with the noise specs
    and their clean versions dropped (``noisy_input: degrade``) or used as they are (``as_acquired``),
    the loss is Neighbor2Neighbor's or Noise2Self's, and the validation score is minus that loss on
    the noisy validation images (sidecar ``score_kind: neg_ss_loss``; ``history.csv``'s
    ``val_psnr_db`` then holds that score). See :mod:`mira.restore.self_supervised` for when they apply.

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

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch

from ..dataset import Dataset
from ..errors import InputError, ParameterError
from ..metrics.fidelity import psnr
from ..modalities import ModalityProfile
from ..nn.device import model_device, resolve_device
from ..nn.fit import FitResult, TrainSettings, fit, seeded
from ..seeding import derive_seed, rng_for
from .appearance import AppearanceSettings, randomise_appearance
from .batches import PatchSampler, patch_loss, recalibrate_batch_norm
from .checkpoint import save_checkpoint, write_history
from .inference import forward_unit, prepare_input
from .interpolation import check_scale
from .models import ARCHITECTURES, build_model, count_parameters
from .noise_models import window_denormalise, window_normalise
from .self_supervised import (
    selection_record,
    self_supervised_scores,
    training_loss,
)
from .settings import VAL_LEVELS, PatchSettings, noise_specs_for, restore_training

__all__ = ["PatchSampler", "patch_loss", "recalibrate_batch_norm", "save_checkpoint", "train_network",
           "train_restorer", "validation_psnr", "validation_psnrs"]

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
    source: str = ""


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
        sha = _sha256(Path(d) / "manifest.csv")
        for src in dict.fromkeys(r.source for r in recs):  # one entry per source of the folder
            group = [r for r in recs if r.source == src]
            provenance.append({"dir": str(d), "source": src, "modality": group[0].modality, "split": group[0].split,
                               "cases": [r.case_id for r in group], "manifest_sha256": sha})
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
                     profiles: Mapping[str, ModalityProfile], noisy_only: bool = False,
                     appearance: AppearanceSettings | None = None) -> list[_Sample]:
    """``copies`` degraded versions of every image, each first randomised in appearance (``appearance``,
    :func:`mira.restore.appearance.randomise_appearance`; None: as it is); ``noisy_only``: the clean
    reference is dropped (the sample's target is its noisy input, for the self-supervised modes)."""
    from ..degrade import apply

    out = []
    for im in images:
        prof = profiles[im.modality]
        for c in range(copies):
            rng = rng_for(seed, "restore-train", arch, im.source, im.modality, im.case_id, c)
            sp = specs[im.modality][int(rng.integers(len(specs[im.modality])))]
            params = _draw_noise(sp, prof, rng)
            clean = im.image if appearance is None else randomise_appearance(im.image, prof, rng, appearance)
            deg = apply(sp["degradation"], clean, params, rng, profile=prof, spacing=im.spacing)
            inp = window_normalise(deg.image, prof)
            tag = f"{sp['degradation']}:{sp['parameter']}={params[sp['parameter']]:.4g}"
            if noisy_only:
                out.append(_Sample(inp, inp, prof, tag=tag, source=im.source))
                continue
            tgt = window_normalise(deg.reference, prof)
            noise_var = float(np.mean((inp - tgt) ** 2))
            out.append(_Sample(inp, tgt, prof, tag=tag, weight=1.0 / max(noise_var, 1e-8), source=im.source))
    return out


def _denoise_val(images: list[_Image], specs: dict[str, list[dict]], seed: int, arch: str,
                 profiles: Mapping[str, ModalityProfile], noisy_only: bool = False) -> list[_Sample]:
    from ..degrade import apply

    out = []
    for im in images:
        prof = profiles[im.modality]
        for sp in specs[im.modality]:
            for level in VAL_LEVELS:
                rng = rng_for(seed, "restore-val", arch, im.source, im.modality, im.case_id, sp["degradation"], level)
                deg = apply(sp["degradation"], im.image, level, rng, profile=prof, spacing=im.spacing)
                inp, tag = prepare_input(arch, deg.image, prof), f"{sp['degradation']}/{level}"
                if noisy_only:
                    out.append(_Sample(inp, inp, prof, tag=tag, source=im.source))
                else:
                    out.append(_Sample(inp, window_normalise(deg.reference, prof), prof, target_native=deg.reference,
                                       tag=tag, source=im.source))
    return out


def _as_acquired(images: list[_Image], profiles: Mapping[str, ModalityProfile]) -> list[_Sample]:
    """The images as they are (already noisy scans): input and target are the same noisy image."""
    out = []
    for im in images:
        x = window_normalise(im.image, profiles[im.modality])
        out.append(_Sample(x, x, profiles[im.modality], tag="as_acquired", source=im.source))
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
                           target_native=deg.reference if native else None, tag=f"x{scale}", source=im.source))
    return out


def validation_psnrs(module: torch.nn.Module, samples: Sequence[_Sample], device: torch.device) -> list[float]:
    """PSNR (dB, window of each sample's profile, at most 100) of the network's output on each validation sample."""
    outs = forward_unit(module, [s.inp for s in samples], device)
    vals = []
    for s, o in zip(samples, outs):
        prof = s.profile
        restored = prof.clip(window_denormalise(o, prof))
        ref = s.target_native if s.target_native is not None else window_denormalise(s.target, prof)
        vals.append(min(psnr(ref, restored, prof), 100.0))
    return vals


def validation_psnr(module: torch.nn.Module, samples: Sequence[_Sample], device: torch.device) -> float:
    """Mean PSNR (dB, window of each sample's profile) of the network's outputs on the validation samples."""
    return float(np.mean(validation_psnrs(module, samples, device)))


# ---- training through mira.nn.fit ------------------------------------------------------------------


def _mean_by_source(values: Sequence[float], sources: Sequence[str]) -> dict[str, float]:
    return {src: float(np.mean([v for v, s in zip(values, sources) if s == src])) for src in dict.fromkeys(sources)}


def train_network(module: torch.nn.Module, sampler: PatchSampler, val: Sequence[_Sample], loop: TrainSettings,
                  patch: PatchSettings, *, logger: logging.Logger | None = None, label: str = "",
                  select_source: str | None = None, seed: int = 0,
                  per_source: list[dict[str, float]] | None = None) -> FitResult:
    """Train ``module`` in place with :func:`mira.nn.fit.fit` on ``sampler``'s patches (module docstring).

    Every epoch ends with the batch-norm recalibration (``patch.bn_batches``) and the validation
    score of every sample: PSNR (dB) in the supervised mode, minus the self-supervised loss on the
    noisy images otherwise (:func:`mira.restore.self_supervised.self_supervised_scores`). The score
    that selects the epoch is the mean over all samples, or over those of ``select_source`` only;
    the per-source means of each epoch are appended to ``per_source``. The best weights are loaded
    into ``module``. ``seed`` seeds the self-supervised masks (training stream and fixed validation draws).
    """
    sources = [s.source for s in val]
    if select_source is not None and select_source not in sources:
        raise ParameterError(f"select_source: source {select_source!r} has no validation images "
                             f"(sources: {sorted(set(sources))})")
    lg = logger or log
    loss = training_loss(patch.mode, patch.loss, seed=derive_seed(seed, "loss"), gamma=patch.n2n_gamma)

    def batches(epoch: int):
        return (sampler.batch(loop.batch_size) for _ in range(loop.steps_per_epoch))

    def validate(model: torch.nn.Module, epoch: int) -> float:
        device = model_device(model)
        recalibrate_batch_norm(model, sampler, patch.bn_batches, loop.batch_size, device)
        if patch.self_supervised:
            vals = self_supervised_scores(model, [s.inp for s in val], patch.mode, device,
                                          seed=derive_seed(seed, "val"), gamma=patch.n2n_gamma)
        else:
            vals = validation_psnrs(model, val, device)
        by_source = _mean_by_source(vals, sources)
        if per_source is not None:
            per_source.append(by_source)
        if len(by_source) > 1:
            lg.log(logging.INFO if logger is not None else logging.DEBUG, "%sepoch %d: val by source %s", label,
                   epoch, ", ".join(f"{k} {v:.4g}" for k, v in by_source.items()))
        return float(np.mean(vals)) if select_source is None else by_source[select_source]

    name = f"val -{patch.mode} loss" if patch.self_supervised else "val PSNR"
    return fit(module, batches, loop, loss=loss, validate=validate, score_name=name, logger=lg, label=label)


# ---- the pipeline entry point ----------------------------------------------------------------------


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
                  profiles: Mapping[str, ModalityProfile], train_noise: Mapping[str, Any] | None,
                  appearance: AppearanceSettings | None = None) -> _Data:
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
    if task == "denoise" and patch.noisy_input == "as_acquired":
        specs = {m: [{"degradation": "as_acquired"}] for m in modalities}
        samples, val, factor = _as_acquired(train_imgs, profiles), _as_acquired(val_imgs, profiles), 1
    elif task == "denoise":
        specs = {m: noise_specs_for(profiles[m], train_noise) for m in modalities}
        ss = patch.self_supervised
        samples = _denoise_samples(train_imgs, specs, patch.copies, seed, arch, profiles, noisy_only=ss,
                                   appearance=appearance)
        val = _denoise_val(val_imgs, specs, seed, arch, profiles, noisy_only=ss)
        factor = 1
    elif patch.self_supervised:
        raise ParameterError(f"training key mode {patch.mode!r} is for denoisers only; {arch} is a "
                             "super-resolution network (mode: supervised)")
    else:
        specs = {}
        samples = _sr_samples(train_imgs, scale, arch, profiles)
        val = _sr_samples(val_imgs, scale, arch, profiles, native=True)
        factor = scale if arch == "edsr" else 1
    return _Data(samples, val, specs, factor, modalities, {"train": train_prov, "val": val_prov}, len(train_imgs))


def _sidecar(arch: str, task: str, scale: int, arch_params, data: _Data, profiles, record: dict, seed: int,
             module: torch.nn.Module, res: FitResult, prep_s: float, selection: dict) -> dict:
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
        "torch": torch.__version__, **selection,
    }


def train_restorer(architecture: str, train_dirs: Sequence[PathLike], val_dirs: Sequence[PathLike],
                   out_model: PathLike, *, seed: int, profiles: Mapping[str, ModalityProfile], scale: int = 1,
                   arch_params: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None,
                   train_noise: Mapping[str, Any] | None = None, history_csv: PathLike | None = None,
                   logger: logging.Logger | None = None, source_weights: Mapping[str, float] | None = None,
                   select_source: str | None = None, appearance: Mapping[str, Any] | None = None) -> dict:
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
        (:func:`~mira.restore.settings.restore_training`), e.g. ``{"mode": "neighbor2neighbor",
        "noisy_input": "as_acquired"}`` trains DnCNN on noisy scans only.
    train_noise : mapping, optional
        DnCNN noise specs per modality (``restore.train_noise``; default :data:`DEFAULT_TRAIN_NOISE`).
    history_csv : path, optional
        Where to write one row per epoch (``val_psnr_db`` holds the selection score: see the
        sidecar's ``score_kind``).
    source_weights : mapping of str to float, optional
        Relative probability of drawing a training patch from each source (every training source
        needs one, >= 0, sum > 0); None: every training sample equally likely.
    select_source : str, optional
        The source whose validation images alone score the epochs (early stopping, best weights);
        None: all validation images. Every source's score is logged and recorded anyway.
    appearance : mapping, optional
        DnCNN: randomised appearance of each clean training image before it is degraded
        (``restore.appearance``: :class:`mira.restore.appearance.AppearanceSettings` keys); None or
        ``enabled: false``: the images as they are. Validation images are never randomised.

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
    look = AppearanceSettings.from_mapping(appearance) if appearance else None
    look = look if look is not None and look.enabled else None
    data = _prepare_data(arch, task, scale, train_dirs, val_dirs, patch, seed, profiles, train_noise, look)
    key = (arch, f"x{scale}" if task == "sr" else "-".join(data.modalities))
    prep_s = time.perf_counter() - t_prep
    lg.info("%s %s: %d training samples from %d images, %d validation images, data prepared in %.1f s",
            arch, key[1], len(data.samples), data.n_images, len(data.val), prep_s)
    with seeded(derive_seed(seed, "restore-init", *key) % (2 ** 63)):
        module = build_model(arch, arch_params, scale=scale)
    sampler = PatchSampler(data.samples, patch.patch_size, data.factor, rng_for(seed, "restore-patches", *key),
                           source_weights=source_weights)
    lg.info("%s: %d parameters, device %s, %d threads, budget %s, mode %s", arch, count_parameters(module), device,
            torch.get_num_threads(), f"{loop.budget_s:g} s" if loop.budget_s else "none", patch.mode)
    per_source: list[dict[str, float]] = []
    res = train_network(module, sampler, data.val, loop, patch, logger=lg, label=f"{arch} {key[1]} ",
                        select_source=select_source, seed=derive_seed(seed, "restore-ss", *key), per_source=per_source)
    meta = _sidecar(arch, task, scale, arch_params, data, profiles, record, seed, module, res, prep_s,
                    selection_record(patch, select_source, source_weights, per_source, res.best_epoch))
    meta["appearance"] = dict(appearance) if look is not None and appearance else None
    save_checkpoint(module, meta, out_model)
    if history_csv is not None:
        write_history(res, history_csv)
    lg.info("%s %s: best val PSNR %.2f dB at epoch %d of %d (%s), %.1f s wall, %.1f s CPU", arch, key[1],
            res.best_score, res.best_epoch, res.epochs, res.stopped_by, res.wall_time_s, res.cpu_time_s)
    return meta

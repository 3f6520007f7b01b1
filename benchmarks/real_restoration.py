"""Real-image restoration benchmark: denoising of real DICOM scans, split by image (issue 15, items 5-6).

The real images are pydicom's bundled test files (offline; nothing is downloaded), read through
mira's ingest (:func:`mira.ingest.ingest_source`, so units and geometry are mira's: CT in HU, MRI
divided by its 99.5th percentile, ultrasound grey in [0, 1]):

* CT: ``CT_small.dcm`` (128x128), ``693_J2KI.dcm``, ``J2K_pixelrep_mismatch.dcm`` (512x512 head CT);
* MRI: ``MR_small.dcm`` (64x64), ``examples_overlay.dcm`` (300x484);
* US: ``examples_palette.dcm``, ``examples_rgb_color.dcm``, ``examples_ybr_color.dcm`` (a cine loop:
  ``--frames`` evenly spaced frames, all in one fold), ``examples_jpeg2k.dcm``;
* X-ray: no real X-ray image is bundled with pydicom, so X-ray is not measured (said in the tables).

Each image is degraded with mira's physics (:func:`mira.study.degrade_stage.degrade_dataset`: the
modality's restored noise models, ``restore.denoise.degradations``; mild, moderate and severe) and
restored (:func:`mira.study.restore_stage.restore_folder`) by: the noisy ``input``, ``nlm``,
``bm3d``, ``zs_n2n`` (when registered in :data:`mira.restore.METHODS`; 1000 Adam steps per image cost
minutes of CPU per 512x512 image, so only images up to ``--zs-max-pixels`` are restored with it, and
its 512x512 time is measured on a centre crop and scaled), and DnCNN networks trained

* ``dncnn_phantom``: on mira's phantoms (the default run's network and training budget, appearance
  randomisation included; ``--models DIR`` reuses ``DIR/dncnn/<modality>/model.pt``), restored with
  the config's noise-consistency guard (``restore.denoise.guard``); ``dncnn_phantom_raw``: the same
  network without the guard;
* ``dncnn_real``: supervised on the *other* real images of the modality (leave-one-image-out folds;
  synthetic degradations with mira's physics; checkpoint selected on the phantom validation split);
* ``dncnn_n2n`` / ``dncnn_n2s``: self-supervised (Neighbor2Neighbor / Noise2Self) on the other real
  images, degraded and their clean versions dropped (only when training supports ``mode``);
* ``dncnn_mixed``: phantoms + other real images, 50/50 (only when ``train_restorer`` takes
  ``source_weights``; selected on a real validation image when the fold has two other images).

``--networks`` limits the networks trained on real images (each one per fold; the others get an
explained n/a row). A test image is never in the training or validation data of the network that
restores it (the restore stage checks the checkpoint's sidecar). Training budgets are
``--budget-s`` seconds per network on the config's clock (``restore.training.budget_clock``, CPU by
default); the data preparation (the degradations of ``copies`` x training images) comes on top.
Outputs (``--out``, default
``benchmarks/results/real_restoration``): ``per_image.csv/.md`` (PSNR/SSIM in the profile's window,
CPU s per image, device), ``timing_512.csv`` (CPU s of each method on one 512x512 real CT slice),
``verdicts.csv/.md`` and ``report.md`` (all tables). Everything runs single-threaded
(``OMP_NUM_THREADS=1``, one torch thread) so CPU seconds compare fairly. Usage::

    python benchmarks/real_restoration.py                     # full run, 30 s training budget per network
    python benchmarks/real_restoration.py --quick --out /tmp/rr   # smoke test (CT_small + MR_small, 1 level)
    python benchmarks/real_restoration.py --modalities ct --levels moderate --networks real --budget-s 15
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "benchmarks"))

import restoration_quality as rq  # noqa: E402
from mira.config import load_config  # noqa: E402
from mira.ingest import ingest_source  # noqa: E402
from mira.study.degrade_stage import degrade_dataset  # noqa: E402
from mira.study.restore_stage import DenoiseOptions, restore_folder  # noqa: E402
from mira.study.settings import Settings  # noqa: E402

log = logging.getLogger("bench.real")

#: Real test files per modality (pydicom's bundled test files; one file = one fold unit).
REAL_FILES: dict[str, list[str]] = {
    "ct": ["CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"],
    "mri": ["MR_small.dcm", "examples_overlay.dcm"],
    "us": ["examples_palette.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm", "examples_jpeg2k.dcm"],
    "xray": [],
}
QUICK_FILES: dict[str, list[str]] = {"ct": ["CT_small.dcm"], "mri": ["MR_small.dcm"]}
LEVELS = ("mild", "moderate", "severe")
#: The 512x512 real CT slice every method is timed on once.
TIMING_FILE = ("ct", "693_J2KI.dcm")
QUICK_PHANTOMS = 2  # phantom cases per split with --quick
PER_IMAGE_COLUMNS = ("modality", "degradation", "level", "image", "method", "psnr", "ssim", "cpu_s", "device", "note")
VERDICT_COLUMNS = ("modality", "criterion", "method", "level", "value_db", "target_db", "cpu_ratio", "verdict",
                   "detail")
GAIN_MARGIN_DB = 0.3      # learned on real scans must beat BM3D by this much (dB)
CPU_FACTOR = 10.0         # ... at this many times less CPU per image
PHANTOM_TOLERANCE_DB = 1.0  # phantom-trained DnCNN within this of BM3D (dB)
#: Networks trained here: name -> the extra training settings (None: supervised on real images).
SELF_SUPERVISED = {"dncnn_n2n": {"mode": "neighbor2neighbor", "noisy_input": "degrade"},
                   "dncnn_n2s": {"mode": "noise2self", "noisy_input": "degrade"}}
LEARNED = ("zs_n2n", "dncnn_phantom", "dncnn_phantom_raw", "dncnn_real", "dncnn_n2n", "dncnn_n2s", "dncnn_mixed")
REAL_LEARNED = ("zs_n2n", "dncnn_real", "dncnn_n2n", "dncnn_n2s", "dncnn_mixed")


@dataclass
class Run:
    """What one benchmark run measures (from the command line).

    Attributes
    ----------
    cfg : dict
        The validated workflow config (training settings, noise models, degradation overrides).
    seed : int
        Seed of every split, degradation, initialisation and patch stream.
    work, out : Path
        Work folder (datasets, models, restored folders) and the folder of the tables.
    files : dict
        Real test files per modality.
    levels : tuple of str
        Noise levels.
    budget_s : float
        Training budget of every network, seconds (the config's clock, CPU by default).
    quick : bool
        Smoke-test settings (few steps per epoch, first degradation only).
    frames : int
        Frames kept from a multi-frame (cine) file.
    models : Path or None
        Folder of pipeline-trained phantom networks (``dncnn/<modality>/model.pt``).
    features : dict
        Which optional methods are available (zs_n2n, self-supervised modes, mixed sources).
    """

    cfg: dict
    seed: int
    work: Path
    out: Path
    files: dict[str, list[str]]
    levels: tuple[str, ...]
    budget_s: float
    quick: bool
    frames: int
    models: Path | None
    features: dict[str, bool] = field(default_factory=dict)
    zs_max_pixels: int = 64 * 64
    networks: tuple[str, ...] = ("dncnn_real", "dncnn_n2n", "dncnn_n2s", "dncnn_mixed")
    merge: tuple[str, ...] = ()

    def method_params(self) -> dict:
        """Per method, its parameters (the config's ``restore.denoise.params``; zs_n2n 20 iterations with --quick)."""
        params = {k: dict(v or {}) for k, v in dict(self.cfg["restore"]["denoise"]["params"]).items()}
        if self.quick:
            params["zs_n2n"] = {**params.get("zs_n2n", {}), "iterations": 20}
        return params

    def profile(self, modality: str):
        """The modality's resolved profile (config overrides applied)."""
        return Settings.from_config(self.cfg).profile(modality)

    def degradations(self, modality: str) -> list[str]:
        """The modality's restored noise degradations (the first only with ``--quick``)."""
        degs = list(self.cfg["restore"]["denoise"]["degradations"].get(modality, []))
        return degs[:1] if self.quick else degs


def detect_features() -> dict[str, bool]:
    """Which optional parts have landed in mira: ``zs_n2n``, self-supervised ``mode``, ``source_weights``."""
    import mira.restore as restore_pkg
    from mira.restore import settings as rsettings
    from mira.restore import training

    src = inspect.getsource(training)
    return {"zs_n2n": "zs_n2n" in restore_pkg.METHODS,
            "self_supervised": "mode" in rsettings.TRAINING_KEYS and "self_supervised" in src,
            "mixed": "source_weights" in inspect.signature(training.train_restorer).parameters}


def device_name() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"`` (where training with device ``auto`` runs)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ---- data: ingest, folds, degradation ----------------------------------------------------------------


def source_name(modality: str) -> str:
    """The ``inputs:`` source name of a modality's real images (same in every fold: the leak check keys on it)."""
    return f"pydicom_{modality}"


def ingest(run: Run, modality: str, files: Sequence[str], split: str, folder: Path) -> Path:
    """Ingest ``files`` (pydicom test files) into the ``split`` dataset folder under ``folder``; returns it."""
    out = folder / split
    if (out / "manifest.csv").is_file():
        return out
    spec = {"modality": modality, "path": "pydicom:", "include": list(files), "split": {split: 1.0},
            "max_frames": run.frames}
    ingest_source(source_name(modality), spec, {s: folder / s for s in ("train", "val", "test")}, seed=run.seed)
    return out


def paired(run: Run, modality: str, test_dir: Path, degradation: str, level: str) -> Path:
    """The paired (clean, degraded) folder of a fold's test images at one degradation and level."""
    out = test_dir.parent.parent / "degraded" / degradation / level
    if not (out / "pairs.csv").is_file():
        degrade_dataset(test_dir, out, degradation=degradation, level=level, seed=run.seed,
                        source=source_name(modality), split="test", overrides=run.cfg["degrade"]["parameters"],
                        profile=run.profile(modality))
    return out


def phantom_dir(run: Run, modality: str, split: str) -> Path:
    """A phantom dataset folder synthesised from the config (restoration_quality's, in the work folder).

    With ``--quick`` only :data:`QUICK_PHANTOMS` cases per split are synthesised.
    """
    if not run.quick:
        return rq.dataset(run.work / "none", run.work / "phantom", {**run.cfg, "seed": run.seed}, modality, split)

    from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset

    path = run.work / "phantom" / "data" / modality / split
    if not (path / "manifest.csv").is_file():
        spec = SyntheticSpec.from_settings(Settings.from_config(run.cfg).synthesis, "phantom", modality, split,
                                           volume=False)
        write_synthetic_dataset(path, dataclasses.replace(spec, n_cases=QUICK_PHANTOMS), seed=run.seed)
    return path


# ---- networks ------------------------------------------------------------------------------------------


def train_settings(run: Run, extra: dict | None = None) -> tuple[dict, dict]:
    """(architecture parameters, training settings) of DnCNN: the config's, with the benchmark's budget."""
    from mira.restore.settings import TRAINING_KEYS, split_model_config

    rcfg = run.cfg["restore"]
    params, overrides = split_model_config("dncnn", dict(rcfg["models"]["dncnn"]))
    settings = {k: v for k, v in {**rcfg["training"], **overrides}.items() if k in TRAINING_KEYS}
    settings.update(budget_s=float(run.budget_s), threads=1)
    if run.quick:
        settings.update(epochs=2, steps_per_epoch=3, bn_batches=1, patience=2, val_cases=1, copies=1)
    settings.update(extra or {})
    return params, settings


def train(run: Run, path: Path, train_dirs: list[Path], val_dirs: list[Path], extra: dict | None = None,
          **kwargs: Any) -> Path:
    """Train one DnCNN into ``path`` (skipped when it exists); returns the checkpoint."""
    import torch

    from mira.restore.training import train_restorer

    if path.is_file():
        return path
    params, settings = train_settings(run, extra)
    profiles = {m: run.profile(m) for m in ("ct", "mri", "xray", "us")}
    log.info("training %s (budget %.0f s)", path.relative_to(run.work), settings["budget_s"])
    threads = torch.get_num_threads()
    meta = train_restorer("dncnn", train_dirs, val_dirs, path, seed=run.seed, profiles=profiles,
                          arch_params=params, settings=settings, train_noise=run.cfg["restore"]["train_noise"],
                          history_csv=path.with_name("history.csv"), appearance=run.cfg["restore"]["appearance"],
                          **kwargs)
    torch.set_num_threads(threads)
    log.info("  %s: best val PSNR %.2f dB, %d epochs, %.0f s", path.relative_to(run.work), meta["best_val_psnr_db"],
             meta["epochs"], meta["wall_time_s"])
    return path


def phantom_model(run: Run, modality: str) -> Path:
    """The phantom-trained DnCNN of the modality: ``--models`` when it has one, else trained here."""
    if run.models is not None and (run.models / "dncnn" / modality / "model.pt").is_file():
        return run.models / "dncnn" / modality / "model.pt"
    default_budget = None if run.quick else {"budget_s": float(run.cfg["restore"]["models"]["dncnn"]["budget_s"])}
    return train(run, run.work / "models" / "phantom" / modality / "model.pt",
                 [phantom_dir(run, modality, "train")], [phantom_dir(run, modality, "val")], default_budget)


def all_fold_models(run: Run, modality: str, fold: Path, others: list[str], skip: dict | None = None
                    ) -> dict[str, Path | str]:
    """The networks trained on the fold's other real images: name -> checkpoint, or the reason there is none
    (``skip``: names not to train)."""
    skip = skip or {}
    if not others:
        return {n: "no other real image of the modality" for n in ("dncnn_real", *SELF_SUPERVISED, "dncnn_mixed")}
    tr = ingest(run, modality, others, "train", fold / "trainset")
    pval = phantom_dir(run, modality, "val")
    out: dict[str, Path | str] = {}
    if "dncnn_real" not in skip:
        out["dncnn_real"] = _guarded(lambda: train(run, fold / "models" / "dncnn_real" / "model.pt", [tr], [pval]))
    for name, extra in SELF_SUPERVISED.items():
        if name not in skip:
            out[name] = (_guarded(lambda e=extra, n=name: train(run, fold / "models" / n / "model.pt", [tr], [pval],
                                                                  e))
                         if run.features.get("self_supervised") else "training has no self-supervised mode yet")
    if "dncnn_mixed" not in skip:
        out["dncnn_mixed"] = (_guarded(lambda: mixed_model(run, modality, fold, others))
                              if run.features.get("mixed") else "train_restorer has no source_weights yet")
    return out


def fold_models(run: Run, modality: str, fold: Path, others: list[str]) -> dict[str, Path | str]:
    """:func:`all_fold_models`, limited to ``--networks`` (the others: an explained n/a row)."""
    skip = {n: "not trained in this run (--networks)" for n in ("dncnn_real", *SELF_SUPERVISED, "dncnn_mixed")
            if n not in run.networks}
    return {**all_fold_models(run, modality, fold, others, skip), **skip}


def mixed_model(run: Run, modality: str, fold: Path, others: list[str]) -> Path:
    """DnCNN on phantoms + the fold's real images, 50/50, selected on a real image when two are available."""
    real = source_name(modality)
    kwargs: dict[str, Any] = {"source_weights": {"phantom": 0.5, real: 0.5}}
    if len(others) >= 2:
        tr = ingest(run, modality, others[1:], "train", fold / "mixset")
        val = [ingest(run, modality, others[:1], "val", fold / "valset")]
        kwargs["select_source"] = real
    else:
        tr = ingest(run, modality, others, "train", fold / "trainset")
        val = [phantom_dir(run, modality, "val")]
    return train(run, fold / "models" / "dncnn_mixed" / "model.pt", [phantom_dir(run, modality, "train"), tr], val,
                 **kwargs)


def _guarded(fn) -> Path | str:
    """``fn()``, or the error as text (an optional network that fails is reported, not fatal)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        log.warning("training failed: %s: %s", type(exc).__name__, exc)
        return f"training failed: {type(exc).__name__}: {exc}"[:200]


# ---- restoration and scoring ---------------------------------------------------------------------------


def base_methods(run: Run) -> list[str]:
    """The methods that need no network of the benchmark: input, NLM, BM3D and zs_n2n when registered."""
    return ["input", "nlm", "bm3d"] + (["zs_n2n"] if run.features.get("zs_n2n") else [])


def restore_rows(run: Run, modality: str, pdir: Path, method: str, model: Path | str | None,
                 image_of: dict[str, str], degradation: str, level: str) -> list[dict]:
    """Restore one paired folder with one method; one row per case (or one n/a row when no model)."""
    from mira.restore import get_method

    name = "dncnn" if method.startswith("dncnn") else method
    dev = device_name() if get_method(name).deep or method == "zs_n2n" else "cpu"
    if isinstance(model, str):
        return [dict(modality=modality, degradation=degradation, level=level, image=img, method=method,
                     psnr=np.nan, ssim=np.nan, cpu_s=np.nan, device=dev, note=model)
                for img in sorted(set(image_of.values()))]
    guard = None if method.endswith("_raw") else run.cfg["restore"]["denoise"]["guard"]
    opts = DenoiseOptions(noise_model=bool(run.cfg["restore"]["noise_model"]), params=run.method_params(),
                          sigma_mode="estimate", guard=guard)
    out = pdir.parent.parent.parent / "restored" / degradation / level / method
    if (out / "metrics.csv").is_file():
        table = pd.read_csv(out / "metrics.csv")
    else:
        table = restore_folder(pdir, out, name, run.profile(modality), model=model, options=opts)
    wide = table.pivot_table(index="case_id", columns="metric", values="value")
    return [dict(modality=modality, degradation=degradation, level=level, image=case, method=method,
                 psnr=float(r["psnr"]), ssim=float(r["ssim"]), cpu_s=float(r["cpu_s"]), device=dev, note="")
            for case, r in wide.iterrows()]


def run_fold(run: Run, modality: str, test_file: str, others: list[str]) -> list[dict]:
    """Every method on one fold: the test file's images degraded at every degradation and level."""
    fold = run.work / "real" / modality / f"fold_{Path(test_file).stem}"
    test_dir = ingest(run, modality, [test_file], "test", fold / "testset")
    from mira.dataset import Dataset

    image_of = {r.case_id: r.case_id for r in Dataset(test_dir).records}
    nets: dict[str, Path | str | None] = {m: None for m in base_methods(run)}
    nets["dncnn_phantom"] = _guarded(lambda: phantom_model(run, modality))
    nets["dncnn_phantom_raw"] = nets["dncnn_phantom"]  # the same network without the noise-consistency guard
    if "zs_n2n" in nets and max(Dataset(test_dir).load(r).image.size for r in Dataset(test_dir).records) \
            > run.zs_max_pixels:
        nets["zs_n2n"] = (f"skipped: image over --zs-max-pixels {run.zs_max_pixels} (zs_n2n fits 1000 Adam steps "
                          "per image: see its CPU s per 512x512)")
    nets.update(fold_models(run, modality, fold, others))
    rows: list[dict] = []
    for deg in run.degradations(modality):
        for level in run.levels:
            pdir = paired(run, modality, test_dir, deg, level)
            for method, model in nets.items():
                rows += restore_rows(run, modality, pdir, method, model, image_of, deg, level)
                ok = [r for r in rows[-len(image_of):] if np.isfinite(r["psnr"])]
                if ok:
                    log.info("%s %s %s %s %s: PSNR %.2f dB, %.2f s CPU/image", modality, Path(test_file).stem,
                             deg, level, method, np.mean([r["psnr"] for r in ok]),
                             np.mean([r["cpu_s"] for r in ok]))
    return rows


def time_512(run: Run, models: dict[str, Path]) -> pd.DataFrame:
    """CPU seconds of every method on one real 512x512 CT slice (low-dose, moderate), each run once.

    With ``--quick`` the slice is CT_small (128x128) and the seconds are scaled by the pixel ratio (x16).
    """
    import time as _t

    from mira.dataset import Dataset
    from mira.degrade import apply
    from mira.restore import restore

    mod, name = ("ct", "CT_small.dcm") if run.quick else TIMING_FILE
    folder = ingest(run, mod, [name], "test", run.work / "timing" / Path(name).stem)
    ds = Dataset(folder)
    case = ds.load(ds.records[0])
    prof = run.profile(mod)
    deg = apply("low_dose", case.image, "moderate", np.random.default_rng(run.seed), profile=prof,
                spacing=case.spacing[-2:])
    rows = []
    params = run.method_params()
    for method in base_methods(run) + sorted(models):
        name_ = "dncnn" if method.startswith("dncnn") else method
        img = deg.image
        if method == "zs_n2n" and img.size > run.zs_max_pixels:  # too slow whole: a centre crop, scaled
            h = int(np.sqrt(run.zs_max_pixels))
            img = img[(img.shape[0] - h) // 2:(img.shape[0] + h) // 2, (img.shape[1] - h) // 2:(img.shape[1] + h) // 2]
        t0 = _t.process_time()
        restore(name_, img, prof, model=models.get(method), **(params.get(method, {}) if name_ != "dncnn" else {}))
        cpu = (_t.process_time() - t0) * 512 * 512 / img.size
        rows.append({"method": method, "cpu_s_512": cpu, "shape": "x".join(map(str, img.shape)),
                     "scaled": img.size != 512 * 512, "device": device_name() if method in LEARNED else "cpu"})
        log.info("timing %s on %s: %.2f s CPU per 512x512", method, rows[-1]["shape"], cpu)
    return pd.DataFrame(rows)


# ---- verdicts ------------------------------------------------------------------------------------------


def _paired_gain(df: pd.DataFrame, method: str, ref: str) -> pd.DataFrame:
    """Per (degradation, level, image): PSNR of ``method`` minus that of ``ref`` (dB) and both CPU seconds."""
    key = ["modality", "degradation", "level", "image"]
    a = df[df.method == method].set_index(key)[["psnr", "cpu_s"]]
    b = df[df.method == ref].set_index(key)[["psnr", "cpu_s"]]
    j = a.merge(b, left_index=True, right_index=True, suffixes=("", "_ref")).dropna()
    j["gain"] = j["psnr"] - j["psnr_ref"]
    return j.reset_index()


def never_below_input(df: pd.DataFrame) -> list[dict]:
    """Per learned method, modality and level: the minimum over images (and degradations) of the PSNR gain
    over the noisy input; FAIL (naming the images) when any is negative."""
    rows = []
    for (mod, method), _ in df[df.method.isin(LEARNED)].groupby(["modality", "method"], sort=False):
        j = _paired_gain(df[df.modality == mod], method, "input")
        for level, g in j.groupby("level", sort=False):
            worst = g.loc[g["gain"].idxmin()]
            below = g[g["gain"] < 0]
            rows.append(dict(modality=mod, criterion="never below the noisy input", method=method, level=level,
                             value_db=float(worst["gain"]), target_db=0.0, cpu_ratio=np.nan,
                             verdict="PASS" if below.empty else "FAIL",
                             detail=(f"min at {worst['image']} ({worst['degradation']})" if below.empty else
                                     "below input: " + ", ".join(f"{r.image} ({r.degradation}, {r.gain:+.2f} dB)"
                                                                 for r in below.itertuples()))))
    return rows


def beats_bm3d(df: pd.DataFrame) -> list[dict]:
    """Per modality and learned-on-real-scans method: mean paired PSNR gain over BM3D (all images, levels,
    degradations) against +0.3 dB, and BM3D's CPU per image over the method's against 10x."""
    rows = []
    crit = f"learned on real scans >= BM3D + {GAIN_MARGIN_DB} dB at >= {CPU_FACTOR:g}x less CPU/image"
    for mod in df.modality.unique():
        for method in REAL_LEARNED:
            j = _paired_gain(df[df.modality == mod], method, "bm3d")
            if j.empty:
                continue
            gain = float(j["gain"].mean())
            ratio = float(j["cpu_s_ref"].mean() / max(j["cpu_s"].mean(), 1e-9))
            ok_q, ok_c = gain >= GAIN_MARGIN_DB, ratio >= CPU_FACTOR
            why = [] if ok_q else [f"quality short by {GAIN_MARGIN_DB - gain:.2f} dB"]
            why += [] if ok_c else [f"CPU ratio {ratio:.1f}x < {CPU_FACTOR:g}x"]
            rows.append(dict(modality=mod, criterion=crit, method=method, level="all", value_db=gain,
                             target_db=GAIN_MARGIN_DB, cpu_ratio=ratio, verdict="met" if ok_q and ok_c else "missed",
                             detail="; ".join(why) or f"margin {gain - GAIN_MARGIN_DB:+.2f} dB, n={len(j)}"))
    return rows


def phantom_near_bm3d(df: pd.DataFrame) -> list[dict]:
    """Per modality: mean paired PSNR of the phantom-trained DnCNN minus BM3D's, against -1 dB."""
    rows = []
    for mod in df.modality.unique():
        j = _paired_gain(df[df.modality == mod], "dncnn_phantom", "bm3d")
        if j.empty:
            continue
        gain = float(j["gain"].mean())
        ratio = float(j["cpu_s_ref"].mean() / max(j["cpu_s"].mean(), 1e-9))
        rows.append(dict(modality=mod, criterion=f"phantom-trained DnCNN within {PHANTOM_TOLERANCE_DB:g} dB of BM3D",
                         method="dncnn_phantom", level="all", value_db=gain, target_db=-PHANTOM_TOLERANCE_DB,
                         cpu_ratio=ratio, verdict="met" if gain >= -PHANTOM_TOLERANCE_DB else "missed",
                         detail=(f"margin {gain + PHANTOM_TOLERANCE_DB:+.2f} dB, n={len(j)}")))
    return rows


def verdicts(df: pd.DataFrame, missing: Sequence[str] = ()) -> pd.DataFrame:
    """The verdict table (:data:`VERDICT_COLUMNS`) of a per-image table (:data:`PER_IMAGE_COLUMNS`).

    ``missing`` names modalities without real images (one ``not measured`` row each).
    """
    rows = never_below_input(df) + beats_bm3d(df) + phantom_near_bm3d(df)
    rows += [dict(modality=m, criterion="all", method="-", level="-", value_db=np.nan, target_db=np.nan,
                  cpu_ratio=np.nan, verdict="not measured", detail="no real image of this modality is bundled "
                  "with pydicom (offline): nothing to measure") for m in missing]
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


# ---- tables --------------------------------------------------------------------------------------------


def markdown(df: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """A DataFrame as a markdown table (NaN as an em dash)."""
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "—" if not np.isfinite(v) else floats.format(v)
        return str(v).replace("|", "/")

    lines = ["| " + " | ".join(df.columns) + " |", "| " + " | ".join("---" for _ in df.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR (dB), SSIM and CPU s/image per modality, level and method (over images and degradations)."""
    ok = df.dropna(subset=["psnr"])
    g = ok.groupby(["modality", "level", "method"], sort=False)
    s = g.agg(n=("psnr", "size"), psnr=("psnr", "mean"), ssim=("ssim", "mean"), cpu_s=("cpu_s", "mean"))
    return s.reset_index()


def write_tables(run: Run, df: pd.DataFrame, timing: pd.DataFrame, verdict: pd.DataFrame, wall_s: float) -> str:
    """Write the CSV and markdown tables into ``run.out``; returns the markdown report."""
    run.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(run.out / "per_image.csv", index=False)
    timing.to_csv(run.out / "timing_512.csv", index=False)
    verdict.to_csv(run.out / "verdicts.csv", index=False)
    summ = summary(df)
    summ.to_csv(run.out / "summary.csv", index=False)
    head = (f"Real-image denoising (pydicom test files, split by image, seed {run.seed}, levels "
            f"{', '.join(run.levels)}, training budget {run.budget_s:g} s per network, device {device_name()}, "
            f"1 thread; optional parts: {run.features}). X-ray: no real X-ray image is bundled with pydicom "
            "(offline), not measured.\n")
    slow = timing[timing.method == "bm3d"]["cpu_s_512"]
    bm3d = f" BM3D is slow: {float(slow.iloc[0]):.1f} s CPU per 512x512 slice." if len(slow) else ""
    parts = [f"# Real-image restoration benchmark\n\n{head}",
             "## Per image (PSNR dB / SSIM in the profile's window, CPU s per image)\n\n"
             + markdown(df, "{:.3f}"),
             "## Mean over images and degradations\n\n" + markdown(summ, "{:.3f}"),
             f"## CPU seconds per 512x512 slice (each method once, real CT 693_J2KI, low-dose moderate).{bm3d}\n\n"
             + markdown(timing, "{:.2f}"),
             "## Verdicts\n\n" + markdown(verdict, "{:.2f}"),
             f"benchmark wall time {wall_s:.0f} s; work folder {run.work}\n"]
    report = "\n".join(parts)
    (run.out / "per_image.md").write_text(parts[1])
    (run.out / "verdicts.md").write_text(parts[4])
    (run.out / "report.md").write_text(report)
    return report


# ---- command line --------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> Run:
    """The :class:`Run` of the command line."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "real_restoration"),
                    help="folder of the tables (csv, md)")
    ap.add_argument("--work", default=None, help="work folder, reused when given (default: a new temporary folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=30.0, help="training budget per network, seconds")
    ap.add_argument("--levels", nargs="*", default=list(LEVELS))
    ap.add_argument("--modalities", nargs="*", default=None)
    ap.add_argument("--frames", type=int, default=2, help="frames kept from a cine file (one fold)")
    ap.add_argument("--models", default=None, help="pipeline models folder (dncnn/<modality>/model.pt)")
    ap.add_argument("--zs-max-pixels", type=int, default=64 * 64,
                    help="zs_n2n only on images up to this many pixels (it is slow on the CPU)")
    ap.add_argument("--networks", nargs="*", default=["real", "n2n", "n2s", "mixed"],
                    choices=["real", "n2n", "n2s", "mixed"], help="networks trained on the real images")
    ap.add_argument("--merge", nargs="*", default=[], help="only combine the tables of these earlier --out folders")
    ap.add_argument("--quick", action="store_true", help="smoke test: CT_small + MR_small, moderate, tiny budgets")
    a = ap.parse_args(argv)
    files = QUICK_FILES if a.quick else REAL_FILES
    if a.modalities:
        files = {m: files.get(m, []) for m in a.modalities}
    out = Path(a.out)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="mira-bench-real-"))
    return Run(cfg=load_config(a.config), seed=a.seed, work=work, out=out,
               files=files, levels=("moderate",) if a.quick else tuple(a.levels),
               budget_s=min(a.budget_s, 2.0) if a.quick else a.budget_s, quick=a.quick, frames=a.frames,
               models=Path(a.models) if a.models else None, zs_max_pixels=a.zs_max_pixels,
               networks=tuple(f"dncnn_{n}" for n in a.networks), merge=tuple(a.merge))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables and write them under ``--out``."""
    import torch

    torch.set_num_threads(1)
    run = parse(argv)
    if run.merge:
        return merge(run)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("mira.study.restore_stage", "mira.restore.training", "mira.ingest", "mira.study.degrade_stage",
                 "mira.study.data_stage"):
        logging.getLogger(name).setLevel(logging.WARNING)
    run.features = detect_features()
    log.info("optional parts: %s; device %s", run.features, device_name())
    t0 = time.perf_counter()
    rows: list[dict] = []
    timing_models: dict[str, Path] = {}
    for mod, files in run.files.items():
        for test_file in files:
            others = [f for f in files if f != test_file]
            rows += run_fold(run, mod, test_file, others)
        if mod == "ct":
            timing_models = timing_networks(run, files)
    df = pd.DataFrame(rows, columns=list(PER_IMAGE_COLUMNS))
    timing = time_512(run, timing_models)
    missing = [m for m, f in run.files.items() if not f]
    verdict = verdicts(df, missing)
    report = write_tables(run, df, timing, verdict, time.perf_counter() - t0)
    print(report)
    return 0


def merge(run: Run) -> int:
    """Combine the tables of earlier runs (``--merge DIR...``, e.g. one per modality) into ``--out``.

    The per-image rows are concatenated; the 512x512 timing is the one with the most methods; the
    verdicts are recomputed. ``--seed``, ``--levels`` and ``--budget-s`` should be those of the runs
    (they only label the report).
    """
    run.features = detect_features()
    df = pd.concat([pd.read_csv(Path(d) / "per_image.csv", keep_default_na=False, na_values=[""])
                    for d in run.merge], ignore_index=True)
    for col in ("psnr", "ssim", "cpu_s"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    timings = [pd.read_csv(Path(d) / "timing_512.csv") for d in run.merge]
    timing = max(timings, key=len)
    missing = [m for m, f in REAL_FILES.items() if not f and m not in set(df.modality)]
    run.work = Path("(merged: " + ", ".join(str(d) for d in run.merge) + ")")
    print(write_tables(run, df, timing, verdicts(df, missing), 0.0))
    return 0


def timing_networks(run: Run, ct_files: Sequence[str]) -> dict[str, Path]:
    """The CT networks timed on the 512x512 slice: the phantom DnCNN and those of the timing file's fold."""
    nets: dict[str, Path] = {}
    if (phantom := _guarded(lambda: phantom_model(run, "ct"))) and isinstance(phantom, Path):
        nets["dncnn_phantom"] = phantom
    name = "CT_small.dcm" if run.quick else TIMING_FILE[1]
    models = run.work / "real" / "ct" / f"fold_{Path(name).stem}" / "models"
    for sub in ("dncnn_real", *SELF_SUPERVISED, "dncnn_mixed"):
        if (models / sub / "model.pt").is_file():
            nets[sub] = models / sub / "model.pt"
    return nets


if __name__ == "__main__":
    sys.exit(main())

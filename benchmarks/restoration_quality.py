"""Restoration benchmark: the issue's quality and speed targets on the pipeline's synthetic test split.

Prints, per modality at the benchmark noise level (default ``moderate``): the noisy input, every
classical denoiser, BM3D and DnCNN (PSNR and SSIM mean ± sd over the test cases, CPU seconds per
image), then super-resolution at x2, x3, x4 (bicubic and the other kernels, SRCNN, EDSR-style), and
the targets table (paired per-case differences, met / missed and by how much).

It reads what the pipeline wrote when present, and makes what is missing with the same package
functions and the same seeds (so the numbers are those of the pipeline):

* test phantoms ``results/data/phantom/<modality>/test`` (else synthesised from the config);
* paired folders ``results/degraded/phantom/<modality>/test/<degradation>/<level>`` (else degraded);
* networks ``results/models/{dncnn/<modality>, srcnn/x<s>, edsr/x<s>}/model.pt`` (else trained from the
  training split with the config's settings and budgets: by default DnCNN 150 s per modality, SRCNN
  60 s and EDSR 90 s per scale of wall time on the configured threads; ``--budget-scale`` scales them).

Restoration runs single-threaded (``OMP_NUM_THREADS=1``, one torch thread) so CPU seconds per image
compare methods fairly. Usage::

    python benchmarks/restoration_quality.py                      # default config, moderate noise
    python benchmarks/restoration_quality.py --modalities ct mri --scales 2 --out /tmp/bench
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from mira.config import load_config  # noqa: E402
from mira.restore import get_method  # noqa: E402
from mira.restore.training import train_restorer  # noqa: E402
from mira.study.data_stage import SyntheticSpec, write_synthetic_dataset  # noqa: E402
from mira.study.degrade_stage import degrade_dataset  # noqa: E402
from mira.study.report.restoration_targets import summarise, targets_markdown, targets_table  # noqa: E402
from mira.study.restore_stage import DenoiseOptions, restore_folder  # noqa: E402
from mira.study.settings import Settings  # noqa: E402

log = logging.getLogger("bench")


def dataset(results: Path, work: Path, cfg: dict, modality: str, split: str) -> Path:
    path = results / "data" / "phantom" / modality / split
    if (path / "manifest.csv").is_file():
        return path
    path = work / "data" / modality / split
    if not (path / "manifest.csv").is_file():
        log.info("synthesising %s %s", modality, split)
        synthesis = Settings.from_config(cfg).synthesis
        spec = SyntheticSpec.from_settings(synthesis, "phantom", modality, split, volume=False)
        write_synthetic_dataset(path, spec, seed=cfg["seed"])
    return path


def paired(results: Path, work: Path, cfg: dict, modality: str, degradation: str, level: str) -> Path:
    path = results / "degraded" / "phantom" / modality / "test" / degradation / level
    if (path / "pairs.csv").is_file():
        return path
    path = work / "degraded" / modality / degradation / level
    if not (path / "pairs.csv").is_file():
        log.info("degrading %s %s %s", modality, degradation, level)
        degrade_dataset(dataset(results, work, cfg, modality, "test"), path, degradation=degradation, level=level,
                        seed=cfg["seed"], source="phantom", split="test", overrides=cfg["degrade"]["parameters"],
                        profile=Settings.from_config(cfg).profile(modality))
    return path


def model(results: Path, work: Path, cfg: dict, arch: str, target: str, budget_scale: float) -> Path:
    path = results / "models" / arch / target / "model.pt"
    if path.is_file():
        return path
    path = work / "models" / arch / target / "model.pt"
    if path.is_file():
        return path
    rcfg = cfg["restore"]
    section = dict(rcfg["models"][arch])
    from mira.restore.settings import split_model_config

    params, overrides = split_model_config(arch, section)
    settings = {**rcfg["training"], **overrides}
    settings["budget_s"] = float(settings.get("budget_s", 0)) * budget_scale
    mods = [target] if arch == "dncnn" else [m for m in rcfg["sr"]["train_modalities"] if m in cfg["modalities"]]
    scale = int(target[1:]) if arch != "dncnn" else 1
    log.info("training %s %s (budget %.0f s wall, %d threads)", arch, target, settings["budget_s"], settings["threads"])
    import torch

    threads = torch.get_num_threads()
    meta = train_restorer(arch, [dataset(results, work, cfg, m, "train") for m in mods],
                          [dataset(results, work, cfg, m, "val") for m in mods], path, seed=cfg["seed"], scale=scale,
                          profiles=Settings.from_config(cfg).profiles,
                          arch_params=params, settings=settings, train_noise=rcfg["train_noise"],
                          history_csv=path.with_name("history.csv"))
    torch.set_num_threads(threads)
    log.info("  best val PSNR %.2f dB, %d epochs, %.0f s",
             meta["best_val_psnr_db"], meta["epochs"], meta["wall_time_s"])
    return path


def table(summary: pd.DataFrame, title: str) -> str:
    wide = summary.pivot_table(index=["modality", "degradation", "level", "method"], columns="metric",
                               values=["mean", "sd", "n"], sort=False)
    lines = [f"### {title}", "", "| modality | degradation | level | method | n | PSNR (dB) | SSIM | CPU s/image |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for (mod, deg, lvl, meth), r in wide.iterrows():
        lines.append(f"| {mod} | {deg} | {lvl} | {meth} | {int(r[('n', 'psnr')])} | {r[('mean', 'psnr')]:.2f} ± "
                     f"{r[('sd', 'psnr')]:.2f} | {r[('mean', 'ssim')]:.4f} ± {r[('sd', 'ssim')]:.4f} | "
                     f"{r[('mean', 'cpu_s')]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--out", default=None, help="work folder (default: a temporary folder)")
    ap.add_argument("--level", default=None, help="noise level (default: restore.benchmark_level)")
    ap.add_argument("--modalities", nargs="*", default=None)
    ap.add_argument("--scales", nargs="*", type=int, default=None)
    ap.add_argument("--methods", nargs="*", default=None, help="denoising methods (default: restore.denoise.methods)")
    ap.add_argument("--budget-scale", type=float, default=1.0, help="multiply the training budgets of missing models")
    ap.add_argument("--sigma", choices=["estimate", "oracle"], default=None,
                    help="noise level of the classical denoisers (default: restore.denoise.sigma)")
    ap.add_argument("--csv", default=None, help="also write the per-case rows here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("mira.study.restore_stage", "mira.restore.training"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cfg = load_config(args.config)
    rcfg = cfg["restore"]
    settings = Settings.from_config(cfg)
    results = Path(args.results)
    level = args.level or rcfg["benchmark_level"]
    mods = args.modalities or list(cfg["modalities"])
    scales = args.scales if args.scales is not None else list(rcfg["sr"]["scales"])
    den_methods = args.methods or list(rcfg["denoise"]["methods"])
    if "input" not in den_methods:
        den_methods = ["input"] + den_methods
    sr_methods = list(rcfg["sr"]["methods"])
    tmp = tempfile.TemporaryDirectory(prefix="mira-bench-") if args.out is None else None
    work = Path(args.out or tmp.name)
    metrics = []
    t0 = time.perf_counter()
    for mod in mods:
        degs = rcfg["denoise"]["degradations"].get(mod, [])
        for deg in degs:
            pdir = paired(results, work, cfg, mod, deg, level)
            for meth in den_methods:
                mdl = model(results, work, cfg, "dncnn", mod, args.budget_scale) if get_method(meth).deep else None
                out = work / "restored" / mod / deg / level / meth
                options = DenoiseOptions(noise_model=rcfg["noise_model"], params=rcfg["denoise"]["params"],
                                         sigma_mode=args.sigma or rcfg["denoise"]["sigma"])
                metrics.append(restore_folder(pdir, out, meth, settings.profile(mod), model=mdl, options=options))
                r = metrics[-1]
                log.info("%s %s %s %s: PSNR %.2f dB, %.3f s CPU/image", mod, deg, level, meth,
                         r[r.metric == "psnr"]["value"].mean(), r[r.metric == "cpu_s"]["value"].mean())
        for s in scales:
            pdir = paired(results, work, cfg, mod, "downsample", f"x{s}")
            for meth in sr_methods:
                mdl = model(results, work, cfg, meth, f"x{s}", args.budget_scale) if get_method(meth).deep else None
                out = work / "restored" / mod / "downsample" / f"x{s}" / meth
                metrics.append(restore_folder(pdir, out, meth, settings.profile(mod), model=mdl))
    df = pd.concat(metrics, ignore_index=True)
    if args.csv:
        df.to_csv(args.csv, index=False)
    summ = summarise(df)
    den = summ[summ["degradation"] != "downsample"]
    sr = summ[summ["degradation"] == "downsample"]
    print()
    if len(den):
        print(table(den, f"Denoising at {level} noise (mean ± sd over the test cases)"))
    if len(sr):
        print(table(sr, "Super-resolution (mean ± sd over the test cases)"))
    print(targets_markdown(targets_table(df, level=level), f"Targets ({level} noise, SR x2)"))
    print(f"benchmark wall time {time.perf_counter() - t0:.0f} s; work folder {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Augmentation throughput: mira vs TorchIO vs MONAI, same transforms, same machine, same run.

The standard random pipeline of the issue -- affine (rotation +-3 deg, translation +-5 mm, scale
0.95-1.05), elastic deformation (<= 3 mm, control points every 24 mm), Gaussian noise and an MRI
bias field (order 3, strength 0.3) -- applied to an image AND its label map (linear / nearest),
on 256x256 slices and 128^3 volumes at 1 mm spacing. Reported: images (volumes) per second,
median of ``--repeats`` timed runs after a warm-up, every library limited to ``--threads`` threads
(torch and SimpleITK).

Each peer library is timed twice: as users usually write it (affine and elastic as two
transforms, i.e. two resamplings) and in its single-resampling variant where one exists
(``tio.RandomAffineElasticDeformation``; MONAI's ``Rand{2,3}DElasticd`` with affine ranges).

Not a test: run it by hand (``pip install -r benchmarks/requirements-bench.txt`` first)::

    python benchmarks/augment_throughput.py            # full run (a few minutes)
    python benchmarks/augment_throughput.py --quick    # smoke run
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

ROT_DEG, TRANS_MM, SCALE, ELASTIC_MM, CTRL_MM, NOISE, BIAS = 3.0, 5.0, 0.05, 3.0, 24.0, (0.005, 0.02), 0.3


def phantom(shape, seed=0):
    """An MRI-like magnitude image with a few labelled ellipsoids (content does not affect speed)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    lab = np.zeros(shape, np.uint8)
    for k in range(1, 6):
        c = rng.uniform(-0.4, 0.4, len(shape))
        r = rng.uniform(0.15, 0.45, len(shape))
        lab[sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, r)) < 1] = k
    levels = np.array([0, 0.3, 0.5, 0.7, 0.8, 0.9], np.float32)
    img = (levels[lab] + rng.normal(0, 0.01, shape)).clip(0).astype(np.float32)
    return img, lab


# ---- the three implementations -------------------------------------------------------------------


def mira_pipeline(ndim):
    from mira.augment import Compose, ElasticDeformation, RandomAffine, RandomBiasField, RandomNoise, Sample
    from mira.modalities import get_profile

    prof = get_profile("mri")
    pipe = Compose([RandomAffine(degrees=ROT_DEG, translation_mm=TRANS_MM, scales=(1 - SCALE, 1 + SCALE), shear_deg=0.0,
                                 modality=prof),
                    ElasticDeformation(max_displacement_mm=ELASTIC_MM, control_spacing_mm=CTRL_MM, modality=prof),
                    RandomNoise(sigma_range=NOISE, kind="gaussian", modality=prof),
                    RandomBiasField(max_strength=BIAS, order=3, modality=prof)])
    rng = np.random.default_rng(0)

    def prepare(img, lab):
        return Sample(img, lab, modality="mri")

    def run(sample):
        out = pipe(sample, rng)
        return out.image, out.label

    return prepare, run


def torchio_pipeline(ndim, fused):
    import torch
    import torchio as tio

    n_ctrl = None

    def prepare(img, lab):
        nonlocal n_ctrl
        t = torch.from_numpy(img)[None]
        lt = torch.from_numpy(lab.astype(np.int16))[None]
        if ndim == 2:
            t, lt = t[..., None], lt[..., None]
        n_ctrl = tuple(max(5, int(round(n / CTRL_MM)) + 1) for n in img.shape) + ((5,) if ndim == 2 else ())
        return tio.Subject(image=tio.ScalarImage(tensor=t), label=tio.LabelMap(tensor=lt))

    def build():
        maxd = (ELASTIC_MM, ELASTIC_MM, 0.0) if ndim == 2 else ELASTIC_MM
        deg = (-ROT_DEG, ROT_DEG) if ndim == 3 else (0, 0, 0, 0, -ROT_DEG, ROT_DEG)
        trans = (-TRANS_MM, TRANS_MM) if ndim == 3 else (-TRANS_MM, TRANS_MM, -TRANS_MM, TRANS_MM, 0, 0)
        aff = dict(scales=(1 - SCALE, 1 + SCALE), degrees=deg, translation=trans, isotropic=True, default_pad_value=0)
        ela = dict(num_control_points=n_ctrl, max_displacement=maxd, locked_borders=2)
        spatial = [tio.RandomAffineElasticDeformation(affine_kwargs=aff, elastic_kwargs=ela)] if fused else \
            [tio.RandomAffine(**aff), tio.RandomElasticDeformation(**ela)]
        return tio.Compose([*spatial, tio.RandomNoise(std=NOISE), tio.RandomBiasField(coefficients=BIAS, order=3)])

    pipe = None

    def run(subject):
        nonlocal pipe
        if pipe is None:
            pipe = build()
        out = pipe(subject)
        return out["image"].data, out["label"].data

    return prepare, run


def monai_pipeline(ndim, fused):
    import monai.transforms as mt

    rot = math.radians(ROT_DEG)
    rot_range = (rot,) if ndim == 2 else (rot, rot, rot)
    aff = dict(rotate_range=rot_range, translate_range=(TRANS_MM,) * ndim, scale_range=(SCALE,) * ndim)
    keys, modes = ["image", "label"], ("bilinear", "nearest")
    if ndim == 2:
        elastic = dict(spacing=(CTRL_MM, CTRL_MM), magnitude_range=(0.0, ELASTIC_MM))
        cls = mt.Rand2DElasticd
    else:
        elastic = dict(sigma_range=(6.0, 8.0), magnitude_range=(0.0, ELASTIC_MM * 10))
        cls = mt.Rand3DElasticd
    if fused:
        spatial = [cls(keys=keys, prob=1.0, mode=modes, padding_mode="zeros", **elastic, **aff)]
    else:
        spatial = [mt.RandAffined(keys=keys, prob=1.0, mode=modes, padding_mode="zeros", **aff),
                   cls(keys=keys, prob=1.0, mode=modes, padding_mode="zeros", **elastic)]
    pipe = mt.Compose([*spatial, mt.RandGaussianNoised(keys="image", prob=1.0, std=NOISE[1]),
                       mt.RandBiasFieldd(keys="image", degree=3, coeff_range=(0.0, BIAS), prob=1.0)])
    pipe.set_random_state(seed=0)

    def prepare(img, lab):
        return {"image": img[None], "label": lab[None].astype(np.float32)}

    def run(d):
        out = pipe(d)
        return out["image"], out["label"]

    return prepare, run


# ---- timing -------------------------------------------------------------------------------------


def throughput(factory, shape, n, repeats):
    prepare, run = factory()
    data = [prepare(*phantom(shape, seed=i)) for i in range(min(n, 4))]
    for d in data[:2]:
        run(d)  # warm-up (imports, caches, thread pools)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            run(data[i % len(data)])
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n2d", type=int, default=40, help="2D images per timed run")
    ap.add_argument("--n3d", type=int, default=3, help="3D volumes per timed run")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = ap.parse_args(argv)

    import monai
    import SimpleITK as sitk
    import torch
    import torchio

    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    cases = [("2D 256x256", (256, 256), args.n2d), ("3D 128^3", (128, 128, 128), args.n3d)]
    if args.quick:
        cases = [("2D 64x64", (64, 64), 4), ("3D 32^3", (32, 32, 32), 2)]
        args.repeats = 1
    libs = [
        ("mira (one resampling)", lambda nd: mira_pipeline(nd)),
        ("TorchIO (affine, then elastic)", lambda nd: torchio_pipeline(nd, fused=False)),
        ("TorchIO RandomAffineElasticDeformation", lambda nd: torchio_pipeline(nd, fused=True)),
        ("MONAI (RandAffined, then Rand{2,3}DElasticd)", lambda nd: monai_pipeline(nd, fused=False)),
        ("MONAI Rand{2,3}DElasticd with affine ranges", lambda nd: monai_pipeline(nd, fused=True)),
    ]
    results = {}
    for label, shape, n in cases:
        for name, fac in libs:
            rate = throughput(lambda fac=fac, shape=shape: fac(len(shape)), shape, n, args.repeats)
            results[(label, name)] = rate
            print(f"{label:12s} {name:48s} {rate:8.2f} /s", flush=True)
    lines = [f"Augmentation throughput (images or volumes per second, median of {args.repeats}; image + label map; "
             f"{args.threads} threads; {platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"TorchIO {torchio.__version__}, MONAI {monai.__version__})", "",
             "| pipeline | " + " | ".join(c[0] for c in cases) + " |", "|---|" + "---|" * len(cases)]
    for name, _ in libs:
        lines.append(f"| {name} | " + " | ".join(f"{results[(c[0], name)]:.2f}" for c in cases) + " |")
    lines.append("")
    for c in cases:
        m = results[(c[0], libs[0][0])]
        ratios = ", ".join(f"{m / results[(c[0], name)]:.1f}x {name}" for name, _ in libs[1:])
        lines.append(f"- {c[0]}: mira = {ratios}")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()

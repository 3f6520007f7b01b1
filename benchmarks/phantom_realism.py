"""Phantom realism: texture statistics of mira's phantoms against real scans, per modality.

Real samples are pydicom's bundled test files, read through ``mira.ingest`` (CT in HU, MRI
magnitude, ultrasound B-mode 0..1). Phantoms are ``mira.synthesis.synthesize_case`` at the default
size (128 px over the modality's field of view: CT 2.97 mm, MRI 1.72 mm, US 0.94 mm pixels) for
``--seeds`` seeds (median reported), plus one larger size (``--size-hi``, finer pixels).

Statistics (``mira.metrics.texture_stats``), inside the tissue mask (CT -200..300 HU; MRI above
15 % of the 99th percentile; US the scanned sector):

* ``slope_mm``: log-log slope of the radially averaged power spectrum over a fixed band in
  cycles/mm per modality (``BANDS``; inside every image's Nyquist frequency);
* ``slope_px``: the same over 0.1..0.5 of the image's own Nyquist frequency (pixel scale);
* ``lstd%``: median local SD in 5 x 5 **pixel** windows, % of the display window (CT 400 HU,
  MRI the 99th tissue percentile, US 1.0);
* ``flat%``: % of 5 x 5-pixel windows with local SD < 0.5 % of the window (posterisation cue);
* ``g50%`` / ``g90%``: gradient-magnitude percentiles, % of the window per pixel.

X-ray phantoms have no real sample offline (pydicom ships no radiograph), so they are not compared.
``693_J2KI.dcm`` is lossy JPEG 2000 and visibly posterised itself: listed, left out of the reference.
Real images carry their own acquisition noise, phantoms none, so real local SD is an upper bound.

Not a test: run by hand::

    python benchmarks/phantom_realism.py            # table (about 15 s)
    python benchmarks/phantom_realism.py --seeds 3  # quicker
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from mira.metrics.texture_stats import TextureStats, texture_summary  # noqa: E402

#: (file, modality, used in the reference) -- pydicom test files
REAL = [
    ("CT_small.dcm", "ct", True), ("J2K_pixelrep_mismatch.dcm", "ct", True), ("693_J2KI.dcm", "ct", False),
    ("MR_small.dcm", "mri", True), ("examples_overlay.dcm", "mri", True),
    ("examples_palette.dcm", "us", True), ("examples_ybr_color.dcm", "us", True),
    ("examples_rgb_color.dcm", "us", False), ("examples_jpeg2k.dcm", "us", False),
]
#: PSD fit band per modality, cycles/mm (inside the Nyquist frequency of every image compared)
BANDS = {"ct": (0.03, 0.15), "mri": (0.05, 0.25), "us": (0.05, 0.4)}
COLS = ("slope_mm", "slope_px", "local_std", "flat", "grad50", "grad90")


def load_real(name: str, modality: str) -> tuple[np.ndarray, tuple[float, float]]:
    """First 2D frame of a pydicom test file through mira.ingest: (image in native units, spacing mm)."""
    from pydicom.data import get_testdata_file

    from mira.ingest import load_series

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = load_series(get_testdata_file(name), modality)[0]
    img = np.asarray(case.image, dtype=np.float64)
    img = img.reshape(img.shape[-2:]) if img.ndim == 3 and img.shape[0] == 1 else img
    img = img[0] if img.ndim == 3 else img
    return img, (float(case.spacing[-2]), float(case.spacing[-1]))


def phantom_stats(modality: str, seeds: int, size: int = 128) -> tuple[dict[str, float], float]:
    """Median statistics over ``seeds`` phantoms of ``size`` pixels, and seconds per phantom."""
    from mira.synthesis import synthesize_case

    rows, t = [], 0.0
    for seed in range(seeds):
        t0 = time.perf_counter()
        case = synthesize_case(modality, np.random.default_rng(1000 + seed), size=size)
        t += time.perf_counter() - t0
        rows.append(texture_summary(case.image, modality, case.spacing, BANDS[modality]).as_dict())
    return {k: float(np.median([r[k] for r in rows])) for k in COLS}, t / seeds


def _fmt(name: str, px: float, d: dict[str, float], note: str = "") -> str:
    return (f"  {name:<28s} {px:6.2f} {d['slope_mm']:9.2f} {d['slope_px']:9.2f} {100 * d['local_std']:7.2f} "
            f"{100 * d['flat']:6.1f} {100 * d['grad50']:6.2f} {100 * d['grad90']:6.2f}  {note}")


def table(seeds: int, size_hi: int) -> dict[str, dict[str, dict[str, float]]]:
    """Print the comparison table; return ``{modality: {"real": stats, "phantom": stats}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    head = f"  {'sample':<28s} {'px mm':>6s} {'slope_mm':>9s} {'slope_px':>9s} {'lstd%':>7s} {'flat%':>6s} " \
           f"{'g50%':>6s} {'g90%':>6s}"
    for mod in ("ct", "mri", "us"):
        print(f"\n[{mod}]  PSD band {BANDS[mod][0]}..{BANDS[mod][1]} cycles/mm")
        print(head)
        ref = []
        for name, m, used in REAL:
            if m != mod:
                continue
            img, sp = load_real(name, mod)
            st: TextureStats = texture_summary(img, mod, sp, BANDS[mod])
            note = "" if used else "(not in reference)"
            print(_fmt(name, sp[0], st.as_dict(), note))
            if used:
                ref.append(st.as_dict())
        real = {k: float(np.mean([r[k] for r in ref])) for k in COLS}
        print(_fmt("REAL (mean of reference)", float("nan"), real))
        from mira.synthesis import FOV_MM

        ph, sec = phantom_stats(mod, seeds)
        print(_fmt(f"phantom 128 px (median {seeds})", FOV_MM[mod] / 128, ph, f"{1000 * sec:.0f} ms/case"))
        hi, sec_hi = phantom_stats(mod, max(1, seeds // 2), size_hi)
        print(_fmt(f"phantom {size_hi} px", FOV_MM[mod] / size_hi, hi, f"{1000 * sec_hi:.0f} ms/case"))
        out[mod] = {"real": real, "phantom": ph, "phantom_hi": hi}
    print("\n[xray]  no real radiograph ships with pydicom: not compared")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=6, help="phantoms per modality (median reported)")
    ap.add_argument("--size-hi", type=int, default=384, help="second, finer phantom size (pixels)")
    args = ap.parse_args(argv)
    table(args.seeds, args.size_hi)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

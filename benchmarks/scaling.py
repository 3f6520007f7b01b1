"""Scaling benchmark: wall time of the whole workflow with --cores 1 vs 2 and 1x vs 2x the cases.

Runs the real Snakefile from scratch in a fresh folder per setting, times it, then reads every job's
``benchmark:`` file to tell which rules dominate. Prints a Markdown table. Usage::

    python benchmarks/scaling.py                                  # default config (hours on 2 cores)
    python benchmarks/scaling.py --config tests/config/tiny.yaml  # the tiny config (minutes)
    python benchmarks/scaling.py --cores 1 2 --factors 1 2 --out /tmp/scaling --keep

``--factors`` multiplies every case count of the synthetic study (2D train/val/test and the 3D
volumes); everything else (image sizes, training budgets, study designs) stays as configured.
Run it on an otherwise idle machine: the ratios are only as good as the quiet.
"""
from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def scaled_config(config: dict, factor: int) -> dict:
    """``config`` with every synthetic case count multiplied by ``factor``."""
    cfg = copy.deepcopy(config)
    syn = cfg.setdefault("synthesis", {})
    cases = syn.get("cases", {"train": 32, "val": 8, "test": 8})
    syn["cases"] = {k: int(v) * factor for k, v in cases.items()}
    vol = syn.setdefault("volumes", {})
    vcases = vol.get("cases", {"train": 2, "val": 1, "test": 2})
    vol["cases"] = {k: int(v) * factor for k, v in vcases.items()}
    return cfg


def rule_seconds(results: Path) -> pd.Series:
    """Seconds of wall time per rule, summed over its jobs' benchmark files."""
    rows = []
    for tsv in (results / "benchmarks").rglob("*.tsv"):
        df = pd.read_csv(tsv, sep="\t")
        rows.append((tsv.relative_to(results / "benchmarks").parts[0], float(df["s"].iloc[0])))
    if not rows:
        return pd.Series(dtype=float)
    return pd.DataFrame(rows, columns=["rule", "s"]).groupby("rule")["s"].sum().sort_values(ascending=False)


def run(config_path: Path, work: Path, cores: int) -> float:
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(config_path), "--cores", str(cores), "--quiet", "--nolock"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"scaling: run in {work} failed:\n{proc.stderr[-3000:]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--cores", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--factors", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--out", default=None, help="work folder (default: a temporary folder, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    ap.add_argument("--top", type=int, default=5, help="rules listed as dominant")
    args = ap.parse_args(argv)

    base = yaml.safe_load(Path(args.config).read_text())
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mira-scaling-"))
    rows, per_rule = [], {}
    for factor in args.factors:
        cfg_path = out / f"config_x{factor}.yaml"
        out.mkdir(parents=True, exist_ok=True)
        cfg_path.write_text(yaml.safe_dump(scaled_config(base, factor)))
        for cores in args.cores:
            work = out / f"x{factor}_cores{cores}"
            if work.exists():
                shutil.rmtree(work)
            wall = run(cfg_path, work, cores)
            sec = rule_seconds(work / "results")
            per_rule[(factor, cores)] = sec
            rows.append({"cases": f"{factor}x", "cores": cores, "wall_s": round(wall, 1),
                         "job_s": round(float(sec.sum()), 1), "jobs": sum(1 for _ in (work / "results" / "benchmarks").rglob("*.tsv"))})
            print(f"{factor}x cases, --cores {cores}: {wall:.1f} s wall", file=sys.stderr)
    table = pd.DataFrame(rows)
    print(f"# Scaling of `{Path(args.config).name}`\n")
    print(table.to_markdown(index=False))
    print()
    ref = table.iloc[0]
    for _, r in table.iloc[1:].iterrows():
        print(f"- {r['cases']} cases, --cores {r['cores']} vs {ref['cases']} cases, --cores {ref['cores']}: "
              f"wall x{r['wall_s'] / ref['wall_s']:.2f}")
    if len(args.cores) > 1:
        for factor in args.factors:
            w = table[table.cases == f"{factor}x"].set_index("cores")["wall_s"]
            print(f"- speed-up of --cores {args.cores[-1]} over --cores {args.cores[0]} at {factor}x cases: "
                  f"{w[args.cores[0]] / w[args.cores[-1]]:.2f}")
    key = (args.factors[-1], args.cores[0])
    sec = per_rule[key]
    print(f"\nDominant rules ({args.factors[-1]}x cases, --cores {args.cores[0]}; sum of job wall seconds):\n")
    top = pd.DataFrame({"rule": sec.index[:args.top], "s": sec.values[:args.top].round(1),
                        "share": (100 * sec.values[:args.top] / sec.sum()).round(1)})
    print(top.to_markdown(index=False))
    if not args.keep and not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scaling benchmark: wall time of the whole workflow with --cores 1 vs 2 and 1x vs 2x the cases.

Runs the real Snakefile from scratch in a fresh folder per setting, times it, then reads every job's
``benchmark:`` file to tell which rules dominate. Each finished setting is stored as one small JSON
file (wall time, job seconds per rule, machine load before the start, commit), so the benchmark can
be run one setting at a time - the default config needs 35-65 minutes per setting on 2 cores - and the
report is drawn from whatever settings have been measured. Usage::

    python benchmarks/scaling.py                                  # default config, all four settings
    python benchmarks/scaling.py --config tests/config/tiny.yaml  # the tiny config (minutes)
    python benchmarks/scaling.py --cores 2 --factors 1            # one setting; the others later
    python benchmarks/scaling.py --report-only                    # print the table from stored results

``--factors`` multiplies every case count of the synthetic study (2D train/val/test and the 3D
volumes); everything else (image sizes, training budgets, study designs) stays as configured.
Results go to ``benchmarks/results/scaling/<config name>/x<factor>_cores<cores>.json``; a setting
already stored there is not rerun unless ``--redo``. Run it on an otherwise idle machine: the ratios
are only as good as the quiet (the stored load average says how quiet it was).
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from mira.atomic import atomic_path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "scaling"


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
    """Seconds of wall time per rule, summed over its jobs' benchmark files (largest first)."""
    rows = []
    for tsv in (results / "benchmarks").rglob("*.tsv"):
        df = pd.read_csv(tsv, sep="\t")
        rows.append((tsv.relative_to(results / "benchmarks").parts[0], float(df["s"].iloc[0])))
    if not rows:
        return pd.Series(dtype=float)
    return pd.DataFrame(rows, columns=["rule", "s"]).groupby("rule")["s"].sum().sort_values(ascending=False)


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def measure(config_path: Path, work: Path, cores: int) -> dict:
    """Run the whole workflow in ``work`` with ``--cores cores``; wall time and per-rule job seconds."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(config_path), "--cores", str(cores), "--quiet", "--nolock"]
    load = os.getloadavg()
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"scaling: run in {work} failed:\n{proc.stderr[-3000:]}")
    sec = rule_seconds(work / "results")
    return {"cores": cores, "wall_s": round(wall, 1), "job_s": round(float(sec.sum()), 1), "jobs": int(
        sum(1 for _ in (work / "results" / "benchmarks").rglob("*.tsv"))),
        "rules": {k: round(float(v), 2) for k, v in sec.items()},
        "started_utc": started, "load_before": [round(v, 2) for v in load], "cpus": os.cpu_count(), "commit": _commit()}


def load_results(folder: Path) -> dict[tuple[int, int], dict]:
    """Stored settings of one config: ``{(factor, cores): record}``."""
    out = {}
    for path in sorted(folder.glob("x*_cores*.json")):
        rec = json.loads(path.read_text())
        out[(int(rec["factor"]), int(rec["cores"]))] = rec
    return out


def report(results: dict[tuple[int, int], dict], config_name: str, factors: list[int], cores: list[int],
           top: int) -> str:
    """Markdown: wall time per setting ("not measured" where missing), ratios, dominant rules."""
    lines = [f"# Scaling of `{config_name}`", ""]
    rows = []
    for f in factors:
        for c in cores:
            rec = results.get((f, c))
            rows.append({"cases": f"{f}x", "cores": c,
                         "wall": f"{rec['wall_s'] / 60:.1f} min" if rec else "not measured",
                         "job time": f"{rec['job_s'] / 60:.1f} min" if rec else "",
                         "jobs": rec["jobs"] if rec else "",
                         "load before (1 min)": rec["load_before"][0] if rec else ""})
    lines += [pd.DataFrame(rows).to_markdown(index=False), ""]
    if len(cores) > 1:
        lo, hi = min(cores), max(cores)
        for f in factors:
            if (f, lo) in results and (f, hi) in results:
                lines.append(f"- speed-up of --cores {hi} over --cores {lo} at {f}x cases: "
                             f"{results[(f, lo)]['wall_s'] / results[(f, hi)]['wall_s']:.2f}")
    if len(factors) > 1:
        small, big = min(factors), max(factors)
        for c in cores:
            if (small, c) in results and (big, c) in results:
                lines.append(f"- wall time of {big}x cases over {small}x cases at --cores {c}: "
                             f"{results[(big, c)]['wall_s'] / results[(small, c)]['wall_s']:.2f} "
                             f"(job time {results[(big, c)]['job_s'] / results[(small, c)]['job_s']:.2f})")
    measured = [k for k in ((f, c) for f in factors for c in cores) if k in results]
    if measured:
        lines += ["", "Dominant rules (sum of job wall seconds per rule, from the `benchmark:` files):", ""]
        key = max(measured, key=lambda k: results[k]["job_s"])
        names = list(results[key]["rules"])[:top]
        table = pd.DataFrame({"rule": names})
        for k in measured:
            rules, total = results[k]["rules"], results[k]["job_s"]
            table[f"{k[0]}x, cores {k[1]}"] = [f"{rules.get(n, 0):.0f} s ({100 * rules.get(n, 0) / total:.0f} %)"
                                               for n in names]
        lines.append(table.to_markdown(index=False))
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (cores, case factors, rules listed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--cores", nargs="+", type=_positive_int, default=[1, 2])
    ap.add_argument("--factors", nargs="+", type=_positive_int, default=[1, 2])
    ap.add_argument("--results", default=None, help="where the per-setting JSON files go "
                    "(default: benchmarks/results/scaling/<config name>)")
    ap.add_argument("--work", default=None, help="work folder for the runs (default: a temporary folder, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the runs' work folders")
    ap.add_argument("--redo", action="store_true", help="rerun settings that are already stored")
    ap.add_argument("--report-only", action="store_true", help="run nothing; print the stored results")
    ap.add_argument("--top", type=_positive_int, default=6, help="rules listed as dominant")
    args = ap.parse_args(argv)

    config = Path(args.config)
    if not config.is_file():
        sys.exit(f"scaling: --config {config}: no such file")
    name = config.stem
    store = Path(args.results) if args.results else RESULTS / name
    if not args.report_only:
        base = yaml.safe_load(config.read_text())
        work_root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="mira-scaling-"))
        store.mkdir(parents=True, exist_ok=True)
        for factor in args.factors:
            for cores in args.cores:
                target = store / f"x{factor}_cores{cores}.json"
                if target.exists() and not args.redo:
                    print(f"{factor}x cases, --cores {cores}: stored in {target}, skipped", file=sys.stderr)
                    continue
                cfg_path = work_root / f"config_x{factor}.yaml"
                work_root.mkdir(parents=True, exist_ok=True)
                cfg_path.write_text(yaml.safe_dump(scaled_config(base, factor)))
                work = work_root / f"x{factor}_cores{cores}"
                if work.exists():
                    shutil.rmtree(work)
                rec = {"config": name, "factor": factor, **measure(cfg_path, work, cores)}
                with atomic_path(target) as tmp:  # an interrupted write never looks like a stored setting
                    tmp.write_text(json.dumps(rec, indent=1) + "\n")
                print(f"{factor}x cases, --cores {cores}: {rec['wall_s']:.1f} s wall", file=sys.stderr)
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
        if not args.keep and not args.work:
            shutil.rmtree(work_root, ignore_errors=True)
    print(report(load_results(store), config.name, args.factors, args.cores, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

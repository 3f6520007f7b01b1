"""Compare two results folders: same inputs, seed and config must give byte-identical results.

Everything a run writes is a pure function of the config, the seed and the inputs -- except the
*measurements of the machine*: wall-clock and CPU seconds. Those are excluded from the comparison,
and only those:

* CSV: columns named like a timing (``wall_s``, ``cpu_s``, ``cpu_time_s``, ``elapsed_s``,
  ``wall_s_mean``...), rows of tidy tables whose ``metric`` is one, rows of target tables about
  CPU time;
* JSON: keys named like a timing, at any depth;
* Markdown tables: cells under a timing header (``CPU s/image``, ``wall s``, ``time (ms)``...) and rows
  about CPU time;
* ``logs/`` and ``benchmarks/`` (timings and timestamps by design) and ``report.html``.

Every other file (images, label maps, checkpoints, figures, every other table cell) is compared
byte for byte. Usage::

    python -m mira.reproducibility results/ /elsewhere/results/     # exit 1 and a list if they differ
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
from pathlib import Path

import pandas as pd

#: Names of timing fields (CSV columns, JSON keys, tidy ``metric`` values).
TIMING_NAME = re.compile(r"^(?:wall|cpu|elapsed|data_prep)(?:_time)?_s(?:_(?:mean|sd|n|best|min|max))?$", re.IGNORECASE)
#: Markdown table headers of timing columns.
TIMING_HEADER = re.compile(r"^(?:cpu|wall)(?:_time)?[ _]s\b|\bs/image\b|^(?:wall|cpu) time|^elapsed"
                           r"|^time \((?:ms|s)\)$",
                           re.IGNORECASE)
#: Row text that marks a row as a timing measurement (e.g. the 'bm3d / dncnn CPU time' target).
TIMING_ROW = re.compile(r"\b(?:CPU|wall)[ -]time\b", re.IGNORECASE)
EXCLUDED_DIRS = ("logs", "benchmarks")
EXCLUDED_FILES = ("report.html",)


def _csv_bytes(path: Path) -> bytes:
    df = pd.read_csv(path, keep_default_na=False, dtype=str)
    df = df[[c for c in df.columns if not TIMING_NAME.match(str(c))]]
    if "metric" in df.columns:
        df = df[~df["metric"].str.match(TIMING_NAME)]
    mask = df.apply(lambda col: col.str.contains(TIMING_ROW)).any(axis=1) if len(df) else None
    if mask is not None:
        df = df[~mask]
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


def _drop_timing_keys(obj):
    if isinstance(obj, dict):
        return {k: _drop_timing_keys(v) for k, v in obj.items() if not TIMING_NAME.match(str(k))}
    if isinstance(obj, list):
        return [_drop_timing_keys(v) for v in obj]
    return obj


def _json_bytes(path: Path) -> bytes:
    return json.dumps(_drop_timing_keys(json.loads(path.read_text(encoding="utf-8"))), sort_keys=True).encode()


def _md_bytes(path: Path) -> bytes:
    out, timing_cols = [], set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            timing_cols = set()
            out.append(line)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not timing_cols and not set("".join(cells)) <= set("-: "):
            found = {i for i, c in enumerate(cells) if TIMING_HEADER.search(c) or TIMING_NAME.match(c)}
            if found:
                timing_cols = found
        if TIMING_ROW.search(line):
            continue
        out.append("|".join("~" if i in timing_cols else c for i, c in enumerate(cells)))
    return "\n".join(out).encode()


def canonical_bytes(path: Path) -> bytes:
    """The bytes of ``path`` that must not change between runs (timings removed, see the module doc)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_bytes(path)
    if suffix == ".json":
        return _json_bytes(path)
    if suffix == ".md":
        return _md_bytes(path)
    return path.read_bytes()


def digest_tree(results: Path) -> dict[str, str]:
    """``{relative path: sha256 of its canonical bytes}`` of every result file below ``results``."""
    results = Path(results)
    out = {}
    for p in sorted(results.rglob("*")):
        rel = p.relative_to(results)
        if not p.is_file() or rel.parts[0] in EXCLUDED_DIRS or rel.name in EXCLUDED_FILES:
            continue
        out[str(rel)] = hashlib.sha256(canonical_bytes(p)).hexdigest()
    return out


def compare_trees(a: Path, b: Path) -> list[str]:
    """Differences between two results folders (empty when they are identical up to timings)."""
    da, db = digest_tree(a), digest_tree(b)
    diffs = [f"only in {a}: {k}" for k in sorted(set(da) - set(db))]
    diffs += [f"only in {b}: {k}" for k in sorted(set(db) - set(da))]
    diffs += [f"differs: {k}" for k in sorted(set(da) & set(db)) if da[k] != db[k]]
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="a results folder")
    parser.add_argument("b", type=Path, help="another results folder")
    args = parser.parse_args(argv)
    for folder in (args.a, args.b):
        if not folder.is_dir():
            print(f"mira: error: {folder}: no such folder", file=sys.stderr)
            return 2
    diffs = compare_trees(args.a, args.b)
    for d in diffs:
        print(d)
    n = len(digest_tree(args.a))
    print(f"{n} files compared: {'identical (timings excluded)' if not diffs else f'{len(diffs)} differences'}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())

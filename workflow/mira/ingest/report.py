"""The ingestion report of a source: every file discovery considered, and what became of it.

``results/data/<source>/<modality>/ingest_report.csv`` has one row per file (columns
:data:`REPORT_COLUMNS`): ``ingested`` (with the case id(s) and split it went into), ``excluded``
(not an image for this source: a DICOM class such as RT Dose or Segmentation, secondary capture as
CT, a text file) or ``skipped`` (unreadable, left out because the source says
``on_unreadable: skip``), with the reason; ``note`` carries warnings such as a Modality tag accepted
by ``on_modality_mismatch: warn``. :func:`summary_table` turns the reports of every source into the
table of the HTML report, which lists each skipped file by name.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError

#: Columns of ``ingest_report.csv``.
REPORT_COLUMNS: tuple[str, ...] = ("source", "modality", "file", "outcome", "case_id", "split", "reason", "note")
#: Outcomes a file can have.
OUTCOMES: tuple[str, ...] = ("ingested", "excluded", "skipped")


@dataclass
class IngestReport:
    """Collects one row per file while a source is ingested.

    Parameters
    ----------
    source, modality : str
        Source name and modality, repeated on every row.
    root : Path
        The source's folder (or the folder of its single file); file paths are written relative to
        it when they lie inside it.
    """

    source: str
    modality: str
    root: Path
    rows: list[dict[str, str]] = field(default_factory=list)

    def _rel(self, path: os.PathLike | str) -> str:
        p = Path(path)
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def add(self, path: os.PathLike | str, outcome: str, *, case_ids: Sequence[str] = (), split: str = "",
            reason: str = "", note: str = "") -> None:
        """Record one file."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.rows.append({"source": self.source, "modality": self.modality, "file": self._rel(path),
                          "outcome": outcome, "case_id": ";".join(case_ids), "split": split, "reason": reason,
                          "note": note})

    def frame(self) -> pd.DataFrame:
        """The rows, sorted by file, as a table with :data:`REPORT_COLUMNS`."""
        table = pd.DataFrame(self.rows, columns=list(REPORT_COLUMNS))
        return table.sort_values("file", kind="stable").reset_index(drop=True)

    def write(self, path: os.PathLike | str) -> None:
        """Write ``ingest_report.csv`` atomically."""
        with atomic_path(path) as tmp:
            self.frame().to_csv(tmp, index=False)


def read_reports(paths: Iterable[os.PathLike | str]) -> pd.DataFrame:
    """Concatenate ``ingest_report.csv`` files (missing values as empty strings)."""
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise InputError(f"{p}: no ingest report")
        frames.append(pd.read_csv(p, dtype=str, keep_default_na=False))
    if not frames:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(REPORT_COLUMNS)]


def _reason_counts(rows: pd.DataFrame) -> str:
    counts = Counter(r.split(":")[0] for r in rows["reason"])
    return "; ".join(f"{reason} x{n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summary_table(reports: pd.DataFrame) -> pd.DataFrame:
    """One row per source: files considered, ingested, cases, what was excluded or skipped and why.

    Columns: ``source``, ``modality``, ``files``, ``ingested files``, ``cases``, ``excluded``,
    ``excluded because``, ``skipped``, ``skipped files`` (each named, with its reason),
    ``warnings``.
    """
    out = []
    for (source, modality), rows in reports.groupby(["source", "modality"], sort=True):
        ing = rows[rows["outcome"] == "ingested"]
        exc = rows[rows["outcome"] == "excluded"]
        skp = rows[rows["outcome"] == "skipped"]
        cases = {c for ids in ing["case_id"] for c in ids.split(";") if c}
        out.append({
            "source": source, "modality": modality, "files": len(rows), "ingested files": len(ing),
            "cases": len(cases), "excluded": len(exc), "excluded because": _reason_counts(exc),
            "skipped": len(skp),
            "skipped files": "; ".join(f"{f} ({r})" for f, r in zip(skp["file"], skp["reason"])),
            "warnings": "; ".join(sorted({f"{f}: {n}" for f, n in zip(rows["file"], rows["note"]) if n})),
        })
    return pd.DataFrame(out, columns=["source", "modality", "files", "ingested files", "cases", "excluded",
                                      "excluded because", "skipped", "skipped files", "warnings"])


def write_summary(report_paths: Iterable[os.PathLike | str], csv_path: os.PathLike | str,
                  md_path: os.PathLike | str) -> pd.DataFrame:
    """Write the per-source summary of the ingest reports as CSV and Markdown (for the HTML report)."""
    table = summary_table(read_reports(report_paths))
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    lines = ["# What went in: ingestion of the real-image sources", ""]
    if table.empty:
        lines.append("No real-image sources are configured (`inputs:` is empty): every result comes from phantoms.")
    else:
        lines += [table.to_markdown(index=False), "",
                  "Every file of each source is listed in `results/data/<source>/<modality>/ingest_report.csv` "
                  "(ingested as which case, or excluded/skipped and why)."]
    with atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table

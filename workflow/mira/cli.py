"""Glue between Snakemake ``script:`` jobs and the package: logging, threads, clean errors.

Every script in ``workflow/scripts`` is a few lines::

    from mira.cli import run_script
    def main(smk, log):
        ...call one package function...
    run_script(snakemake, main)

``run_script`` sends log records to the rule's ``log:`` file (and stderr), limits numeric libraries
to the rule's ``threads:``, and turns a :class:`mira.errors.MiraError` into one clear line
(``mira: error: <message naming the file or key>``) and exit status 1, so Snakemake marks the job
failed and deletes its incomplete outputs. An ``OSError`` that escapes the package (a full disk under
pandas' ``to_csv``, an unreadable file) is reported the same way, ``mira: error: <file>: <reason>``;
its traceback goes to the rule's log file only.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from typing import Any, Callable, Sequence

from .errors import MiraError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def set_threads(n: int) -> None:
    """Limit BLAS/OpenMP and torch to ``n`` threads (the rule's ``threads:``)."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)


def setup_logging(log_path: str | None) -> logging.Logger:
    """Configure the root logger to write to ``log_path`` (if given) and stderr."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    for h in handlers:
        h.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(h)
    logging.captureWarnings(True)
    return logging.getLogger("mira")


def _log_file_only(message: str) -> None:
    """Write an ERROR record to the log file handler(s) only (not to stderr)."""
    record = logging.LogRecord("mira", logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def os_error_line(exc: OSError, rule: str = "?", outputs: Sequence[str] = ()) -> str:
    """``<file>: <reason>`` for an ``OSError``.

    An error that names no file (``write()`` on a full disk) names the rule and its outputs instead:
    ``rule evaluate (output results/x.csv): No space left on device``.
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        where = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else str(exc.filename)
    else:
        names = [str(o) for o in outputs]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        where = f"rule {rule}" + (f" (output {shown})" if names else "")
    return f"{where}: {reason}"


def run_script(smk: Any, main: Callable[[Any, logging.Logger], None]) -> None:
    """Run ``main(smk, log)`` for a Snakemake script job with clean error handling.

    A :class:`~mira.errors.MiraError` or an ``OSError`` ends the job with one line
    ``mira: error: ...`` on stderr and exit status 1; any other exception is logged with its
    traceback and re-raised.
    """
    log_path = smk.log[0] if len(smk.log) else None
    log = setup_logging(log_path)
    set_threads(getattr(smk, "threads", 1))
    rule = getattr(smk, "rule", "?")
    t0 = time.perf_counter()
    try:
        main(smk, log)
    except MiraError as exc:
        log.error("%s", exc)
        print(f"mira: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # e.g. a full disk under a library's own writer: one line, traceback in the log
        line = os_error_line(exc, rule, list(getattr(smk, "output", None) or ()))
        _log_file_only(f"rule {rule} failed: {line}\n{traceback.format_exc()}")
        print(f"mira: error: {line}", file=sys.stderr)
        sys.exit(1)
    except Exception:  # unexpected: keep the traceback in the log
        log.error("unexpected failure in rule %s:\n%s", rule, traceback.format_exc())
        raise
    log.info("rule %s finished in %.2f s", rule, time.perf_counter() - t0)

"""Image metrics: fidelity against a reference (PSNR/SSIM/MAE) and reference-free quality
(SNR, CNR, entropy). Degradation grading (MTF, artifact index) and task metrics live beside them.

The names below load their module on first use: the Snakefile imports the degradation registry,
which needs only constants from :mod:`.mtf`, and every cluster job parses the Snakefile (importing
scikit-image's metrics there cost each job about a second).
"""
from __future__ import annotations

import importlib

_HOMES = {"mae": "fidelity", "psnr": "fidelity", "ssim": "fidelity",
          "cnr": "quality", "entropy_bits": "quality", "snr_db": "quality"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Training networks: the one loop, its settings and the device rule.

Modules
-------
``settings``  :class:`TrainSettings` (no torch import: the workflow plan reads it while parsing)
``fit``       :func:`~mira.nn.fit.fit`, :class:`~mira.nn.fit.FitResult`, :func:`~mira.nn.fit.seeded`
``device``    :func:`~mira.nn.device.resolve_device` (``"auto"``: CUDA when
              ``torch.cuda.is_available()``), :func:`~mira.nn.device.model_device`,
              :func:`~mira.nn.device.to_device`

Library code: arrays, networks and settings in, trained networks out; no paths, no config.
Importing this package does not import torch (``from mira.nn.fit import fit`` does).
"""
from __future__ import annotations

from .settings import TrainSettings

__all__ = ["TrainSettings"]

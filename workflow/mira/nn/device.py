"""Where a network runs: the one device rule of mira, and moving batches and models there.

``"auto"`` means CUDA when ``torch.cuda.is_available()`` and the CPU otherwise; that call is the only
GPU test in mira. ``"cuda"`` without a CUDA device is refused with a clear message instead of
failing later inside torch. On the CPU every move is a no-op, so results there do not depend on
this module.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ParameterError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device of a ``device`` setting.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` or None: CUDA when ``torch.cuda.is_available()``, else the CPU; ``"cpu"``;
        ``"cuda"`` or ``"cuda:<index>"``.

    Raises
    ------
    ParameterError
        ``"cuda"`` when torch sees no CUDA device, or an unknown device name.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = str(device)
    kind = name.split(":")[0]
    if kind == "cpu":
        return torch.device(name)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {name!r}: torch sees no CUDA device (torch.cuda.is_available() is False); "
                                 "use device 'auto' or 'cpu'")
        return torch.device(name)
    raise ParameterError(f"unknown device {name!r} (known: auto, cpu, cuda)")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a network's first parameter or buffer (the CPU for a network without any)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor (and numpy array, as a tensor) moved to ``device``.

    Tuples, lists and dicts are walked; other values are returned unchanged. On the CPU a tensor is
    returned as it is.
    """
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj).to(device)
    if isinstance(obj, tuple):
        return tuple(to_device(v, device) for v in obj)
    if isinstance(obj, list):
        return [to_device(v, device) for v in obj]
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


__all__ = ["resolve_device", "model_device", "to_device"]

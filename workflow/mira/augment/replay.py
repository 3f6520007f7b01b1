"""Replay recorded augmentation histories exactly (same parameters, same bytes)."""
from __future__ import annotations

import json
from typing import Any

from ..errors import ParameterError
from .base import TRANSFORMS
from .sample import as_sample
from .spatial.chain import resample_chain


def replay(data: Any, history: list[dict[str, Any]] | str) -> Any:
    """Apply recorded transforms again, exactly: same parameters, same bytes.

    ``data`` is anything a transform accepts (Sample, dict of arrays or tensors, array, tensor) and
    comes back in the same kind; ``history`` is a list of records or its JSON string (the
    ``"history"`` entry of a :class:`mira.torch_data.MiraDataset` item). Consecutive spatial
    records are fused into one resampling, as :class:`~mira.augment.Compose` did when it recorded
    them.
    """
    if isinstance(history, str):
        history = json.loads(history)
    sample, back = as_sample(data)
    i = 0
    while i < len(history):
        rec = history[i]
        cls = TRANSFORMS.get(rec.get("transform", ""))
        if cls is None:
            raise ParameterError(f"history record {i}: unknown transform {rec.get('transform')!r}")
        if cls.spatial:
            chain = []
            while i < len(history) and TRANSFORMS.get(history[i]["transform"]) is not None \
                    and TRANSFORMS[history[i]["transform"]].spatial:
                chain.append((TRANSFORMS[history[i]["transform"]], history[i]["params"]))
                if not history[i].get("fused_with_next", False):
                    i += 1
                    break
                i += 1
            sample = resample_chain(sample, chain) if len(chain) > 1 else chain[0][0].apply(sample, chain[0][1])
            for c, p in chain:
                sample.history.append({"transform": c.__name__, "params": p})
            if len(chain) > 1:
                for rec_out in sample.history[-len(chain):-1]:
                    rec_out["fused_with_next"] = True
        else:
            sample = cls.apply(sample, rec["params"])
            sample.history.append({"transform": cls.__name__, "params": rec["params"]})
            i += 1
    return back(sample)

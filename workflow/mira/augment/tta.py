"""Mapping augmented images and predictions back: :func:`inverse` and test-time augmentation.

:func:`inverse` undoes the spatial records of a history (affine, flip, elastic, ultrasound sector,
chains of them) on an image, a probability map or a label map in the augmented frame, so that it
lies on the original grid again; intensity records are skipped. Runs of records are undone with ONE
resampling (the inverse point maps, ``forward_points``, composed), except for transforms that define
their own ``invert(sample, params)`` class method (flips: exact; X-ray projection geometry), which
are called on their own.

Accuracy: flips are exact; affine maps are exact maps, so ``inverse(forward(x))`` differs from
``x`` only by the two interpolations (and the border, which the forward map moved out of view);
elastic fields are inverted by fixed-point iteration, which reaches < 0.05 px for every fold-free
field (the B-spline fields the profiles allow) and is refused with a
:class:`~mira.errors.ParameterError` for a folding field (the unlimited textbook Simard field).

:func:`tta_predict` is test-time augmentation: predict on ``n`` augmented copies, map every
prediction back with :func:`inverse` and average them, each pixel over the copies that saw it::

    probs = tta_predict(lambda x: model_probabilities(x), sample, Compose([RandomAffine(), RandomFlip()]),
                        rng_for(seed, "tta", case_id), n=8)
"""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ParameterError
from .base import TRANSFORMS
from .sample import Sample, _Layout, _numpy, as_sample
from .spatial.chain import SpatialTransform, resample_chain
from .spatial.grid import Geometry


def _own_invert(cls: type) -> bool:
    """Whether ``cls`` defines its own ``invert`` (called alone instead of fused into a chain)."""
    return getattr(cls, "invert", None) is not None and (
        not issubclass(cls, SpatialTransform) or cls.invert.__func__ is not SpatialTransform.invert.__func__)


def _spatial_records(history: Sequence[dict[str, Any]], fill: float | None,
                     order: int | None) -> list[tuple[type, dict]]:
    out = []
    for i, rec in enumerate(history):
        cls = TRANSFORMS.get(rec.get("transform", ""))
        if cls is None:
            raise ParameterError(f"history record {i}: unknown transform {rec.get('transform')!r}")
        if not getattr(cls, "spatial", False):
            continue
        if not _own_invert(cls) and not issubclass(cls, SpatialTransform):
            raise ParameterError(f"history record {i}: {cls.__name__} has no inverse")
        params = dict(rec["params"])
        if fill is not None:
            params["fill"], params["value_range"] = float(fill), None
        if order is not None:
            params["order"] = int(order)
        out.append((cls, params))
    return out


def invert_sample(sample: Sample, history: Sequence[dict[str, Any]], *, fill: float | None = None,
                  order: int | None = None) -> Sample:
    """:func:`inverse` on a :class:`Sample` (the history is left as it is)."""
    records = _spatial_records(history, fill, order)
    geom = Geometry(sample.shape, sample.spacing)
    i = len(records)
    while i > 0:
        cls, params = records[i - 1]
        if _own_invert(cls):
            sample = cls.invert(sample, params)
            i -= 1
            continue
        j = i - 1
        while j > 0 and not _own_invert(records[j - 1][0]):
            j -= 1
        chain = records[j:i]
        for c, p in chain:
            c.check_invertible(p, geom)
        sample = resample_chain(sample, chain, inverse=True)
        i = j
    return sample


def inverse(data: Any, history: Sequence[dict[str, Any]] | str, *, fill: float | None = None,
            order: int | None = None) -> Any:
    """Map ``data`` from the augmented frame back to the original frame by undoing ``history``.

    Parameters
    ----------
    data : Sample, dict, ndarray or torch.Tensor
        An image, probability map (image channels) and/or label map (``label``) on the augmented
        grid, in any form a transform accepts (:func:`mira.augment.sample.as_sample`). Spatial
        parameters are in mm: give a Sample or a dict with the ``spacing`` of the augmented image
        when it is not 1 mm.
    history : list of dict or JSON string
        The records to undo, in the order they were applied, e.g. ``out.history[len(s.history):]``.
        Non-spatial records (intensity, noise, ...) are skipped.
    fill : float, optional
        Value of pixels whose original position was outside the augmented field of view, and no
        clipping to the modality's value range (for predictions, e.g. ``fill=0``). Default: the
        recorded fill (air for CT) and value range.
    order : int, optional
        Interpolation of the image channels (0, 1 or 3); default the recorded one. Label maps use
        nearest neighbour, and paired left/right labels swap back.

    Returns
    -------
    The same kind as ``data``, on the original grid. When ``data``'s history ends with
    ``history``, those records are removed from it.

    Raises
    ------
    ParameterError
        An unknown transform, or a spatial record with no inverse (a folding elastic field).
    """
    records = json.loads(history) if isinstance(history, str) else list(history)
    sample, back = as_sample(data)
    out = invert_sample(sample, records, fill=fill, order=order)
    if records and out.history[-len(records):] == records:
        out.history = out.history[: -len(records)]
    return back(out)


def _prediction_sample(pred: np.ndarray, like: Sample) -> tuple[Sample, bool]:
    """A prediction ``(*spatial)`` or ``(c, *spatial)`` as a sample on ``like``'s grid (the augmented
    sample's: a projection-geometry record changes the spacing), plus a coverage channel."""
    nd = like.ndim
    if pred.shape[-nd:] != like.shape or pred.ndim not in (nd, nd + 1):
        raise ParameterError(f"prediction of shape {pred.shape} does not match the image {like.shape} "
                             "(expected (*spatial) or (channels, *spatial))")
    channels = list(pred) if pred.ndim == nd + 1 else [pred]
    seqs = {f"c{k}": c for k, c in enumerate(channels[1:], 1)}
    seqs["_coverage"] = np.ones(like.shape, np.float32)
    return Sample(image=channels[0], sequences=seqs, spacing=like.spacing, meta=dict(like.meta)), pred.ndim == nd + 1


def tta_predict(predict_fn: Callable[[Any], Any], data: Any, transform: Callable[[Any, np.random.Generator], Any],
                rng: np.random.Generator, n: int = 8, *, include_original: bool = True) -> Any:
    """Test-time augmentation: the mean of ``n`` augmented predictions mapped back to the original grid.

    Parameters
    ----------
    predict_fn : callable
        ``predict_fn(x) -> prediction`` where ``x`` is ``data`` or an augmented copy of it (same
        kind: Sample, dict, array or tensor) and the prediction is an array or tensor of shape
        ``(*spatial)`` or ``(channels, *spatial)`` (e.g. class probabilities; average probabilities,
        not label indices).
    data : Sample, dict, ndarray or torch.Tensor
        The image to predict on (with its spacing, for transforms in mm).
    transform : callable
        ``transform(data, rng)``, e.g. a :class:`~mira.augment.Compose` of spatial transforms;
        intensity transforms are allowed (they need no undoing).
    rng : numpy.random.Generator
        Draws the ``n`` augmentations.
    n : int
        Number of augmented copies (>= 1).
    include_original : bool
        Also predict on ``data`` itself (weight one, like each copy); it also covers pixels that
        no augmented copy saw.

    Returns
    -------
    Mean prediction on the original grid, the kind and dtype of ``predict_fn``'s output; each pixel
    averages the copies whose field of view held it (bilinear weights at the border), NaN where
    none did (only possible with ``include_original=False``).
    """
    if int(n) < 1:
        raise ParameterError(f"tta_predict needs n >= 1 augmented copies, got {n}")
    base, back = as_sample(data)
    total: np.ndarray | None = None
    weight = np.zeros(base.shape, np.float64)
    layout = None
    calls = ([(data, base, [])] if include_original else []) + [None] * int(n)
    for item in calls:
        if item is None:  # augment the Sample (a bare array or tensor would lose its history)
            aug = transform(base, rng)
            item = (back(aug), aug, aug.history[len(base.history):])
        raw = predict_fn(item[0])
        layout = layout or _Layout.of(raw, False)
        pred_sample, multi = _prediction_sample(_numpy(raw).astype(np.float32), item[1])
        mapped = invert_sample(pred_sample, item[2], fill=0.0, order=1) if item[2] else pred_sample
        chans = mapped.channels()
        cov = chans.pop("_coverage")
        values = np.stack(list(chans.values())) if multi else chans["image"]
        total = values.astype(np.float64) if total is None else total + values
        weight += cov
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight > 1e-6, total / np.maximum(weight, 1e-12), np.nan)
    return layout.restore(mean.astype(np.float32))


__all__ = ["inverse", "invert_sample", "tta_predict"]

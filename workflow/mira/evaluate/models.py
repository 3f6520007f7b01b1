"""A user's model as a classifier or a segmenter: the adapters of the study functions.

The study functions (:func:`mira.evaluate.compare_augmentation_strategies`,
:func:`mira.evaluate.task_change`) accept any of

* a ``torch.nn.Module``: called without gradients, in eval mode, on its own device, on a
  ``(n, 1, H, W)`` float32 tensor (one image per batch entry);
* an object with ``predict_proba(images)`` (scikit-learn style; mira's trained classifier) or
  ``segment(images)`` (mira's loaded U-Net, :func:`mira.evaluate.segmentation.load_unet`);
* a plain callable on numpy arrays (a batch ``(n, H, W)`` for classification, one image ``(H, W)``
  for segmentation), returning numpy arrays or torch tensors.

Images are passed as they are (native units) unless a ``preprocess(image) -> image`` is given.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ParameterError

Preprocess = Callable[[np.ndarray], np.ndarray]


def to_numpy(x: Any) -> np.ndarray:
    """A numpy array of ``x`` (a torch tensor is detached and moved to the CPU)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _is_module(model: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(model, torch.nn.Module)


def _run_module(model: Any, batch: np.ndarray) -> np.ndarray:
    """Outputs of a torch module for a ``(n, H, W)`` batch, as numpy."""
    import torch

    from ..nn.device import model_device

    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)[:, None]).to(model_device(model))
    with torch.no_grad():
        return model(x).float().cpu().numpy()


def predict_scores(model: Any, images: Sequence[np.ndarray], preprocess: Preprocess | None = None) -> np.ndarray:
    """Class scores of 2D images: ``p(class 1)`` per image for a binary model, else ``(n, classes)``.

    A torch module's logits (more than one output) go through a softmax; one output per image is
    taken as a probability when it lies in 0..1 and as a logit (sigmoid) otherwise.
    """
    imgs = [np.asarray(preprocess(np.asarray(i)) if preprocess else i, dtype=np.float32) for i in images]
    if not imgs:
        return np.zeros(0)
    batch = np.stack(imgs)
    if hasattr(model, "predict_proba"):
        out = to_numpy(model.predict_proba(batch)).astype(np.float64)
    elif _is_module(model):
        out = _run_module(model, batch).astype(np.float64).reshape(len(batch), -1)
        if out.shape[1] > 1:
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        elif out.min() < 0 or out.max() > 1:
            out = 1.0 / (1.0 + np.exp(-out))
    elif callable(model):
        out = to_numpy(model(batch)).astype(np.float64)
    else:
        raise ParameterError(f"model: expected a torch module, an object with predict_proba or a callable, "
                             f"got {type(model).__name__}")
    out = out.reshape(len(batch), -1) if out.ndim > 1 else out
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    elif out.ndim == 2 and out.shape[1] == 2:
        out = out[:, 1]
    if len(out) != len(batch):
        raise ParameterError(f"model returned {len(out)} scores for {len(batch)} images")
    return out


def _labels_of(out: np.ndarray, shape: tuple[int, ...], threshold: float) -> np.ndarray:
    """A label map from a model output: labels, a class-probability map or a foreground probability."""
    out = np.squeeze(out)
    if out.shape == shape and (out.dtype == bool or np.issubdtype(out.dtype, np.integer)):
        return out.astype(np.int64)
    if out.ndim == len(shape) + 1 and out.shape[1:] == shape:
        return out.argmax(axis=0).astype(np.int64)
    if out.shape == shape:
        return (out > threshold).astype(np.int64)
    raise ParameterError(f"segmentation model returned shape {out.shape} for an image of shape {shape}")


def segment(model: Any, images: Sequence[np.ndarray], preprocess: Preprocess | None = None,
            threshold: float = 0.5) -> list[np.ndarray]:
    """Label maps of 2D images: the model's labels, the argmax of its class map or its foreground mask.

    ``threshold`` applies to a one-channel output (a foreground probability).
    """
    imgs = [np.asarray(i) for i in images]
    if hasattr(model, "segment"):
        return [np.asarray(p, dtype=np.int64) for p in model.segment(imgs)]
    out = []
    for img in imgs:
        x = preprocess(img) if preprocess else img
        if _is_module(model):
            raw = _run_module(model, np.asarray(x)[None])[0]
        elif callable(model):
            raw = to_numpy(model(x))
        else:
            raise ParameterError(f"model: expected a torch module, an object with segment or a callable, "
                                 f"got {type(model).__name__}")
        out.append(_labels_of(raw, img.shape, threshold))
    return out


__all__ = ["to_numpy", "predict_scores", "segment"]

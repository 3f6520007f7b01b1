"""MRI multi-sequence fusion: a new contrast as a convex combination of co-registered sequences.

An MRI case often holds several sequences of the same anatomy on one grid (the phantoms: T1, T2
and FLAIR; :attr:`mira.augment.Sample.sequences`). :class:`MultiSequenceFusion` replaces the
sample's image by a new, plausible contrast

    ``fused = sum_k w_k * g(x_k; gamma_k)``,  ``w_k >= 0``,  ``sum_k w_k = 1``,

with weights drawn on the simplex (Dirichlet) and, optionally, a per-sequence gamma ``g`` on the
modality window (:func:`mira.augment.intensity.adjust_gamma`, exponent within
``profile.gamma_range``). A convex combination of non-negative magnitudes is non-negative and never
exceeds the brightest source, so the result stays inside the MRI profile's physical range
``[0, inf)`` (it is still clipped to ``profile.value_range``). The label map and the sequences
themselves are unchanged (the anatomy does not move; only its contrast does).

Sequences that are not co-registered (different shape, or different spacing where the caller
knows it: ``fuse_sequences(..., spacings=)``) are refused with a :class:`~mira.errors.ParameterError`;
a :class:`~mira.augment.Sample` holds one grid, so it refuses sequences of another shape when built.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .base import Transform, bounded_range, clip_to, value_range_param
from .intensity import adjust_gamma
from .sample import Sample


def fuse_sequences(images: Mapping[str, np.ndarray], weights: Sequence[float], *,
                   gammas: Sequence[float] | None = None, window: Sequence[float] = (0.0, 1.0),
                   value_range: Sequence[float | None] | None = None,
                   spacings: Mapping[str, Sequence[float]] | None = None) -> np.ndarray:
    """Convex combination of co-registered images (optionally each gamma-corrected first).

    Parameters
    ----------
    images : mapping of str to ndarray
        The sequences to combine (magnitudes in a.u., >= 0), all of one shape, in the order of
        ``weights``.
    weights : sequence of float
        One weight per image; each >= 0 and summing to 1 (tolerance 1e-6).
    gammas : sequence of float, optional
        Per-image gamma exponent (> 0) applied on ``window`` mapped to 0..1 before mixing; default 1.
    window : (float, float)
        Intensity window of the gamma (the modality's ``metric_window``; MRI 0..1).
    value_range : (float or None, float or None), optional
        Range the result is clipped to (``None`` for an open bound).
    spacings : mapping of str to sequence of float, optional
        Pixel spacing of each image in mm, when known; all must agree.

    Returns
    -------
    ndarray of float32
        The fused image, of the images' shape.

    Raises
    ------
    ParameterError
        Fewer than one image, shapes or spacings that differ (not co-registered), weights not on
        the simplex, or a non-positive gamma.
    """
    names = list(images)
    if not names:
        raise ParameterError("fuse_sequences needs at least one image")
    arrays = [np.asarray(images[n], dtype=np.float32) for n in names]
    shapes = {n: a.shape for n, a in zip(names, arrays)}
    if len(set(shapes.values())) != 1:
        raise ParameterError(f"sequences are not co-registered: shapes differ {shapes}")
    if spacings is not None:
        sp = {n: tuple(round(float(v), 6) for v in spacings[n]) for n in names if n in spacings}
        if len(set(sp.values())) > 1:
            raise ParameterError(f"sequences are not co-registered: spacings (mm) differ {sp}")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(names),) or np.any(w < 0) or not np.all(np.isfinite(w)) or abs(w.sum() - 1.0) > 1e-6:
        raise ParameterError(f"weights={list(np.atleast_1d(w))} must be {len(names)} non-negative numbers summing "
                             "to 1 (a point of the simplex)")
    g = np.ones(len(names)) if gammas is None else np.asarray(gammas, dtype=np.float64)
    if g.shape != (len(names),) or np.any(g <= 0) or not np.all(np.isfinite(g)):
        raise ParameterError(f"gammas={list(np.atleast_1d(g))} must be {len(names)} positive numbers")
    acc = np.zeros(arrays[0].shape, dtype=np.float64)
    for a, wk, gk in zip(arrays, w, g):
        if wk == 0.0:
            continue
        src = a if gk == 1.0 else adjust_gamma(a, float(gk), window)
        acc += wk * src.astype(np.float64)
    return clip_to(acc.astype(np.float32), value_range)


class MultiSequenceFusion(Transform):
    """MRI: replace the image by a convex combination of the case's co-registered sequences.

    See the module docstring. The image becomes the new contrast; the sequences and the label map
    are kept as they are.

    Parameters
    ----------
    sequences : sequence of str, optional
        Names of the channels to combine (``"image"`` is the sample's image). Default: every
        sequence of the sample, plus ``"image"`` when the image is not already one of them (the
        phantoms store the primary contrast both as the image and as a sequence).
    concentration : float
        Dirichlet concentration ``alpha`` of the weights (> 0): 1 draws uniformly on the simplex,
        large values favour equal weights, small values favour one dominant sequence.
    gamma_range : (float, float) or None
        Range of the per-sequence gamma; default ``(1, 1)`` (no gamma). ``None`` means the
        profile's ``gamma_range`` (MRI 0.8-1.2), which also bounds any range given.
    p : float
        Probability of applying the transform.
    modality : ModalityProfile or str, optional
        The MRI profile (``Settings.profile("mri")``).

    Drawn parameters: ``channels`` (the names combined, comma-separated), ``weights`` (on the
    simplex, in that order), ``gammas``, ``window`` and ``value_range``. A sample with fewer than two
    distinct channels raises :class:`~mira.errors.ParameterError`.
    """

    family = "sequence_fusion"

    def __init__(self, sequences: Sequence[str] | None = None, concentration: float = 1.0,
                 gamma_range: Sequence[float] | None = (1.0, 1.0), *, p: float = 1.0,
                 modality: str | ModalityProfile | None = None):
        if not np.isfinite(concentration) or concentration <= 0:
            raise ParameterError(f"concentration={concentration} must be > 0")
        if sequences is not None:
            sequences = [str(s) for s in sequences]
            if len(set(sequences)) < 2 or any("," in s for s in sequences):
                raise ParameterError(f"sequences={sequences} must name at least two distinct channels "
                                     "(names without commas)")
        self.sequences, self.concentration, self.gamma_range = sequences, float(concentration), gamma_range
        super().__init__(p=p, modality=modality)

    def resolve(self, profile: ModalityProfile) -> tuple[float, float]:
        return bounded_range(self.gamma_range, profile.gamma_range, "gamma_range", profile, "gamma_range")

    def source_names(self, sample: Sample) -> list[str]:
        """The channels this transform combines for ``sample`` (see ``sequences``)."""
        channels = sample.channels()
        if self.sequences is not None:
            missing = [n for n in self.sequences if n not in channels]
            if missing:
                raise ParameterError(f"MultiSequenceFusion: the sample has no sequence {missing} "
                                     f"(it has {', '.join(channels)})")
            return list(self.sequences)
        names = list(sample.sequences)
        if not any(np.array_equal(sample.image, sample.sequences[n]) for n in names):
            names = ["image", *names]
        if len(names) < 2:
            raise ParameterError("MultiSequenceFusion needs a sample with at least two co-registered sequences "
                                 "(Sample.sequences; load_samples(..., sequences=True))")
        return names

    def sample_params(self, sample, rng, ranges, profile):
        names = self.source_names(sample)
        weights = rng.dirichlet(np.full(len(names), self.concentration))
        lo, hi = ranges
        gammas = np.exp(rng.uniform(np.log(lo), np.log(hi), size=len(names))) if hi > lo else np.full(len(names), lo)
        return {"channels": ",".join(names), "weights": weights, "gammas": gammas,
                "window": list(profile.metric_window), "value_range": value_range_param(profile)}

    @classmethod
    def apply(cls, sample: Sample, params: dict[str, Any]) -> Sample:
        channels = sample.channels()
        names = str(params["channels"]).split(",")
        missing = [n for n in names if n not in channels]
        if missing:
            raise ParameterError(f"MultiSequenceFusion record names sequences {missing} the sample lacks")
        # one Sample holds one grid (shape and spacing), so its sequences are co-registered by construction
        fused = fuse_sequences({n: channels[n] for n in names}, params["weights"], gammas=params.get("gammas"),
                               window=params.get("window", (0.0, 1.0)), value_range=params.get("value_range"))
        return sample.replace(image=fused)


__all__ = ["fuse_sequences", "MultiSequenceFusion"]

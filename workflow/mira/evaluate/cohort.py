"""Lesion / no-lesion patches: the labelled classification data of the strategy study and scorer.

Whole phantom slices make a poor small-data classification task: a 5-40 pixel lesion somewhere in a
128 x 128 slice full of vessels and organs is not learnable from a few dozen examples by a small
CNN (measured on CT: chance accuracy at 64 cases per class, AUC 0.75 only at 192 per class). The
study therefore classifies **regions of interest** (default 16 x 16 pixels, 48 mm on the 128-pixel CT
phantom), as a reader confirming a finding would:

* a **positive** patch is centred on a lesion (the centroid of one lesion component of the label
  map) shifted by a random offset of up to a quarter of the patch, so the lesion is inside the
  patch but not always in its centre;
* a **negative** patch comes from a lesion-free case, centred (same random offset) on a random
  point deep inside the organ that hosted a positive case's lesion (the most frequent label
  around the lesion), so both classes show the same organs and the lesion is the only difference.

Patches are cut with a margin (``context`` x the patch side) so that rotations and translations
of the augmentations never bring the border's fill value into the central field of view that the
classifier sees (:class:`mira.evaluate.classifier.InputEncoder` crops it). Everything is drawn from
explicit generators.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import numpy as np
from scipy import ndimage as ndi

from ..atomic import atomic_path
from ..errors import InputError, ParameterError
from ..modalities import ModalityProfile, as_profile, get_profile
from ..seeding import rng_for

PathLike = Union[str, os.PathLike]

LESION_WORDS = ("lesion", "tumor", "tumour", "nodule", "metast", "infarct", "haemorrh", "hemorrh")


def lesion_values(legend: dict[int, str]) -> list[int]:
    """Label values whose names denote pathology (lesion, tumour, nodule, ...; not benign cysts)."""
    return sorted(int(v) for v, n in legend.items() if int(v) != 0 and any(w in str(n).lower() for w in LESION_WORDS))


def crop(image: np.ndarray, centre: Sequence[int], side: int, fill: float) -> np.ndarray:
    """The ``side x side`` window of a 2D array centred on ``centre`` (padded with ``fill`` outside)."""
    half = side // 2
    out = np.full((side, side), fill, dtype=image.dtype)
    y0, x0 = int(centre[0]) - half, int(centre[1]) - half
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(image.shape[0], y0 + side), min(image.shape[1], x0 + side)
    if ye > ys and xe > xs:
        out[ys - y0:ye - y0, xs - x0:xe - x0] = image[ys:ye, xs:xe]
    return out


def lesion_site(label: np.ndarray, lesions: Sequence[int],
                rng: np.random.Generator) -> tuple[tuple[int, int], int] | None:
    """``(centre, host label)`` of one randomly chosen lesion component, or None if there is none."""
    mask = np.isin(label, lesions)
    comps, n = ndi.label(mask)
    if n == 0:
        return None
    k = int(rng.integers(1, n + 1))
    comp = comps == k
    cy, cx = ndi.center_of_mass(comp)
    ring = ndi.binary_dilation(comp, iterations=2) & ~mask
    vals, counts = np.unique(label[ring], return_counts=True)
    keep = vals != 0
    host = int(vals[keep][np.argmax(counts[keep])]) if keep.any() else 0
    return (int(round(cy)), int(round(cx))), host


def organ_site(label: np.ndarray, host: int, fallback: Sequence[int], rng: np.random.Generator) -> tuple[int, int]:
    """A random point deep inside organ ``host`` (else one of ``fallback``, else anywhere non-background)."""
    for cand in [host, *fallback]:
        mask = label == cand
        if mask.sum() >= 4:
            break
    else:
        mask = label > 0
        if not mask.any():
            mask = np.ones(label.shape, bool)
    depth = ndi.distance_transform_edt(mask)
    deep = depth >= min(4.0, 0.5 * float(depth.max()))
    ys, xs = np.nonzero(deep)
    i = int(rng.integers(len(ys)))
    return int(ys[i]), int(xs[i])


@dataclass
class PatchSpec:
    """Patch geometry: ``side`` pixels seen by the classifier, stored with ``margin`` = round(side x (context - 1))."""

    side: int
    context: float

    def __post_init__(self):
        if self.side < 8 or self.context < 1.0:
            raise ParameterError(f"patch side must be >= 8 and context >= 1, got {self.side}, {self.context}")

    @property
    def stored(self) -> int:
        return int(round(self.side * self.context))


def extract_patches(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], classes: Sequence[int],
                    legend: dict[int, str], profile: ModalityProfile | str, rng: np.random.Generator,
                    spec: PatchSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One patch per case (module docstring). Returns ``(patches, label_patches, kept_classes)``.

    ``profile`` (the resolved modality profile) gives the fill value outside the image
    (``profile.fill_value``: -1000 HU air for CT); a modality name means the built-in profile.

    Positive cases whose label map shows no lesion are skipped. Negative cases take their host organ
    from the positives in turn (cycling), so the organ mix matches.
    """
    prof = as_profile(profile)
    modality = prof.name
    les = lesion_values(legend)
    if not les:
        raise InputError(f"{modality}: the legend {legend} names no lesion label")
    fill = float(prof.fill_value)
    side, offset = spec.stored, spec.side // 4
    pos_sites: list[tuple[int, tuple[int, int], int]] = []
    hosts: list[int] = []
    for i, (lab, c) in enumerate(zip(labels, classes)):
        if int(c) == 1:
            site = lesion_site(lab, les, rng)
            if site is not None:
                pos_sites.append((i, site[0], site[1]))
                hosts.append(site[1])
    if not hosts:
        raise InputError(f"{modality}: no positive case with a lesion in its label map")
    host_set = sorted(set(h for h in hosts if h != 0))
    patches, lab_patches, out_cls = [], [], []
    centres: dict[int, tuple[int, int]] = {i: ctr for i, ctr, _ in pos_sites}
    k = 0
    for i, (img, lab, c) in enumerate(zip(images, labels, classes)):
        if int(c) == 1:
            if i not in centres:
                continue
            cy, cx = centres[i]
        else:
            host = hosts[k % len(hosts)]
            k += 1
            cy, cx = organ_site(lab, host, host_set, rng)
        dy, dx = (int(v) for v in rng.integers(-offset, offset + 1, size=2))
        ctr = (cy + dy, cx + dx)
        patches.append(crop(np.asarray(img, np.float32), ctr, side, fill))
        lab_patches.append(crop(np.asarray(lab, np.uint8), ctr, side, 0))
        out_cls.append(int(c))
    return np.stack(patches), np.stack(lab_patches), np.asarray(out_cls, np.uint8)


@dataclass(frozen=True)
class CohortDesign:
    """Size of the strategy study's cohort (config ``evaluate.strategies``).

    Attributes
    ----------
    pool_per_class : int
        Training-pool patches per class (the training subsets are drawn from it).
    eval_per_class : int
        Held-out evaluation patches per class.
    image_size : int
        Side of the synthesised phantoms, pixels.
    patch : PatchSpec
        Side of the classified region and its stored margin (``patch_size``, ``patch_context``).
    """

    pool_per_class: int
    eval_per_class: int
    image_size: int
    patch: PatchSpec

    def __post_init__(self):
        if self.pool_per_class < 1 or self.eval_per_class < 1:
            raise ParameterError("the strategy cohort needs pool_per_class >= 1 and eval_per_class >= 1")

    @classmethod
    def from_settings(cls, strategies: Any) -> CohortDesign:
        """The design of the ``evaluate.strategies`` settings section."""
        return cls(pool_per_class=int(strategies.pool_per_class), eval_per_class=int(strategies.eval_per_class),
                   image_size=int(strategies.image_size),
                   patch=PatchSpec(int(strategies.patch_size), float(strategies.patch_context)))


def _synthesise_part(modality: str, name: str, want: int, seed: int, image_size: int, synthesize: Callable[..., Any],
                     max_tries: int) -> tuple[list, list, list, tuple, dict]:
    """Phantoms of one cohort part until each class has ``want`` (a few extra positives): images, labels,
    classes, spacing and legend."""
    have = {0: 0, 1: 0}
    imgs, labs, cls = [], [], []
    spacing, legend = None, {}
    i = 0
    # a few extra positives: one without a visible lesion in its label map is dropped
    target = {0: want, 1: want + max(1, want // 8)}
    while have[0] < target[0] or have[1] < target[1]:
        if i >= max_tries * 2 * (want + 1):
            raise InputError(f"{modality}: could not synthesise {want} cases per class for the strategy cohort "
                             f"({have} after {i} draws)")
        need = [c for c in (1, 0) if have[c] < target[c]]
        lesion = bool(need[i % len(need)])
        case = synthesize(modality, rng_for(seed, "strategy", modality, name, i), ndim=2, size=image_size,
                          lesion=lesion)
        i += 1
        c = int(case.class_label)
        if c not in (0, 1) or have[c] >= target[c]:
            continue
        have[c] += 1
        imgs.append(np.asarray(case.image, np.float32))
        labs.append(np.asarray(case.label, np.uint8))
        cls.append(c)
        spacing = tuple(float(s) for s in case.spacing)
        legend = {int(k): str(v) for k, v in case.legend.items()}
    return imgs, labs, cls, spacing, legend


def make_cohort(out_npz: PathLike, profile: ModalityProfile, design: CohortDesign, *, seed: int,
                synthesize: Callable[..., Any] | None = None, max_tries: int = 4) -> dict[str, int]:
    """Synthesise the strategy study's cohort and save its patches as one ``.npz`` (atomically).

    Phantoms: :func:`mira.synthesis.synthesize_case` at ``design.image_size`` pixels, generator
    ``rng_for(seed, "strategy", modality, part, i)`` (part ``train`` for the training pool, ``eval``
    for the evaluation set), until each class has the wanted count. Arrays in the file: ``images``
    (float32 patches, native units), ``labels`` (uint8 label patches), ``classes`` (0/1), ``part``
    (0 = pool, 1 = evaluation), ``spacing`` (mm), ``legend`` (JSON), ``modality``, ``side`` (the
    classifier's field of view, pixels).

    Parameters
    ----------
    out_npz : path
        The cohort file to write.
    profile : ModalityProfile
        The resolved modality profile (``Settings.profile(m)``; its ``fill_value`` pads patches cut
        near the border).
    design : CohortDesign
        Pool and evaluation sizes per class, phantom size and patch geometry.
    seed : int
        The study seed.
    synthesize : callable, optional
        ``synthesize(modality, rng, ndim=2, size=image_size, lesion=bool)`` returning an object with
        ``image``, ``label``, ``spacing``, ``legend``, ``class_label``; default
        :func:`mira.synthesis.synthesize_case`.
    """
    prof = as_profile(profile)
    modality, patch = prof.name, design.patch
    if synthesize is None:
        from ..synthesis import synthesize_case as synthesize
    out = {k: [] for k in ("images", "labels", "classes", "part")}
    spacing, legend = None, {}
    for part, (name, want) in enumerate((("train", design.pool_per_class), ("eval", design.eval_per_class))):
        imgs, labs, cls, spacing, legend = _synthesise_part(modality, name, want, seed, design.image_size, synthesize,
                                                            max_tries)
        p, lp, pc = extract_patches(imgs, labs, cls, legend, prof, rng_for(seed, "strategy-patch", modality, name),
                                    patch)
        for c in (0, 1):  # keep exactly `want` per class
            idx = np.flatnonzero(pc == c)
            if len(idx) < want:
                raise InputError(f"{modality}: only {len(idx)} usable class-{c} patches for the cohort part {name!r}")
            idx = idx[:want]
            out["images"].append(p[idx])
            out["labels"].append(lp[idx])
            out["classes"].append(pc[idx])
            out["part"].append(np.full(len(idx), part, np.uint8))
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    with atomic_path(out_npz) as tmp:
        np.savez_compressed(tmp, **arrays, spacing=np.array(spacing, np.float64), legend=np.array(json.dumps(legend)),
                            modality=np.array(modality), side=np.array(patch.side))
    return {"pool": 2 * design.pool_per_class, "eval": 2 * design.eval_per_class, "stored": patch.stored,
            "side": patch.side}


@dataclass
class Cohort:
    """The loaded cohort: training pool and evaluation patches as :class:`mira.augment.Sample`, and labels.

    ``profile`` is the resolved modality profile the study runs with (augmentation limits, fill value).
    """

    modality: str
    pool: list
    pool_y: np.ndarray
    eval: list
    eval_y: np.ndarray
    spacing: tuple[float, ...]
    side: int
    legend: dict[int, str]
    profile: ModalityProfile | None = None


def load_cohort(path: PathLike, profile: ModalityProfile | str | None = None) -> Cohort:
    """Read a cohort written by :func:`make_cohort`.

    ``profile``: the resolved profile of the expected modality (``Settings.profile(m)``), kept as
    :attr:`Cohort.profile`; a name checks the modality only and keeps the built-in profile.
    """
    from ..augment import Sample

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no strategy cohort (run the evaluate_strategy_cohort rule)")
    try:
        with np.load(p, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
            classes, part = z["classes"].astype(int), z["part"].astype(int)
            spacing = tuple(float(s) for s in z["spacing"])
            legend = {int(k): v for k, v in json.loads(str(z["legend"])).items()}
            mod, side = str(z["modality"]), int(z["side"])
    except (KeyError, ValueError, OSError) as exc:
        raise InputError(f"{p}: not a strategy cohort file ({exc})") from None
    prof = as_profile(profile) if profile is not None else get_profile(mod)
    if prof.name != mod:
        raise InputError(f"{p}: cohort of modality {mod!r}, expected {prof.name!r}")
    samples = [Sample(image=images[i], label=labels[i], spacing=spacing, modality=mod, legend=legend,
                      meta={"case_id": f"{mod}_strategy_{i:04d}", "class_label": int(classes[i])})
               for i in range(len(images))]
    tr, ev = np.flatnonzero(part == 0), np.flatnonzero(part == 1)
    return Cohort(mod, [samples[i] for i in tr], classes[tr], [samples[i] for i in ev], classes[ev], spacing, side,
                  legend, prof)


def samples_to_patches(samples: Sequence[Any], rng: np.random.Generator, spec: PatchSpec,
                       profile: ModalityProfile | None = None) -> list:
    """Cut one patch per labelled sample (policy-search train/val samples) as new samples with ``class_label``.

    ``profile``: the resolved profile of the samples' modality (fill value); default: the built-in one.
    """
    from ..augment import Sample

    if not samples:
        return []
    s0 = samples[0]
    imgs = [s.image if s.ndim == 2 else s.image[s.image.shape[0] // 2] for s in samples]
    labs = [s.label if s.ndim == 2 else s.label[s.label.shape[0] // 2] for s in samples]
    if any(lab is None for lab in labs):
        raise InputError("patch extraction needs label maps")
    cls = [int(s.meta.get("class_label", -1)) for s in samples]
    p, lp, pc = extract_patches(imgs, labs, cls, dict(s0.legend), profile if profile is not None else s0.modality,
                                rng, spec)
    spacing = tuple(s0.spacing[-2:]) if s0.spacing else None
    return [Sample(image=p[i], label=lp[i], spacing=spacing, modality=s0.modality, legend=dict(s0.legend),
                   meta={"class_label": int(pc[i])}) for i in range(len(p))]


__all__ = ["LESION_WORDS", "lesion_values", "crop", "lesion_site", "organ_site", "PatchSpec", "extract_patches",
           "CohortDesign", "make_cohort", "Cohort", "load_cohort", "samples_to_patches"]

"""The classification branch of the task-oriented evaluation: does restoration help lesion classification?

mira's lesion classifier (:mod:`mira.evaluate.classifier`: the strategy study's network, input
encoding and training loop) is trained once on lesion / no-lesion patches of **clean** training
images (:func:`train_lesion_classifier`), then scores patches cut at the **same positions** from
the clean, degraded and restored versions of the test images (:func:`lesion_patch_pairs`); the
paired change in accuracy and ROC AUC with bootstrap intervals is
:func:`mira.evaluate.task_change` with ``task="classification"`` (:func:`classification_change`).

Patch positions come from the clean label maps (:func:`mira.evaluate.cohort.extract_patches`: a
positive patch around a lesion component of a lesion case, a negative one deep inside the organ that
hosts a lesion, in a lesion-free case). The positions depend only on the label maps and the
generator (:func:`patch_sites`), so they are drawn once and every version is cut there.
``per_image`` draws per image give more patches where the test split has few lesion cases; patches
of one image are correlated, so each patch carries its image as ``group`` and the bootstrap resamples whole images.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile
from .classifier import ClassifierSettings, InputEncoder, TrainedClassifier, one_hot, train_classifier
from .cohort import PatchSpec, crop, extract_patches, lesion_values
from .task_change import TaskChange, task_change


@dataclass
class LesionClassifier:
    """A trained lesion classifier with its input encoding: native-unit patches in, ``p(lesion)`` out.

    Attributes
    ----------
    trained : TrainedClassifier
        The network and its learning curve.
    encoder : InputEncoder
        Window (native units, from the training patches) and input size of the network.
    n_train : int
        Training patches (both classes).
    """

    trained: TrainedClassifier
    encoder: InputEncoder
    n_train: int

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``p(lesion)`` in 0..1 for 2D patches in native units (HU for CT), one per patch."""
        return self.trained.predict_proba(self.encoder.batch(list(images)))


def usable(labels: Sequence[np.ndarray], classes: Sequence[int], legend: Mapping[int, str]) -> bool:
    """True when the cases give both classes: a class-1 case whose label map shows a lesion, and a class-0 case."""
    les = lesion_values(dict(legend))
    pos = any(int(c) == 1 and np.isin(lab, les).any() for lab, c in zip(labels, classes)) if les else False
    return pos and any(int(c) == 0 for c in classes)


def patch_sites(labels: Sequence[np.ndarray], classes: Sequence[int], legend: Mapping[int, str],
                profile: ModalityProfile, spec: PatchSpec, rng: np.random.Generator
                ) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """The positions :func:`mira.evaluate.cohort.extract_patches` cuts its patches at (one draw).

    Returns ``(sites, classes)``: per patch ``(case index, row, column)`` of its centre, pixels, and its
    class. The sites are those of ``extract_patches`` itself, run on index images (each pixel holds
    its flat index), so they follow its rules exactly and use ``rng`` as it does.
    """
    index_imgs = [np.arange(1, lab.size + 1, dtype=np.float32).reshape(lab.shape) for lab in labels]
    sentinel = dataclasses.replace(profile, fill_value=-1.0)
    p, _, cls = extract_patches(index_imgs, labels, classes, dict(legend), sentinel, rng, spec)
    les = lesion_values(dict(legend))
    cases = [i for i, (lab, c) in enumerate(zip(labels, classes)) if int(c) != 1 or np.isin(lab, les).any()]
    half, sites = spec.stored // 2, []
    for patch, i in zip(p, cases):
        a, b = (int(v[0]) for v in np.nonzero(patch > 0))  # any pixel inside the image
        y, x = divmod(int(patch[a, b]) - 1, labels[i].shape[1])
        sites.append((i, y - a + half, x - b + half))
    return sites, np.asarray(cls, int)


def lesion_patch_pairs(images: Mapping[str, Sequence[np.ndarray]], labels: Sequence[np.ndarray],
                       classes: Sequence[int], legend: Mapping[int, str], profile: ModalityProfile,
                       spec: PatchSpec, rng: np.random.Generator, *, per_image: int = 1
                       ) -> tuple[dict[str, np.ndarray], np.ndarray, list[int]]:
    """Lesion / no-lesion patches cut at the same positions from every version of the same images.

    Parameters
    ----------
    images : mapping of str to sequence of ndarray
        Versions of the images (e.g. ``clean``, ``degraded``, a method's output), each one 2D image
        per case in native units, on the grid of ``labels`` (trailing rows/columns may be cropped).
    labels : sequence of ndarray
        The reference label maps (positions of the patches, :func:`patch_sites`).
    classes : sequence of int
        Class per case (1: lesion, 0: none).
    legend : mapping of int to str
        Label names (the lesion label is found by name).
    profile : ModalityProfile
        Resolved profile (``fill_value`` outside an image).
    spec : PatchSpec
        Classified side and stored margin, pixels.
    rng : numpy.random.Generator
        Draws the positions.
    per_image : int
        Draws per image, >= 1 (each a random lesion component / organ point and offset).

    Returns
    -------
    (dict of str to ndarray, ndarray, list of int)
        Per version the float32 patches ``(n, stored, stored)``; the class of each patch; the case
        index of each patch.
    """
    if int(per_image) < 1 or not images:
        raise ParameterError(f"per_image must be >= 1 and images non-empty (got {per_image}, {len(images)} versions)")
    draws = [patch_sites(labels, classes, legend, profile, spec, rng) for _ in range(int(per_image))]
    sites = [s for d in draws for s in d[0]]
    fill = float(profile.fill_value)
    out = {name: np.stack([crop(np.asarray(imgs[i], np.float32), (y, x), spec.stored, fill) for i, y, x in sites])
           for name, imgs in images.items()}
    return out, np.concatenate([d[1] for d in draws]), [i for i, _, _ in sites]


def train_lesion_classifier(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], classes: Sequence[int],
                            legend: Mapping[int, str], profile: ModalityProfile, spec: PatchSpec,
                            rng: np.random.Generator, *, settings: ClassifierSettings | None = None,
                            per_image: int = 1, input_size: int | None = None) -> LesionClassifier:
    """Train mira's lesion classifier on patches of clean images.

    ``per_image`` patches per case (:func:`lesion_patch_pairs`); the input window is the 1st..99th
    percentile of the labelled patch pixels (:func:`mira.augment.policy.tissue_window`); the network
    and loop are ``settings`` (:class:`ClassifierSettings`), input side ``input_size`` pixels
    (default ``spec.side``); the torch seed is drawn from ``rng``.
    """
    from ..augment import Sample
    from ..augment.policy import tissue_window

    if int(per_image) < 1:
        raise ParameterError(f"per_image must be >= 1, got {per_image}")
    draws = [extract_patches(images, labels, classes, dict(legend), profile, rng, spec) for _ in range(int(per_image))]
    p, lp, y = (np.concatenate([d[k] for d in draws]) for k in range(3))
    samples = [Sample(image=p[i], label=lp[i], spacing=None, modality=profile.name) for i in range(len(p))]
    encoder = InputEncoder(tissue_window(samples), int(input_size or spec.side), crop=spec.side)
    seed = int(rng.integers(0, 2 ** 31 - 1))
    res = train_classifier(samples, one_hot(y), lambda s: encoder(s.image), seed=seed, settings=settings)
    return LesionClassifier(res, encoder, len(p))


def classification_change(model: object, clean: Sequence[np.ndarray], degraded: Sequence[np.ndarray],
                          restored: Mapping[str, Sequence[np.ndarray]], labels: Sequence[np.ndarray],
                          classes: Sequence[int], case_ids: Sequence[str], legend: Mapping[int, str],
                          profile: ModalityProfile, spec: PatchSpec, rng: np.random.Generator, *,
                          per_image: int = 1, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> TaskChange:
    """Accuracy and AUC of ``model`` on lesion patches of clean, degraded and restored images, and the paired changes.

    Patches of each case are cut at the same positions from every version (:func:`lesion_patch_pairs`);
    each patch is one pair of :func:`mira.evaluate.task_change` (``case_id`` ``<case>_p<k>``, ``group``
    its image: the bootstrap resamples whole images, since patches of one image are not independent),
    scored with ``task="classification"``, ``n_boot`` resamples at confidence ``level`` seeded by ``seed``.
    ``model``: anything :func:`task_change` takes (a :class:`LesionClassifier`, a torch module on
    native-unit patches, a callable).
    """
    versions = {"clean": clean, "degraded": degraded, **{f"restored:{m}": v for m, v in restored.items()}}
    lens = {k: len(v) for k, v in versions.items()}
    if len(set(lens.values()) | {len(labels), len(classes), len(case_ids)}) != 1:
        raise ParameterError(f"one image per case in every version: {lens}, {len(labels)} label maps")
    patches, y, case = lesion_patch_pairs(versions, labels, classes, legend, profile, spec, rng, per_image=per_image)
    n = len(case) // int(per_image)  # patches per draw
    pairs = [{"case_id": f"{case_ids[case[i]]}_p{i // n}", "group": case_ids[case[i]], "clean": patches["clean"][i],
              "degraded": patches["degraded"][i], "restored": {m: patches[f"restored:{m}"][i] for m in restored},
              "target": int(y[i])}
             for i in range(len(y))]
    return task_change(model, pairs, task="classification", n_boot=n_boot, level=level, seed=seed)


__all__ = ["LesionClassifier", "usable", "patch_sites", "lesion_patch_pairs", "train_lesion_classifier",
           "classification_change"]

"""A ``torch.utils.data.Dataset`` over a mira dataset folder, augmented reproducibly.

:class:`MiraDataset` reads a dataset folder (:mod:`mira.dataset`: images, label maps, class
labels, spacing) and returns one dict per case, channel-first as MONAI and TorchIO users expect::

    from torch.utils.data import DataLoader
    from mira.augment import standard_pipeline
    from mira.torch_data import MiraDataset

    ds = MiraDataset("results/data/phantom/ct/train", standard_pipeline(settings.profile("ct")), seed=42)
    loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(derive_seed(42, "loader")))
    for epoch in range(epochs):
        ds.set_epoch(epoch)                 # new augmentations each epoch, same ones on a rerun
        for batch in loader:
            batch["image"], batch["label"]  # (B, 1, H, W) float32, (B, 1, H, W) int64

The generator of case ``i`` in epoch ``e`` is ``mira.seeding.rng_for(seed, key, e, case_id)``: it
depends on nothing else, so an item's bytes are the same whatever ``num_workers``, the worker
that loads it or the order the sampler asks for it. (With ``persistent_workers=True`` the workers
keep the epoch they were started with: call ``set_epoch`` before creating the iterator, or leave
``persistent_workers`` off.) The module is named for what it holds, not ``torch``, which it would
shadow.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Union

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from .augment.catalogue import case_sample
from .augment.sample import Sample
from .dataset import Dataset
from .errors import InputError, ParameterError
from .modalities import ModalityProfile, as_profile
from .seeding import rng_for

PathLike = Union[str, os.PathLike]


class MiraDataset(TorchDataset):
    """A mira dataset folder as a torch Dataset of (optionally augmented) dict samples.

    Parameters
    ----------
    folder : str or Path
        A dataset folder (``manifest.csv``, see :mod:`mira.dataset`).
    transform : callable or "standard", optional
        ``transform(sample, rng) -> sample`` (any mira transform, ``Compose``, ``Policy``);
        ``"standard"`` is :func:`mira.augment.standard_pipeline` of the modality; None: no
        augmentation.
    seed : int
        The global seed; every item's generator derives from it (module docstring).
    modality : str or ModalityProfile, optional
        The resolved profile (``Settings.profile(m)``) for ``"standard"``; it must match the folder's
        modality. Default: the folder's modality with the built-in profile.
    as_dict : bool
        True: dict items (below). False: ``(image, label)`` tuples, or ``(image, class_label)``
        when the folder has no label maps.
    sequences : bool
        Load extra MRI sequences as further image channels (sorted by name, after the image).
    cache : bool
        Keep loaded cases in memory (one copy per worker process).
    key : str
        Name of the random stream (datasets with different keys draw independently).

    Items (dict)
    ------------
    ``image`` float32 ``(C, *spatial)`` in native units (HU for CT); ``label`` int64 ``(1, *spatial)``
    (only when every case has a label map); ``class_label`` int64 scalar (1 lesion, 0 none, -1
    unknown); ``spacing`` float64 ``(ndim,)`` mm; ``case_id`` and ``modality`` str; ``history`` the
    JSON string of the drawn parameters (``mira.augment.replay(sample, item["history"])``). Every
    entry works with ``default_collate``.
    """

    def __init__(self, folder: PathLike, transform: Callable[[Any, np.random.Generator], Any] | str | None = None,
                 *, seed: int, modality: str | ModalityProfile | None = None, as_dict: bool = True,
                 sequences: bool = False, cache: bool = True, key: str = "mira_dataset"):
        self.dataset = Dataset(folder)
        if not len(self.dataset):
            raise InputError(f"{self.dataset.folder}: the manifest lists no cases")
        mods = sorted({r.modality for r in self.dataset.records})
        if len(mods) != 1:
            raise InputError(f"{self.dataset.folder}: cases of several modalities {mods}")
        self.profile = as_profile(modality if modality is not None else mods[0])
        if self.profile.name != mods[0]:
            raise ParameterError(f"modality={self.profile.name!r} but {self.dataset.folder} holds {mods[0]} images")
        if isinstance(transform, str):
            if transform != "standard":
                raise ParameterError(f"transform={transform!r}: give a callable, 'standard' or None")
            from .augment.compose import standard_pipeline

            transform = standard_pipeline(self.profile)
        elif transform is not None and not callable(transform):
            raise ParameterError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform
        self.seed, self.key, self.epoch = int(seed), str(key), 0
        self.as_dict, self.sequences = bool(as_dict), bool(sequences)
        self.has_labels = all(r.label for r in self.dataset.records)
        self._cache: dict[int, Sample] | None = {} if cache else None

    @property
    def legend(self) -> dict[int, str]:
        """Label value -> name of the folder's label maps."""
        return dict(self.dataset.legend)

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentations the items get (as with ``DistributedSampler``)."""
        if int(epoch) < 0:
            raise ParameterError(f"epoch={epoch} must be >= 0")
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return rng_for(self.seed, self.key, self.epoch, self.dataset.records[index].case_id)

    def sample(self, index: int) -> Sample:
        """Case ``index`` as a :class:`mira.augment.Sample`, not augmented."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} cases")
        index %= len(self)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        s = case_sample(self.dataset, self.dataset.records[index], sequences=self.sequences)
        if self._cache is not None:
            self._cache[index] = s
        return s

    def augmented(self, index: int) -> Sample:
        """Case ``index`` augmented with this epoch's generator of the item (a Sample)."""
        s = self.sample(index)
        return self.transform(s, self.rng(index)) if self.transform is not None else s

    def __getitem__(self, index: int) -> dict[str, Any] | tuple[torch.Tensor, torch.Tensor]:
        s = self.augmented(index)
        chans = [s.image] + [s.sequences[k] for k in sorted(s.sequences)]
        image = torch.from_numpy(np.stack(chans).astype(np.float32, copy=True))
        label = None
        if self.has_labels and s.label is not None:
            label = torch.from_numpy(s.label.astype(np.int64)[None])
        class_label = torch.tensor(int(s.meta.get("class_label", -1)), dtype=torch.int64)
        if not self.as_dict:
            return image, (label if label is not None else class_label)
        item: dict[str, Any] = {"image": image}
        if label is not None:
            item["label"] = label
        item.update(class_label=class_label, spacing=torch.tensor(s.spacing, dtype=torch.float64),
                    case_id=str(s.meta.get("case_id", "")), modality=str(s.modality),
                    history=json.dumps(s.history))
        return item

    def __repr__(self) -> str:
        return (f"MiraDataset({str(self.dataset.folder)!r}, {len(self)} {self.profile.name} cases, "
                f"transform={self.transform!r}, seed={self.seed}, epoch={self.epoch})")


__all__ = ["MiraDataset"]

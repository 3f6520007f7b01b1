"""Deterministic random generators derived from the config seed and a job's identity.

Every random operation in mira takes an explicit :class:`numpy.random.Generator` (or a torch seed).
Generators are derived from the global ``config.seed`` and a tuple of keys (wildcards, case id,
purpose), so any job can be rerun alone and gives the same bytes, and different jobs never share a
stream.

Seeding PyTorch ``DataLoader`` workers: pass ``worker_init_fn=mira.seeding.torch_worker_init`` and a
``generator=torch.Generator().manual_seed(derive_seed(seed, ...))``; each worker then derives its numpy
generator from the torch initial seed of that worker, so workers never repeat each other.
"""
from __future__ import annotations

import hashlib
from typing import Union

import numpy as np

Key = Union[str, int]


def _key_words(keys: tuple[Key, ...]) -> list[int]:
    words: list[int] = []
    for key in keys:
        digest = hashlib.sha256(repr(key).encode("utf-8")).digest()
        words.extend(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return words


def derive_seed(seed: int, *keys: Key) -> int:
    """Return a 63-bit integer seed derived from ``seed`` and ``keys`` (stable across runs and OSes)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *_key_words(keys)])
    words = ss.generate_state(2, dtype=np.uint32).astype(np.uint64)
    return int(words @ np.array([1, 1 << 31], dtype=np.uint64)) & ((1 << 63) - 1)


def rng_for(seed: int, *keys: Key) -> np.random.Generator:
    """Return a numpy Generator for ``(seed, *keys)``.

    Parameters
    ----------
    seed : int
        The global seed (``config.seed``).
    *keys : str or int
        What identifies the random stream: e.g. ``("synthesis", "ct", "case007")``.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *_key_words(keys)]))


def torch_worker_init(worker_id: int) -> None:  # pragma: no cover - exercised inside DataLoader workers
    """``worker_init_fn`` for torch DataLoaders: seeds numpy's legacy global state per worker.

    mira's own code never uses the global state, but third-party transforms might.
    """
    import torch

    np.random.seed(torch.initial_seed() % (1 << 32))


class deterministic_torch:
    """Context manager for a training loop: torch's deterministic algorithms on (warn only where an
    op has none) and denormals flushed (tiny late gradients otherwise slow the CPU down); the previous
    settings come back on exit. With a seed from :func:`derive_seed`, CPU training is then
    bit-reproducible for a given thread count. GPU (cuDNN) kernels are not covered.

        with deterministic_torch():
            train(...)
    """

    def __enter__(self):
        import torch

        self.prev = torch.are_deterministic_algorithms_enabled()
        self.prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc):
        import torch

        torch.use_deterministic_algorithms(self.prev, warn_only=self.prev_warn)
        torch.set_flush_denormal(False)
        return False
